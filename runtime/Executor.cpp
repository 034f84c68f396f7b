//===- Executor.cpp - The device-independent half of Executor -------------===//

#include "runtime/Executor.h"

#include "abi/Limits.h"

#include <algorithm>
#include <chrono>

#include "runtime/cpu/CpuExecutor.h"

#include <cstring>

namespace stc::rt {

std::array<uint8_t, 64> packScalars(const Scalars &s) {
  std::array<uint8_t, 64> out{};
  std::memcpy(out.data() + 0, &s.learningRate, 4);
  std::memcpy(out.data() + 4, &s.step, 4);
  std::memcpy(out.data() + 8, &s.dropoutSeed, 4);
  std::memcpy(out.data() + 12, &s.position, 4);
  return out;
}

Scalars unpackScalars(const uint8_t *bytes64) {
  Scalars s;
  std::memcpy(&s.learningRate, bytes64 + 0, 4);
  std::memcpy(&s.step, bytes64 + 4, 4);
  std::memcpy(&s.dropoutSeed, bytes64 + 8, 4);
  std::memcpy(&s.position, bytes64 + 12, 4);
  return s;
}

Executor::~Executor() = default;

Status Executor::allocate(std::shared_ptr<const Artifact> artifact) {
  if (!artifact)
    return Status::error(std::string(name()) + " executor: no artifact");
  if (artifact_)
    return Status::error(std::string(name()) +
                         " executor: already allocated (use a new executor "
                         "for another artifact)");
  artifact_ = std::move(artifact);
  Status s = allocateImpl();
  if (!s.isOk())
    artifact_.reset();
  return s;
}

Expected<const Buffer *> Executor::find(std::string_view bufName) const {
  if (!artifact_)
    return Status::error(std::string(name()) +
                         " executor: allocate() an artifact first");
  int i = artifact_->findBuffer(bufName);
  if (i < 0)
    return Status::error("no buffer named '" + std::string(bufName) +
                         "' in the artifact");
  return &artifact_->buffers[i];
}

Expected<const Buffer *> Executor::lookup(std::string_view bufName,
                                          size_t bytes) const {
  Expected<const Buffer *> found = find(bufName);
  if (!found)
    return found;
  const Buffer &b = **found;
  if (bytes != static_cast<size_t>(b.bytes))
    return Status::error(
        "buffer '" + b.name + "' holds " + std::to_string(b.bytes) +
        " bytes (" + std::to_string(b.elements()) + " x " + dtypeName(b.dtype) +
        "); got " + std::to_string(bytes) + " bytes");
  return &b;
}

Status Executor::upload(std::string_view buffer, const void *data,
                        size_t bytes) {
  auto b = lookup(buffer, bytes);
  if (!b)
    return b.status();
  if (!data)
    return Status::error("upload to '" + std::string(buffer) + "': null data");
  return uploadImpl(**b, data);
}

Status Executor::download(std::string_view buffer, void *data,
                          size_t bytes) const {
  auto b = lookup(buffer, bytes);
  if (!b)
    return b.status();
  if (!data)
    return Status::error("download of '" + std::string(buffer) +
                         "': null destination");
  return downloadImpl(**b, data);
}

Status Executor::uploadFloats(std::string_view buffer,
                              const std::vector<float> &values) {
  Expected<const Buffer *> found = find(buffer);
  if (!found)
    return found.status();
  const Buffer &b = **found;
  if (b.dtype == DType::I32)
    return Status::error("buffer '" + b.name +
                         "' is i32; uploadFloats needs f32, bf16 or f16");
  if (static_cast<int64_t>(values.size()) != b.elements())
    return Status::error("buffer '" + b.name + "' has " +
                         std::to_string(b.elements()) + " elements; got " +
                         std::to_string(values.size()) + " values");
  if (b.dtype == DType::F32)
    return uploadImpl(b, values.data());
  std::vector<uint16_t> bits(values.size());
  for (size_t j = 0; j < values.size(); ++j)
    bits[j] = floatToHalf(values[j], b.dtype);
  return uploadImpl(b, bits.data());
}

Expected<std::vector<float>>
Executor::downloadFloats(std::string_view buffer) const {
  Expected<const Buffer *> found = find(buffer);
  if (!found)
    return found.status();
  const Buffer &b = **found;
  if (b.dtype == DType::I32)
    return Status::error("buffer '" + b.name +
                         "' is i32; downloadFloats needs f32, bf16 or f16");
  std::vector<float> out(b.elements());
  if (b.dtype == DType::F32) {
    STC_RETURN_IF_ERROR(downloadImpl(b, out.data()));
    return out;
  }
  std::vector<uint16_t> bits(out.size());
  STC_RETURN_IF_ERROR(downloadImpl(b, bits.data()));
  for (size_t j = 0; j < out.size(); ++j)
    out[j] = halfToFloat(bits[j], b.dtype);
  return out;
}

Status Executor::uploadInts(std::string_view buffer,
                            const std::vector<int32_t> &values) {
  if (artifact_) {
    int i = artifact_->findBuffer(buffer);
    if (i >= 0 && artifact_->buffers[i].dtype != DType::I32)
      return Status::error("buffer '" + std::string(buffer) + "' is " +
                           dtypeName(artifact_->buffers[i].dtype) +
                           "; uploadInts needs i32");
  }
  return upload(buffer, values.data(), values.size() * sizeof(int32_t));
}

Status Executor::writeScalars(const Scalars &s) {
  auto bytes = packScalars(s);
  return upload("scalars", bytes.data(), bytes.size());
}

Status Executor::run(EntryKind kind) {
  return runOps(kind, 0, static_cast<size_t>(-1));
}

Status Executor::runOps(EntryKind kind, size_t begin, size_t end) {
  if (!artifact_)
    return Status::error(std::string(name()) +
                         " executor: allocate() an artifact first");
  const Entry &e = artifact_->entry(kind);
  if (!e.present) {
    std::string have;
    for (int i = 0; i < kNumEntryKinds; ++i)
      if (artifact_->entries[i].present)
        have += (have.empty() ? "" : ", ") +
                std::string(entryKindName(static_cast<EntryKind>(i)));
    return Status::error(std::string("the artifact has no ") +
                         entryKindName(kind) + " entry (it has: " + have + ")");
  }
  if (end == static_cast<size_t>(-1))
    end = e.ops.size();
  if (begin > end || end > e.ops.size())
    return Status::error(std::string(entryKindName(kind)) + ": op range [" +
                         std::to_string(begin) + ", " + std::to_string(end) +
                         ") is not within its " + std::to_string(e.ops.size()) +
                         " ops");
  return runImpl(kind, e, begin, end);
}

int64_t accumulationBytes(const Artifact &a) {
  int64_t elements = 0;
  for (const Param &p : a.params)
    elements += a.buffers[p.buffer].elements();
  return elements * static_cast<int64_t>(sizeof(float));
}

Status checkGradientBuffers(const Artifact &a) {
  for (const Param &p : a.params)
    if (p.grad < 0)
      return Status::error("parameter '" + p.name +
                           "' has no gradient buffer (the artifact has no "
                           "training step)");
  return Status::ok();
}

Status Executor::accumulateGradients(bool first) {
  if (!artifact_)
    return Status::error(std::string(name()) +
                         " executor: allocate() an artifact first");
  STC_RETURN_IF_ERROR(
      checkGradientBuffers(*artifact_).withContext("accumulating gradients"));
  accumulating_ = true;
  return accumulateGradientsImpl(first).withContext("accumulating gradients");
}

Status Executor::averageGradients(double scale) {
  if (!accumulating_)
    return Status::error("averaging gradients: nothing was accumulated "
                         "(accumulateGradients first)");
  return averageGradientsImpl(scale).withContext("averaging gradients");
}

Status Executor::accumulateGradientsImpl(bool first) {
  return addGradientsOnHost(artifact(), gradientSum_, first,
                            [&](const std::string &name) {
                              return downloadFloats(name);
                            });
}

Status Executor::averageGradientsImpl(double scale) {
  return writeMeanGradientsFromHost(
      artifact(), gradientSum_, scale,
      [&](const std::string &name, const std::vector<float> &v) {
        return uploadFloats(name, v);
      });
}

Expected<std::vector<double>> Executor::timeOps(EntryKind kind, size_t begin,
                                               size_t end, int repeats) {
  if (repeats < 1 || repeats > 100000)
    return Status::error("timeOps: repeats is " + std::to_string(repeats) +
                         "; valid: 1 .. 100000");
  STC_RETURN_IF_ERROR(runOps(kind, begin, end)); // checks the range, warms up
  return timeImpl(kind, artifact_->entry(kind), begin, end, repeats);
}

Expected<std::vector<double>> Executor::timeImpl(EntryKind kind,
                                                 const Entry &entry,
                                                 size_t begin, size_t end,
                                                 int repeats) {
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    STC_RETURN_IF_ERROR(runImpl(kind, entry, begin, end));
    ms.push_back(std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - t0)
                     .count());
  }
  return ms;
}

namespace {

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

} // namespace

Expected<Executor::OpTimes> Executor::profileOps(EntryKind kind,
                                                 int repeats) {
  if (repeats < 1 || repeats > 1000)
    return Status::error("profileOps: repeats is " + std::to_string(repeats) +
                         "; valid: 1 .. 1000");
  if (!artifact_)
    return Status::error("profileOps: no artifact allocated");
  const Entry &entry = artifact_->entry(kind);
  // The inputs as they are now, restored before every run.
  std::vector<std::vector<uint8_t>> inputs;
  for (const auto &[role, b] : entry.inputs) {
    const Buffer &buf = artifact_->buffers[static_cast<size_t>(b)];
    inputs.emplace_back(static_cast<size_t>(buf.bytes));
    STC_RETURN_IF_ERROR(downloadImpl(buf, inputs.back().data()));
  }
  auto restore = [&]() -> Status {
    for (size_t i = 0; i < inputs.size(); ++i)
      STC_RETURN_IF_ERROR(uploadImpl(
          artifact_->buffers[static_cast<size_t>(entry.inputs[i].second)],
          inputs[i].data()));
    return Status::ok();
  };
  STC_RETURN_IF_ERROR(restore());
  STC_RETURN_IF_ERROR(run(kind)); // checks the entry, warms up
  std::vector<std::vector<double>> runs;
  std::vector<double> whole;
  for (int r = 0; r < repeats; ++r) {
    STC_RETURN_IF_ERROR(restore());
    auto ms = profileImpl(kind, entry);
    if (!ms)
      return ms.status();
    runs.push_back(std::move(*ms));
  }
  for (int r = 0; r < repeats; ++r) {
    STC_RETURN_IF_ERROR(restore());
    auto ms = timeImpl(kind, entry, 0, entry.ops.size(), 1);
    if (!ms)
      return ms.status();
    whole.push_back(ms->front());
  }
  OpTimes t;
  t.opMs.resize(entry.ops.size());
  std::vector<double> column(runs.size());
  for (size_t i = 0; i < t.opMs.size(); ++i) {
    for (size_t r = 0; r < runs.size(); ++r)
      column[r] = runs[r][i];
    t.opMs[i] = median(column);
  }
  t.wholeMs = median(whole);
  return t;
}

Expected<std::vector<double>> Executor::profileImpl(EntryKind kind,
                                                    const Entry &entry) {
  std::vector<double> ms;
  ms.reserve(entry.ops.size());
  for (size_t i = 0; i < entry.ops.size(); ++i) {
    auto t0 = std::chrono::steady_clock::now();
    STC_RETURN_IF_ERROR(runImpl(kind, entry, i, i + 1));
    ms.push_back(std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - t0)
                     .count());
  }
  return ms;
}

int64_t plannedDeviceBytes(const Artifact &a) {
  int64_t tables = 0;
  for (const Layout &l : a.layouts)
    tables += abi::layoutTableBytes(
        static_cast<int64_t>(l.blocks.rowPtr.size()) - 1,
        static_cast<int64_t>(l.blocks.colIdx.size()), l.hasColumns);
  return abi::plannedDeviceBytes(a.arenaBytes, tables);
}

std::vector<std::string> availableExecutors() {
  std::vector<std::string> v = {"cpu"};
#ifdef STC_HAVE_CUDA_EXECUTOR
  v.push_back("cuda");
#endif
  return v;
}

Expected<std::unique_ptr<Executor>> createExecutor(std::string_view kind) {
  if (kind == "cpu")
    return std::unique_ptr<Executor>(new CpuExecutor());
#ifdef STC_HAVE_CUDA_EXECUTOR
  if (kind == "cuda")
    return createCudaExecutor();
#endif
  std::string valid;
  for (const auto &k : availableExecutors())
    valid += (valid.empty() ? "" : ", ") + k;
  return Status::error("unknown executor '" + std::string(kind) +
                       "' (available in this build: " + valid + ")");
}

} // namespace stc::rt
