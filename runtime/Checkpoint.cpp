//===- Checkpoint.cpp - Save and restore training state -------------------===//

#include "runtime/Checkpoint.h"

#include "abi/Hash.h"
#include "runtime/Init.h"
#include "runtime/support/Files.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

namespace stc::rt {

namespace {

constexpr char kMagic[8] = {'S', 'T', 'C', 'C', 'K', 'P', 'T', '\0'};

/// Little-endian writers/readers: the file is the same on every host.
void putU32(std::string &s, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    s += static_cast<char>((v >> (8 * i)) & 0xff);
}
void putU64(std::string &s, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    s += static_cast<char>((v >> (8 * i)) & 0xff);
}

class Reader {
public:
  Reader(const std::string &data, size_t end) : d_(data), end_(end) {}
  bool u32(uint32_t &v) {
    if (pos_ + 4 > end_)
      return false;
    v = 0;
    for (int i = 0; i < 4; ++i)
      v |= static_cast<uint32_t>(static_cast<unsigned char>(d_[pos_ + i]))
           << (8 * i);
    pos_ += 4;
    return true;
  }
  bool u64(uint64_t &v) {
    if (pos_ + 8 > end_)
      return false;
    v = 0;
    for (int i = 0; i < 8; ++i)
      v |= static_cast<uint64_t>(static_cast<unsigned char>(d_[pos_ + i]))
           << (8 * i);
    pos_ += 8;
    return true;
  }
  bool bytes(size_t n, size_t &at) {
    if (n > end_ - pos_)
      return false;
    at = pos_;
    pos_ += n;
    return true;
  }
  size_t pos() const { return pos_; }

private:
  const std::string &d_;
  size_t end_;
  size_t pos_ = 0;
};

/// "context 64 in the checkpoint, 128 in this artifact; ..." over the keys
/// of two model identities ("key=value" lines) that differ.
std::string describeDifference(const std::string &saved,
                               const std::string &mine) {
  auto split = [](const std::string &s) {
    std::map<std::string, std::string> kv;
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find('\n', start);
      if (end == std::string::npos)
        end = s.size();
      std::string item = s.substr(start, end - start);
      size_t eq = item.find('=');
      if (eq != std::string::npos)
        kv[item.substr(0, eq)] = item.substr(eq + 1);
      start = end + 1;
    }
    return kv;
  };
  auto a = split(saved), b = split(mine);
  std::string out;
  for (const auto &[key, value] : b) {
    auto it = a.find(key);
    std::string theirs = it == a.end() ? "(none)" : it->second;
    if (theirs != value)
      out += (out.empty() ? "" : "; ") + key + " " + theirs +
             " in the checkpoint, " + value + " in this artifact";
  }
  return out.empty() ? "its model description differs" : out;
}

std::string formatRun(const RunRecord &r) {
  char lr[40], minLr[40];
  std::snprintf(lr, sizeof(lr), "%.17g", r.learningRate);
  std::snprintf(minLr, sizeof(minLr), "%.17g", r.minLearningRate);
  return "steps=" + std::to_string(r.steps) +
         "\nwarmup=" + std::to_string(r.warmupSteps) + "\nlr=" + lr +
         "\nmin_lr=" + minLr + "\nseed=" + std::to_string(r.seed) +
         "\naccumulate=" + std::to_string(r.accumulate);
}

/// The record formatRun wrote; nullopt if any field is missing or bad.
std::optional<RunRecord> parseRun(const std::string &text) {
  std::map<std::string, std::string> kv;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    std::string item = text.substr(start, end - start);
    size_t eq = item.find('=');
    if (eq == std::string::npos)
      return std::nullopt;
    kv[item.substr(0, eq)] = item.substr(eq + 1);
    start = end + 1;
  }
  auto integer = [&](const char *key, long long lo, long long &out) {
    auto it = kv.find(key);
    if (it == kv.end() || it->second.empty())
      return false;
    char *end = nullptr;
    errno = 0;
    out = std::strtoll(it->second.c_str(), &end, 10);
    return *end == '\0' && errno == 0 && out >= lo;
  };
  auto number = [&](const char *key, double &out) {
    auto it = kv.find(key);
    if (it == kv.end() || it->second.empty())
      return false;
    char *end = nullptr;
    out = std::strtod(it->second.c_str(), &end);
    return *end == '\0' && std::isfinite(out) && out >= 0;
  };
  RunRecord r;
  long long steps, warmup;
  auto seedIt = kv.find("seed");
  if (!integer("steps", 1, steps) || !integer("warmup", 0, warmup) ||
      !number("lr", r.learningRate) || !number("min_lr", r.minLearningRate) ||
      seedIt == kv.end() || seedIt->second.empty())
    return std::nullopt;
  char *end = nullptr;
  errno = 0;
  unsigned long long s = std::strtoull(seedIt->second.c_str(), &end, 10);
  if (*end != '\0' || errno != 0 || seedIt->second[0] == '-')
    return std::nullopt;
  r.steps = steps;
  r.warmupSteps = warmup;
  r.seed = s;
  long long accumulate = 1;
  if (kv.count("accumulate") && !integer("accumulate", 1, accumulate))
    return std::nullopt;
  r.accumulate = accumulate;
  return r;
}

std::string nonFiniteMessage(const Buffer &b, int64_t index) {
  return "buffer '" + b.name + "' holds a NaN or infinity (element " +
         std::to_string(index) +
         "); the run diverged (try a lower learning rate)";
}

/// The loss-scale state (scale, finite steps in a row, skipped steps, last
/// step skipped) a checkpoint of `step` steps may hold. Anything else would
/// train silently wrong: a scale of 0 makes every gradient 0 and every
/// update a skip, more skipped steps than steps leave AdamW no step count.
Status checkLossScaleState(const float (&s)[4], uint64_t step) {
  auto count = [](float x) { return x >= 0.f && x == std::floor(x); };
  if (s[0] > 0.f && count(s[1]) && count(s[2]) &&
      static_cast<double>(s[2]) <= static_cast<double>(step) &&
      (s[3] == 0.f || s[3] == 1.f))
    return Status::ok();
  char text[160];
  std::snprintf(text, sizeof text, "[%g, %g, %g, %g]", s[0], s[1], s[2], s[3]);
  return Status::error(
      std::string("its loss-scale state ") + text + " at step " +
      std::to_string(step) +
      " is invalid; valid: a scale > 0, whole numbers >= 0 for the finite "
      "steps in a row and the skipped steps (at most the step), and 0 or 1 "
      "for whether the last step was skipped");
}

/// What a checkpoint holds: every parameter's value, AdamW moments and
/// master weights (bf16 and f16 parameters), in parameter order, then the
/// loss scale's state (f16 models). Not the scalars block (the host writes
/// it before every run) nor the sampling caches (sample() refills them from
/// position 0).
std::vector<int> stateBuffers(const Artifact &a) {
  std::vector<int> out;
  for (const Param &p : a.params)
    for (int b : {p.buffer, p.adamM, p.adamV, p.master})
      if (b >= 0)
        out.push_back(b);
  if (a.lossScale >= 0)
    out.push_back(a.lossScale);
  return out;
}

} // namespace

Status saveCheckpoint(const Executor &exec, const std::string &path,
                      int64_t step, const std::optional<RunRecord> &run) {
  if (!exec.allocated())
    return Status::error("saving checkpoint: allocate() an artifact first");
  const Artifact &a = exec.artifact();
  std::string out(kMagic, sizeof(kMagic));
  putU32(out, kCheckpointVersion);
  const std::vector<int> state = stateBuffers(a);
  putU32(out, static_cast<uint32_t>(state.size()));
  putU64(out, static_cast<uint64_t>(step));
  putU64(out, a.paramFingerprint());
  const std::string identity = a.modelIdentity();
  putU32(out, static_cast<uint32_t>(identity.size()));
  out += identity;
  const std::string runText = run ? formatRun(*run) : "";
  putU32(out, static_cast<uint32_t>(runText.size()));
  out += runText;
  for (int index : state) {
    const Buffer &b = a.buffers[index];
    putU32(out, static_cast<uint32_t>(b.name.size()));
    out += b.name;
    putU32(out, static_cast<uint32_t>(b.dtype));
    putU64(out, static_cast<uint64_t>(b.bytes));
    size_t at = out.size();
    out.resize(at + static_cast<size_t>(b.bytes));
    STC_RETURN_IF_ERROR(exec.download(b.name, &out[at], b.bytes)
                            .withContext("saving checkpoint '" + path + "'"));
    if (int64_t bad = abi::firstNonFinite(&out[at], b.bytes, b.dtype); bad >= 0)
      return Status::error("saving checkpoint '" + path +
                           "': refused: " + nonFiniteMessage(b, bad));
  }
  putU64(out, abi::fnv1a64(out));

  return writeFileAtomic(path, out).withContext("saving checkpoint");
}

Expected<int64_t> loadCheckpoint(Executor &exec, const std::string &path,
                                 std::optional<RunRecord> *run) {
  if (!exec.allocated())
    return Status::error("checkpoint '" + path + "': allocate() an artifact first");
  Expected<std::string> read = readFile(path, "checkpoint");
  if (!read)
    return read.status();
  return restoreCheckpoint(exec, *read, "checkpoint '" + path + "'", run);
}

Expected<int64_t> restoreCheckpoint(Executor &exec, const std::string &data,
                                    const std::string &ctx,
                                    std::optional<RunRecord> *run) {
  if (!exec.allocated())
    return Status::error(ctx + ": allocate() an artifact first");
  const Artifact &a = exec.artifact();

  const size_t header = sizeof(kMagic) + 4 + 4 + 8 + 8;
  if (data.size() < header + 8 ||
      std::memcmp(data.data(), kMagic, sizeof(kMagic)) != 0)
    return Status::error(ctx +
                         ": not an stc checkpoint (bad magic or too "
                         "short: " +
                         std::to_string(data.size()) + " bytes)");
  // Integrity first: a flipped bit anywhere is reported as damage, not as
  // whatever field it happened to hit.
  size_t body = data.size() - 8;
  Reader tail(data, data.size());
  size_t skip;
  (void)tail.bytes(body, skip);
  uint64_t stored;
  (void)tail.u64(stored);
  uint64_t actual = abi::fnv1a64(data.data(), body);
  if (stored != actual)
    return Status::error(ctx + ": damaged (checksum " + abi::hex64(actual) +
                         " does not match the stored " + abi::hex64(stored) +
                         "); the file was truncated or modified");

  Reader r(data, body);
  size_t at;
  (void)r.bytes(sizeof(kMagic), at);
  uint32_t version, count;
  uint64_t step, fingerprint;
  (void)r.u32(version);
  (void)r.u32(count);
  (void)r.u64(step);
  (void)r.u64(fingerprint);
  if (version != 2 && version != kCheckpointVersion)
    return Status::error(ctx + ": format version " + std::to_string(version) +
                         "; this runtime reads versions 2 and " +
                         std::to_string(kCheckpointVersion));
  uint32_t identityLen;
  size_t identityAt;
  if (!r.u32(identityLen) || !r.bytes(identityLen, identityAt))
    return Status::error(ctx + ": the model description is truncated");
  const std::string identity = data.substr(identityAt, identityLen);
  if (identity != a.modelIdentity())
    return Status::error(ctx + ": written for another model: " +
                         describeDifference(identity, a.modelIdentity()));
  std::optional<RunRecord> record;
  if (version >= 3) {
    uint32_t runLen;
    size_t runAt;
    if (!r.u32(runLen) || !r.bytes(runLen, runAt))
      return Status::error(ctx + ": the run record is truncated");
    if (runLen > 0) {
      record = parseRun(data.substr(runAt, runLen));
      if (!record)
        return Status::error(ctx + ": the run record is malformed");
    }
  }
  if (fingerprint != a.paramFingerprint())
    return Status::error(
        ctx + ": written for a different model (parameter table fingerprint " +
        abi::hex64(fingerprint) + ", this artifact's is " +
        abi::hex64(a.paramFingerprint()) +
        "); parameter names, dtypes or shapes differ");

  struct Record {
    int buffer;
    size_t at;
  };
  std::vector<Record> records;
  std::map<int, bool> seen;
  std::map<int, bool> wanted;
  for (int index : stateBuffers(a))
    wanted[index] = true;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t len, dtype;
    uint64_t bytes;
    size_t nameAt, dataAt;
    if (!r.u32(len) || !r.bytes(len, nameAt) || !r.u32(dtype) || !r.u64(bytes))
      return Status::error(ctx + ": record " + std::to_string(i) +
                           " is truncated");
    std::string name = data.substr(nameAt, len);
    int bi = a.findBuffer(name);
    // Version 2 also held the scalars block and the sampling caches:
    // skipped whatever their size (caches hold one sequence there, the
    // sample batch here), as long as they are persistent or session
    // buffers of this artifact.
    bool skip = version == 2 && bi >= 0 &&
                (a.buffers[bi].persistent || a.buffers[bi].session) &&
                !wanted.count(bi);
    if (bi < 0 || (!wanted.count(bi) && !skip))
      return Status::error(ctx + ": holds buffer '" + name +
                           "', which is not a parameter or optimizer state "
                           "of this artifact");
    if (skip) {
      if (!r.bytes(static_cast<size_t>(bytes), dataAt))
        return Status::error(ctx + ": buffer '" + name + "' is truncated");
      continue;
    }
    const Buffer &b = a.buffers[bi];
    if (dtype != static_cast<uint32_t>(b.dtype) ||
        bytes != static_cast<uint64_t>(b.bytes))
      return Status::error(ctx + ": buffer '" + name + "' has " +
                           std::to_string(bytes) + " bytes of dtype code " +
                           std::to_string(dtype) + "; the artifact's has " +
                           std::to_string(b.bytes) + " bytes of " +
                           dtypeName(b.dtype));
    if (!r.bytes(static_cast<size_t>(bytes), dataAt))
      return Status::error(ctx + ": buffer '" + name + "' is truncated");
    if (seen[bi])
      return Status::error(ctx + ": buffer '" + name + "' appears twice");
    if (int64_t bad = abi::firstNonFinite(data.data() + dataAt, b.bytes, b.dtype);
        bad >= 0)
      return Status::error(ctx + ": " + nonFiniteMessage(b, bad));
    seen[bi] = true;
    records.push_back({bi, dataAt});
  }
  if (r.pos() != body)
    return Status::error(ctx + ": " + std::to_string(body - r.pos()) +
                         " unexpected bytes after the last buffer");
  // A checkpoint written before parameters had master weights lacks them:
  // they start from the values it holds.
  std::vector<const Param *> mastersFromValues;
  for (const Param &p : a.params)
    if (p.master >= 0 && !seen[p.master]) {
      mastersFromValues.push_back(&p);
      seen[p.master] = true;
    }
  for (const auto &[index, unused] : wanted)
    if (!seen[index])
      return Status::error(ctx + ": lacks buffer '" + a.buffers[index].name +
                           "'");

  for (const Record &rec : records)
    if (rec.buffer == a.lossScale) {
      float state[4];
      std::memcpy(state, data.data() + rec.at, sizeof state);
      STC_RETURN_IF_ERROR(checkLossScaleState(state, step).withContext(ctx));
    }
  for (const Record &rec : records) {
    const Buffer &b = a.buffers[rec.buffer];
    STC_RETURN_IF_ERROR(
        exec.upload(b.name, data.data() + rec.at, b.bytes).withContext(ctx));
  }
  for (const Param *p : mastersFromValues)
    STC_RETURN_IF_ERROR(copyToMaster(exec, *p).withContext(ctx));
  if (run)
    *run = record;
  return static_cast<int64_t>(step);
}

} // namespace stc::rt
