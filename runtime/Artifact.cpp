//===- Artifact.cpp - Load and validate an stc artifact -------------------===//
//
// Every check here corresponds to a sentence of docs/artifact-format.md. The
// first failure is reported; its message names where in the manifest (entry,
// op index and kind, key), the bad value and what would be valid.
//
//===----------------------------------------------------------------------===//

#include "runtime/Artifact.h"

#include "runtime/support/Hash.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace stc::rt {

//===----------------------------------------------------------------------===//
// Names
//===----------------------------------------------------------------------===//

namespace {
const char *const kEntryNames[kNumEntryKinds] = {"train_step", "eval_step",
                                                 "sample_step"};
} // namespace

const char *entryKindName(EntryKind k) {
  return kEntryNames[static_cast<int>(k)];
}

std::optional<EntryKind> parseEntryKind(std::string_view s) {
  for (int i = 0; i < kNumEntryKinds; ++i)
    if (s == kEntryNames[i])
      return static_cast<EntryKind>(i);
  return std::nullopt;
}

int Entry::input(std::string_view role) const {
  for (const auto &r : inputs)
    if (r.first == role)
      return r.second;
  return -1;
}

int Entry::output(std::string_view role) const {
  for (const auto &r : outputs)
    if (r.first == role)
      return r.second;
  return -1;
}

int Artifact::findBuffer(std::string_view name) const {
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].name == name)
      return static_cast<int>(i);
  return -1;
}

uint64_t Artifact::paramFingerprint() const {
  std::string text;
  for (const Param &p : params) {
    const Buffer &b = buffers[p.buffer];
    text += p.name;
    text += ':';
    text += dtypeName(b.dtype);
    text += ':';
    for (size_t i = 0; i < b.shape.size(); ++i)
      text += (i ? "x" : "") + std::to_string(b.shape[i]);
    text += ';';
  }
  return fnv1a64(text);
}

void blockLayoutColumns(const pattern::BlockLayout &l,
                        std::vector<int64_t> &colPtr,
                        std::vector<int64_t> &rowIdx,
                        std::vector<pattern::BlockClass> &colClasses) {
  const int64_t cols = l.numBlockRows; // square tiling: as many columns
  colPtr.assign(static_cast<size_t>(cols + 1), 0);
  for (int64_t c : l.colIdx)
    ++colPtr[c + 1];
  for (int64_t c = 0; c < cols; ++c)
    colPtr[c + 1] += colPtr[c];
  rowIdx.assign(l.colIdx.size(), 0);
  colClasses.assign(l.colIdx.size(), pattern::BlockClass::Empty);
  std::vector<int64_t> fill(colPtr.begin(), colPtr.end() - 1);
  // Rows are visited in ascending order, so each column's rows ascend.
  for (int64_t r = 0; r < l.numBlockRows; ++r)
    for (int64_t i = l.rowPtr[r]; i < l.rowPtr[r + 1]; ++i) {
      int64_t at = fill[l.colIdx[i]]++;
      rowIdx[at] = r;
      colClasses[at] = l.classes[i];
    }
}

//===----------------------------------------------------------------------===//
// Op signatures
//===----------------------------------------------------------------------===//

namespace {
/// Product that saturates at INT64_MAX, so absurd attrs never wrap around
/// into a plausible element count.
int64_t prod(std::initializer_list<int64_t> xs) {
  int64_t r = 1;
  for (int64_t x : xs) {
    if (x < 0)
      return INT64_MAX;
    if (__builtin_mul_overflow(r, x, &r))
      return INT64_MAX;
  }
  return r;
}
} // namespace

std::vector<ArgSpec> argSpecs(OpKind kind, const OpAttrs &a) {
  using R = ArgRole;
  using Ty = ArgType;
  auto spec = [](std::string name, Ty t, int64_t n, std::string f, R r) {
    return ArgSpec{std::move(name), t, n, std::move(f), r};
  };
  R accOut = a.accumulate ? R::InOut : R::Out;
  std::vector<ArgSpec> s;
  switch (kind) {
  case OpKind::Zero:
    s = {spec("out", Ty::Any, a.count, "count", R::Out)};
    break;
  case OpKind::EmbedFwd:
    s = {spec("tokens", Ty::I32, a.rows, "rows", R::In),
         spec("table", Ty::Float, prod({a.V, a.D}), "V*D", R::In)};
    for (size_t p = 0; p < a.pos.size(); ++p)
      s.push_back(spec("pos_" + std::to_string(p), Ty::Float,
                       prod({a.pos[p].second, a.D}),
                       "pos[" + std::to_string(p) + "].mod*D", R::In));
    s.push_back(spec("out", Ty::Float, prod({a.rows, a.D}), "rows*D", R::Out));
    break;
  case OpKind::EmbedBwd:
    s = {spec("tokens", Ty::I32, a.rows, "rows", R::In),
         spec("dout", Ty::Float, prod({a.rows, a.D}), "rows*D", R::In),
         spec("dtable", Ty::Float, prod({a.V, a.D}), "V*D", R::InOut)};
    for (size_t p = 0; p < a.pos.size(); ++p)
      s.push_back(spec("dpos_" + std::to_string(p), Ty::Float,
                       prod({a.pos[p].second, a.D}),
                       "pos[" + std::to_string(p) + "].mod*D", R::InOut));
    break;
  case OpKind::LayerNormFwd:
    s = {spec("x", Ty::Float, prod({a.M, a.C}), "M*C", R::In),
         spec("gamma", Ty::Float, a.C, "C", R::In),
         spec("beta", Ty::Float, a.C, "C", R::In),
         spec("y", Ty::Float, prod({a.M, a.C}), "M*C", R::Out),
         spec("mean", Ty::F32, a.M, "M", R::Out),
         spec("rstd", Ty::F32, a.M, "M", R::Out)};
    break;
  case OpKind::LayerNormBwd:
    s = {spec("dy", Ty::Float, prod({a.M, a.C}), "M*C", R::In),
         spec("x", Ty::Float, prod({a.M, a.C}), "M*C", R::In),
         spec("mean", Ty::F32, a.M, "M", R::In),
         spec("rstd", Ty::F32, a.M, "M", R::In),
         spec("gamma", Ty::Float, a.C, "C", R::In),
         spec("dx", Ty::Float, prod({a.M, a.C}), "M*C", accOut),
         spec("dgamma", Ty::Float, a.C, "C", R::InOut),
         spec("dbeta", Ty::Float, a.C, "C", R::InOut)};
    break;
  case OpKind::Gemm:
    s = {spec("A", Ty::Float, prod({a.M, a.K}), "M*K", R::In),
         spec("B", Ty::Float, prod({a.K, a.N}), "K*N", R::In),
         spec("C", Ty::Float, prod({a.M, a.N}), "M*N",
              a.beta != 0 ? R::InOut : R::Out)};
    if (a.bias)
      s.push_back(spec("bias", Ty::Float, a.N, "N", R::In));
    break;
  case OpKind::BiasGrad:
    s = {spec("dy", Ty::Float, prod({a.M, a.N}), "M*N", R::In),
         spec("db", Ty::Float, a.N, "N", R::InOut)};
    break;
  case OpKind::GeluFwd:
    s = {spec("x", Ty::Float, a.count, "count", R::In),
         spec("y", Ty::Float, a.count, "count", R::Out)};
    break;
  case OpKind::GeluBwd:
    s = {spec("x", Ty::Float, a.count, "count", R::In),
         spec("dy", Ty::Float, a.count, "count", R::In),
         spec("dx", Ty::Float, a.count, "count", accOut)};
    break;
  case OpKind::Add:
    s = {spec("a", Ty::Float, a.count, "count", R::In),
         spec("b", Ty::Float, a.count, "count", R::In),
         spec("out", Ty::Float, a.count, "count", R::Out)};
    break;
  case OpKind::Accumulate:
    s = {spec("dst", Ty::Float, a.count, "count", R::InOut),
         spec("src", Ty::Float, a.count, "count", R::In)};
    break;
  case OpKind::DropoutFwd:
    s = {spec("x", Ty::Float, a.count, "count", R::In),
         spec("y", Ty::Float, a.count, "count", R::Out)};
    break;
  case OpKind::DropoutBwd:
    s = {spec("dy", Ty::Float, a.count, "count", R::In),
         spec("dx", Ty::Float, a.count, "count", R::Out)};
    break;
  case OpKind::AttentionFwd: {
    int64_t qk = prod({a.B, a.T, a.H, a.dk}), vo = prod({a.B, a.T, a.H, a.dv});
    s = {spec("q", Ty::Float, qk, "B*T*H*dk", R::In),
         spec("k", Ty::Float, qk, "B*T*H*dk", R::In),
         spec("v", Ty::Float, vo, "B*T*H*dv", R::In),
         spec("o", Ty::Float, vo, "B*T*H*dv", R::Out),
         spec("lse", Ty::F32, prod({a.B, a.H, a.T}), "B*H*T", R::Out)};
    break;
  }
  case OpKind::AttentionBwd: {
    int64_t qk = prod({a.B, a.T, a.H, a.dk}), vo = prod({a.B, a.T, a.H, a.dv});
    s = {spec("q", Ty::Float, qk, "B*T*H*dk", R::In),
         spec("k", Ty::Float, qk, "B*T*H*dk", R::In),
         spec("v", Ty::Float, vo, "B*T*H*dv", R::In),
         spec("o", Ty::Float, vo, "B*T*H*dv", R::In),
         spec("lse", Ty::F32, prod({a.B, a.H, a.T}), "B*H*T", R::In),
         spec("do", Ty::Float, vo, "B*T*H*dv", R::In),
         spec("dq", Ty::Float, qk, "B*T*H*dk", R::Out),
         spec("dk", Ty::Float, qk, "B*T*H*dk", R::Out),
         spec("dv", Ty::Float, vo, "B*T*H*dv", R::Out)};
    break;
  }
  case OpKind::XentFwd:
    s = {spec("logits", Ty::Float, prod({a.M, a.V}), "M*V", R::In),
         spec("targets", Ty::I32, a.M, "M", R::In),
         spec("losses", Ty::F32, a.M, "M", R::Out)};
    break;
  case OpKind::XentFwdBwd:
    s = {spec("logits", Ty::Float, prod({a.M, a.V}), "M*V", R::In),
         spec("targets", Ty::I32, a.M, "M", R::In),
         spec("losses", Ty::F32, a.M, "M", R::Out),
         spec("dlogits", Ty::Float, prod({a.M, a.V}), "M*V", R::Out)};
    break;
  case OpKind::Sumsq:
    s = {spec("x", Ty::Float, a.count, "count", R::In),
         spec("out", Ty::F32, 1, "1", accOut)};
    break;
  case OpKind::AdamW:
    s = {spec("param", Ty::Float, a.count, "count", R::InOut),
         spec("grad", Ty::Float, a.count, "count", R::In),
         spec("m", Ty::F32, a.count, "count", R::InOut),
         spec("v", Ty::F32, a.count, "count", R::InOut),
         spec("gnorm_sq", Ty::F32, 1, "1", R::In)};
    break;
  case OpKind::KvStore:
    s = {spec("src", Ty::Float, a.D, "D", R::In),
         spec("cache", Ty::Float, prod({a.T, a.D}), "T*D", R::InOut)};
    break;
  case OpKind::AttentionDecode:
    s = {spec("q", Ty::Float, prod({a.H, a.dk}), "H*dk", R::In),
         spec("kcache", Ty::Float, prod({a.T, a.H, a.dk}), "T*H*dk", R::In),
         spec("vcache", Ty::Float, prod({a.T, a.H, a.dv}), "T*H*dv", R::In),
         spec("o", Ty::Float, prod({a.H, a.dv}), "H*dv", R::Out)};
    break;
  }
  return s;
}

bool allowsInPlace(OpKind kind) {
  switch (kind) {
  case OpKind::GeluFwd:
  case OpKind::GeluBwd:
  case OpKind::Add:
  case OpKind::Accumulate:
  case OpKind::DropoutFwd:
  case OpKind::DropoutBwd:
    return true;
  default:
    return false;
  }
}

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

Expected<std::string> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Status::error("cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    return Status::error("error reading '" + path + "'");
  return ss.str();
}

Expected<uint64_t> hashFile(const std::string &path, int64_t *size) {
  auto data = readFile(path);
  if (!data)
    return data.status();
  if (size)
    *size = static_cast<int64_t>(data->size());
  return fnv1a64(*data);
}

//===----------------------------------------------------------------------===//
// The validator
//===----------------------------------------------------------------------===//

namespace {

constexpr int64_t kMaxArenaBytes = int64_t(1) << 48;
constexpr int64_t kMaxDim = int64_t(1) << 40;
constexpr int64_t kMaxLayoutN = int64_t(1) << 20;
constexpr int64_t kMaxLayoutBlocks = int64_t(1) << 25;
constexpr int64_t kMaxPredicateLayoutN = int64_t(1) << 16;

bool hasPredicate(const pattern::Pattern &p) {
  if (p.kind() == pattern::Pattern::Kind::Predicate)
    return true;
  for (const auto &c : p.children())
    if (hasPredicate(c))
      return true;
  return false;
}

/// " (manifest.json:L:C)" for values that came from a parsed file.
std::string loc(const json::Value &v) {
  if (v.line() <= 0)
    return "";
  return " (manifest.json:" + std::to_string(v.line()) + ":" +
         std::to_string(v.column()) + ")";
}

/// A value as it appeared, shortened for messages.
std::string show(const json::Value &v) {
  std::string s = json::write(v);
  if (s.size() > 60)
    s = s.substr(0, 57) + "...";
  return s;
}

std::string quoted(const std::string &s) { return "'" + s + "'"; }

Status fail(const std::string &where, const std::string &what,
            const json::Value *v = nullptr) {
  return Status::error(where + ": " + what + (v ? loc(*v) : ""));
}

/// Rejects keys outside `allowed` (typos must not silently change meaning).
Status checkKeys(const json::Value &obj, const std::string &where,
                 std::initializer_list<const char *> allowed) {
  if (!obj.isObject())
    return fail(where,
                std::string("must be an object, got ") +
                    json::kindName(obj.kind()),
                &obj);
  for (const auto &kv : obj.asObject()) {
    bool ok = false;
    for (const char *a : allowed)
      if (kv.first == a)
        ok = true;
    if (!ok) {
      std::string list;
      for (const char *a : allowed)
        list += (list.empty() ? "" : ", ") + std::string(a);
      return fail(where,
                  "unknown key " + quoted(kv.first) + " (valid: " + list + ")",
                  &kv.second);
    }
  }
  return Status::ok();
}

const json::Value *member(const json::Value &obj, const char *key) {
  return obj.find(key);
}

Status getMember(const json::Value &obj, const char *key,
                 const std::string &where, const json::Value *&out) {
  out = obj.find(key);
  if (!out)
    return fail(where, std::string("missing required key '") + key + "'", &obj);
  return Status::ok();
}

Status getInt(const json::Value &obj, const char *key, const std::string &where,
              int64_t &out, int64_t min, int64_t max) {
  const json::Value *v;
  STC_RETURN_IF_ERROR(getMember(obj, key, where, v));
  std::string w = where + "." + key;
  if (!v->isInt())
    return fail(w, "must be an integer, got " + show(*v), v);
  out = v->asInt();
  if (out < min || out > max)
    return fail(w,
                "is " + std::to_string(out) + "; valid: " +
                    std::to_string(min) + " .. " + std::to_string(max),
                v);
  return Status::ok();
}

Status getString(const json::Value &obj, const char *key,
                 const std::string &where, std::string &out,
                 bool nonEmpty = true) {
  const json::Value *v;
  STC_RETURN_IF_ERROR(getMember(obj, key, where, v));
  std::string w = where + "." + key;
  if (!v->isString())
    return fail(w, "must be a string, got " + show(*v), v);
  out = v->asString();
  if (nonEmpty && out.empty())
    return fail(w, "must not be empty", v);
  return Status::ok();
}

Status getBool(const json::Value &obj, const char *key,
               const std::string &where, bool &out) {
  const json::Value *v;
  STC_RETURN_IF_ERROR(getMember(obj, key, where, v));
  if (!v->isBool())
    return fail(where + "." + key, "must be true or false, got " + show(*v), v);
  out = v->asBool();
  return Status::ok();
}

Status getIntArray(const json::Value &obj, const char *key,
                   const std::string &where, std::vector<int64_t> &out,
                   int64_t min, int64_t max) {
  const json::Value *v;
  STC_RETURN_IF_ERROR(getMember(obj, key, where, v));
  std::string w = where + "." + key;
  if (!v->isArray())
    return fail(w, "must be an array of integers, got " + show(*v), v);
  out.clear();
  for (size_t i = 0; i < v->size(); ++i) {
    const json::Value &e = v->asArray()[i];
    std::string we = w + "[" + std::to_string(i) + "]";
    if (!e.isInt())
      return fail(we, "must be an integer, got " + show(e), &e);
    if (e.asInt() < min || e.asInt() > max)
      return fail(we,
                  "is " + std::to_string(e.asInt()) + "; valid: " +
                      std::to_string(min) + " .. " + std::to_string(max),
                  &e);
    out.push_back(e.asInt());
  }
  return Status::ok();
}

/// Reads one op's attrs, remembering the first error and which keys it used.
class AttrReader {
public:
  AttrReader(const json::Value &attrs, std::string where)
      : attrs_(attrs), where_(std::move(where)) {}

  void integer(const char *key, int64_t &out, int64_t min = 1,
               int64_t max = kMaxDim) {
    if (const json::Value *v = take(key)) {
      if (!v->isInt())
        setError(key, "must be an integer, got " + show(*v), v);
      else if (v->asInt() < min || v->asInt() > max)
        setError(key,
                 "is " + std::to_string(v->asInt()) + "; valid: " +
                     std::to_string(min) + " .. " + std::to_string(max),
                 v);
      else
        out = v->asInt();
    }
  }

  /// A finite number with a range test; `range` describes it for messages.
  template <typename Pred>
  void number(const char *key, double &out, Pred ok, const char *range) {
    if (const json::Value *v = take(key)) {
      if (!v->isNumber())
        setError(key, "must be a number, got " + show(*v), v);
      else if (!std::isfinite(v->asNumber()) || !ok(v->asNumber()))
        setError(key, "is " + show(*v) + "; valid: " + range, v);
      else
        out = v->asNumber();
    }
  }

  void flag(const char *key, bool &out, bool optional = false) {
    if (optional && !attrs_.find(key)) {
      used_.insert(key);
      return;
    }
    if (const json::Value *v = take(key)) {
      if (!v->isBool())
        setError(key, "must be true or false, got " + show(*v), v);
      else
        out = v->asBool();
    }
  }

  /// embed's pos: [[div, mod], ...], both >= 1.
  void posList(const char *key, std::vector<std::pair<int64_t, int64_t>> &out) {
    const json::Value *v = take(key);
    if (!v)
      return;
    if (!v->isArray()) {
      setError(key, "must be a list of [div, mod] pairs, got " + show(*v), v);
      return;
    }
    for (size_t i = 0; i < v->size(); ++i) {
      const json::Value &e = v->asArray()[i];
      if (!e.isArray() || e.size() != 2 || !e.asArray()[0].isInt() ||
          !e.asArray()[1].isInt() || e.asArray()[0].asInt() < 1 ||
          e.asArray()[1].asInt() < 1 || e.asArray()[0].asInt() > kMaxDim ||
          e.asArray()[1].asInt() > kMaxDim) {
        setError(key,
                 "element " + std::to_string(i) + " is " + show(e) +
                     "; valid: [div, mod] with integers div >= 1, mod >= 1",
                 &e);
        return;
      }
      out.emplace_back(e.asArray()[0].asInt(), e.asArray()[1].asInt());
    }
  }

  void stringList(const char *key, std::vector<std::string> &out) {
    const json::Value *v = take(key);
    if (!v)
      return;
    if (!v->isArray() || v->size() == 0) {
      setError(key, "must be a non-empty list of layout names, got " + show(*v),
               v);
      return;
    }
    for (const auto &e : v->asArray()) {
      if (!e.isString()) {
        setError(key,
                 "must be a list of layout names (strings), got " + show(*v),
                 v);
        return;
      }
      out.push_back(e.asString());
    }
  }

  /// After all reads: unknown keys are errors.
  Status finish() {
    if (!status_.isOk())
      return status_;
    for (const auto &kv : attrs_.asObject())
      if (!used_.count(kv.first)) {
        std::string list;
        for (const auto &u : used_)
          list += (list.empty() ? "" : ", ") + u;
        return fail(where_,
                    "unknown attribute " + quoted(kv.first) +
                        " (valid: " + list + ")",
                    &kv.second);
      }
    return Status::ok();
  }

  void setError(const std::string &key, const std::string &msg,
                const json::Value *v) {
    if (status_.isOk())
      status_ = fail(where_ + "." + key, msg, v);
  }

private:
  const json::Value *take(const char *key) {
    used_.insert(key);
    const json::Value *v = attrs_.find(key);
    if (!v)
      setError(key, "missing required attribute", &attrs_);
    return v;
  }

  const json::Value &attrs_;
  std::string where_;
  std::set<std::string> used_;
  Status status_;
};

class Validator {
public:
  Validator(const json::Value &root, const std::string &dir,
            const LoadOptions &options, Artifact &a)
      : root_(root), dir_(dir), options_(options), a_(a) {}

  Status run() {
    a_.dir = dir_;
    STC_RETURN_IF_ERROR(checkTop());
    STC_RETURN_IF_ERROR(checkModel());
    STC_RETURN_IF_ERROR(checkBuffers());
    STC_RETURN_IF_ERROR(checkParams());
    STC_RETURN_IF_ERROR(checkLayouts());
    STC_RETURN_IF_ERROR(checkKernels());
    STC_RETURN_IF_ERROR(checkEntries());
    return Status::ok();
  }

private:
  const json::Value &root_;
  std::string dir_;
  LoadOptions options_;
  Artifact &a_;
  std::map<std::string, int> bufferIndex_, layoutIndex_, kernelIndex_;

  std::string bufferWhere(size_t i) const {
    return "buffers[" + std::to_string(i) + "] " + quoted(a_.buffers[i].name);
  }

  //--- top level -----------------------------------------------------------

  Status checkTop() {
    if (!root_.isObject())
      return fail("manifest", std::string("must be a JSON object, got ") +
                                  json::kindName(root_.kind()));
    std::string format;
    STC_RETURN_IF_ERROR(getString(root_, "format", "manifest", format));
    if (format != "stc-artifact")
      return fail("format",
                  "is " + quoted(format) + "; expected 'stc-artifact'",
                  member(root_, "format"));
    const json::Value *ver;
    STC_RETURN_IF_ERROR(getMember(root_, "version", "manifest", ver));
    if (!ver->isInt() || ver->asInt() != kArtifactVersion)
      return fail("version",
                  "unsupported version " + show(*ver) +
                      "; this runtime reads version " +
                      std::to_string(kArtifactVersion),
                  ver);
    if (member(root_, "producer")) {
      STC_RETURN_IF_ERROR(
          getString(root_, "producer", "manifest", a_.producer, false));
    }
    STC_RETURN_IF_ERROR(getInt(root_, "arena_bytes", "manifest", a_.arenaBytes,
                               1, kMaxArenaBytes));
    // Unknown top-level keys are allowed: producers may add metadata.
    return Status::ok();
  }

  Status checkModel() {
    const json::Value *m;
    STC_RETURN_IF_ERROR(getMember(root_, "model", "manifest", m));
    if (!m->isObject())
      return fail("model", "must be an object, got " + show(*m), m);
    ModelInfo &mi = a_.model;
    STC_RETURN_IF_ERROR(getString(*m, "name", "model", mi.name, false));
    STC_RETURN_IF_ERROR(getInt(*m, "vocab", "model", mi.vocab, 1, kMaxDim));
    STC_RETURN_IF_ERROR(getInt(*m, "context", "model", mi.context, 1, kMaxDim));
    STC_RETURN_IF_ERROR(getInt(*m, "width", "model", mi.width, 1, kMaxDim));
    STC_RETURN_IF_ERROR(getInt(*m, "heads", "model", mi.heads, 0, kMaxDim));
    STC_RETURN_IF_ERROR(getInt(*m, "layers", "model", mi.layers, 0, kMaxDim));
    STC_RETURN_IF_ERROR(getInt(*m, "batch", "model", mi.batch, 1, kMaxDim));
    STC_RETURN_IF_ERROR(
        getInt(*m, "param_count", "model", mi.paramCount, 0, kMaxArenaBytes));
    std::string dt;
    STC_RETURN_IF_ERROR(getString(*m, "dtype", "model", dt));
    auto d = parseDType(dt);
    if (!d || *d == DType::I32)
      return fail("model.dtype", "is " + quoted(dt) + "; valid: f32, bf16",
                  member(*m, "dtype"));
    mi.dtype = *d;
    return Status::ok();
  }

  //--- buffers -------------------------------------------------------------

  Status checkBuffers() {
    const json::Value *bs;
    STC_RETURN_IF_ERROR(getMember(root_, "buffers", "manifest", bs));
    if (!bs->isArray() || bs->size() == 0)
      return fail("buffers", "must be a non-empty array, got " + show(*bs), bs);
    for (size_t i = 0; i < bs->size(); ++i) {
      const json::Value &b = bs->asArray()[i];
      std::string where = "buffers[" + std::to_string(i) + "]";
      STC_RETURN_IF_ERROR(checkKeys(
          b, where,
          {"name", "dtype", "shape", "offset", "bytes", "persistent"}));
      Buffer buf;
      STC_RETURN_IF_ERROR(getString(b, "name", where, buf.name));
      where += " " + quoted(buf.name);
      if (bufferIndex_.count(buf.name))
        return fail(where, "duplicate buffer name " + quoted(buf.name),
                    member(b, "name"));
      std::string dt;
      STC_RETURN_IF_ERROR(getString(b, "dtype", where, dt));
      auto d = parseDType(dt);
      if (!d)
        return fail(where + ".dtype",
                    "is " + quoted(dt) + "; valid: f32, bf16, i32",
                    member(b, "dtype"));
      buf.dtype = *d;
      STC_RETURN_IF_ERROR(
          getIntArray(b, "shape", where, buf.shape, 1, kMaxArenaBytes));
      STC_RETURN_IF_ERROR(
          getInt(b, "offset", where, buf.offset, 0, kMaxArenaBytes));
      STC_RETURN_IF_ERROR(
          getInt(b, "bytes", where, buf.bytes, 1, kMaxArenaBytes));
      STC_RETURN_IF_ERROR(getBool(b, "persistent", where, buf.persistent));
      int64_t elems = 1;
      for (int64_t s : buf.shape)
        elems = prod({elems, s});
      int64_t want = prod({elems, dtypeSize(buf.dtype)});
      if (buf.bytes != want)
        return fail(where + ".bytes",
                    "is " + std::to_string(buf.bytes) +
                        "; product(shape) x size(" + dt +
                        ") = " + std::to_string(want),
                    member(b, "bytes"));
      if (buf.offset % kBufferAlignment != 0)
        return fail(where + ".offset",
                    "is " + std::to_string(buf.offset) +
                        "; must be a multiple of " +
                        std::to_string(kBufferAlignment),
                    member(b, "offset"));
      if (buf.offset + buf.bytes > a_.arenaBytes)
        return fail(where,
                    "lies outside the arena: offset " +
                        std::to_string(buf.offset) + " + bytes " +
                        std::to_string(buf.bytes) + " = " +
                        std::to_string(buf.offset + buf.bytes) +
                        " > arena_bytes " + std::to_string(a_.arenaBytes),
                    &b);
      bufferIndex_[buf.name] = static_cast<int>(a_.buffers.size());
      a_.buffers.push_back(std::move(buf));
    }

    // Persistent buffers survive across steps, so nothing may share them.
    std::vector<int> order(a_.buffers.size());
    for (size_t i = 0; i < order.size(); ++i)
      order[i] = static_cast<int>(i);
    std::sort(order.begin(), order.end(), [&](int x, int y) {
      return a_.buffers[x].offset < a_.buffers[y].offset;
    });
    for (size_t i = 0; i < order.size(); ++i) {
      const Buffer &x = a_.buffers[order[i]];
      for (size_t j = i + 1; j < order.size(); ++j) {
        const Buffer &y = a_.buffers[order[j]];
        if (y.offset >= x.offset + x.bytes)
          break;
        if (x.persistent || y.persistent) {
          const Buffer &p = x.persistent ? x : y;
          const Buffer &o = x.persistent ? y : x;
          return fail("buffers", "persistent buffer " + quoted(p.name) + " [" +
                                     std::to_string(p.offset) + ", " +
                                     std::to_string(p.offset + p.bytes) +
                                     ") overlaps buffer " + quoted(o.name) +
                                     " [" + std::to_string(o.offset) + ", " +
                                     std::to_string(o.offset + o.bytes) +
                                     "); persistent buffers never share bytes");
        }
      }
    }

    auto it = bufferIndex_.find("scalars");
    if (it == bufferIndex_.end())
      return fail("buffers", "no buffer named 'scalars' (required: persistent, "
                             "16 slots of 4 bytes, dtype f32 or i32)");
    a_.scalars = it->second;
    const Buffer &s = a_.buffers[a_.scalars];
    if (!s.persistent || s.bytes != kScalarSlots * 4 || s.dtype == DType::BF16)
      return fail(
          bufferWhere(a_.scalars),
          "must be persistent with 16 elements of dtype f32 or i32 (64 "
          "bytes); got " +
              std::string(s.persistent ? "persistent" : "not persistent") +
              ", " + dtypeName(s.dtype) + ", " + std::to_string(s.bytes) +
              " bytes");
    return Status::ok();
  }

  //--- params --------------------------------------------------------------

  Status bufferRef(const json::Value &obj, const char *key,
                   const std::string &where, int &out) {
    std::string name;
    STC_RETURN_IF_ERROR(getString(obj, key, where, name));
    auto it = bufferIndex_.find(name);
    if (it == bufferIndex_.end())
      return fail(where + "." + key, "names unknown buffer " + quoted(name),
                  member(obj, key));
    out = it->second;
    return Status::ok();
  }

  Status checkParams() {
    const json::Value *ps;
    STC_RETURN_IF_ERROR(getMember(root_, "params", "manifest", ps));
    if (!ps->isArray())
      return fail("params", "must be an array, got " + show(*ps), ps);
    std::set<std::string> names;
    std::map<int, std::string> owner; // buffer -> "params[i].key"
    int64_t total = 0;
    for (size_t i = 0; i < ps->size(); ++i) {
      const json::Value &pj = ps->asArray()[i];
      std::string where = "params[" + std::to_string(i) + "]";
      STC_RETURN_IF_ERROR(checkKeys(
          pj, where,
          {"name", "buffer", "grad", "adam_m", "adam_v", "init", "decay"}));
      Param p;
      STC_RETURN_IF_ERROR(getString(pj, "name", where, p.name));
      where += " " + quoted(p.name);
      if (!names.insert(p.name).second)
        return fail(where, "duplicate parameter name", member(pj, "name"));
      STC_RETURN_IF_ERROR(bufferRef(pj, "buffer", where, p.buffer));
      STC_RETURN_IF_ERROR(bufferRef(pj, "grad", where, p.grad));
      STC_RETURN_IF_ERROR(bufferRef(pj, "adam_m", where, p.adamM));
      STC_RETURN_IF_ERROR(bufferRef(pj, "adam_v", where, p.adamV));
      STC_RETURN_IF_ERROR(getBool(pj, "decay", where, p.decay));
      const Buffer &value = a_.buffers[p.buffer];
      struct Role {
        const char *key;
        int buf;
        bool persistent;
        bool f32Only;
      } roles[] = {{"buffer", p.buffer, true, false},
                   {"grad", p.grad, false, false},
                   {"adam_m", p.adamM, true, true},
                   {"adam_v", p.adamV, true, true}};
      for (const Role &r : roles) {
        const Buffer &b = a_.buffers[r.buf];
        std::string w = where + "." + r.key;
        if (b.elements() != value.elements())
          return fail(w,
                      "buffer " + quoted(b.name) + " has " +
                          std::to_string(b.elements()) +
                          " elements; the value buffer " + quoted(value.name) +
                          " has " + std::to_string(value.elements()),
                      member(pj, r.key));
        if (b.dtype == DType::I32 || (r.f32Only && b.dtype != DType::F32))
          return fail(w,
                      "buffer " + quoted(b.name) + " has dtype " +
                          dtypeName(b.dtype) +
                          "; valid: " + (r.f32Only ? "f32" : "f32, bf16"),
                      member(pj, r.key));
        if (r.persistent && !b.persistent)
          return fail(w,
                      "buffer " + quoted(b.name) +
                          " must be persistent (it survives across steps)",
                      member(pj, r.key));
        std::string use = where + "." + r.key;
        auto [it, fresh] = owner.emplace(r.buf, use);
        if (!fresh)
          return fail(w,
                      "buffer " + quoted(b.name) + " is already used as " +
                          it->second,
                      member(pj, r.key));
      }
      const json::Value *init;
      STC_RETURN_IF_ERROR(getMember(pj, "init", where, init));
      std::string wi = where + ".init";
      STC_RETURN_IF_ERROR(checkKeys(*init, wi, {"dist", "std"}));
      std::string dist;
      STC_RETURN_IF_ERROR(getString(*init, "dist", wi, dist));
      if (dist == "normal") {
        p.init.dist = InitSpec::Dist::Normal;
        const json::Value *sd;
        STC_RETURN_IF_ERROR(getMember(*init, "std", wi, sd));
        if (!sd->isNumber() || !std::isfinite(sd->asNumber()) ||
            sd->asNumber() < 0)
          return fail(wi + ".std",
                      "is " + show(*sd) + "; valid: a finite number >= 0", sd);
        p.init.std = sd->asNumber();
      } else if (dist == "zeros" || dist == "ones") {
        p.init.dist =
            dist == "zeros" ? InitSpec::Dist::Zeros : InitSpec::Dist::Ones;
        if (member(*init, "std"))
          return fail(wi, "'std' is only valid with dist 'normal'",
                      member(*init, "std"));
      } else {
        return fail(wi + ".dist",
                    "is " + quoted(dist) + "; valid: normal, zeros, ones",
                    member(*init, "dist"));
      }
      total += value.elements();
      a_.params.push_back(std::move(p));
    }
    if (total != a_.model.paramCount)
      return fail("model.param_count",
                  "is " + std::to_string(a_.model.paramCount) +
                      "; the parameters' value buffers hold " +
                      std::to_string(total) + " elements");
    return Status::ok();
  }

  //--- layouts -------------------------------------------------------------

  Status checkLayouts() {
    const json::Value *ls;
    STC_RETURN_IF_ERROR(getMember(root_, "layouts", "manifest", ls));
    if (!ls->isArray())
      return fail("layouts", "must be an array, got " + show(*ls), ls);
    for (size_t i = 0; i < ls->size(); ++i) {
      const json::Value &lj = ls->asArray()[i];
      std::string where = "layouts[" + std::to_string(i) + "]";
      STC_RETURN_IF_ERROR(
          checkKeys(lj, where,
                    {"name", "pattern", "n", "block", "row_ptr", "col_idx",
                     "classes", "col_ptr", "row_idx", "col_classes"}));
      Layout l;
      STC_RETURN_IF_ERROR(getString(lj, "name", where, l.name));
      where += " " + quoted(l.name);
      if (layoutIndex_.count(l.name))
        return fail(where, "duplicate layout name", member(lj, "name"));
      STC_RETURN_IF_ERROR(getString(lj, "pattern", where, l.patternText));
      std::string perr;
      auto pat = pattern::Pattern::parse(l.patternText, &perr);
      if (!pat)
        return fail(where + ".pattern",
                    "cannot parse " + quoted(l.patternText) + ": " + perr,
                    member(lj, "pattern"));
      l.pattern = *pat;
      int64_t n, block;
      STC_RETURN_IF_ERROR(getInt(lj, "n", where, n, 1, kMaxLayoutN));
      STC_RETURN_IF_ERROR(getInt(lj, "block", where, block, 1, n));
      if (hasPredicate(l.pattern) && n > kMaxPredicateLayoutN)
        return fail(where + ".n",
                    "is " + std::to_string(n) +
                        "; layouts of predicate patterns are rebuilt by "
                        "evaluating every element, which this runtime limits "
                        "to n <= " +
                        std::to_string(kMaxPredicateLayoutN),
                    member(lj, "n"));
      // Rebuilding costs up to one entry per lower-triangle block (and one
      // predicate evaluation per element): bound it before doing it.
      int64_t rows = (n + block - 1) / block;
      if (rows * (rows + 1) / 2 > kMaxLayoutBlocks)
        return fail(where + ".block",
                    "is " + std::to_string(block) + " with n=" +
                        std::to_string(n) + ": " + std::to_string(rows) +
                        " block rows exceed this runtime's limit of " +
                        std::to_string(kMaxLayoutBlocks) +
                        " lower-triangle blocks; use larger blocks",
                    member(lj, "block"));
      std::vector<int64_t> rowPtr, colIdx, classes, colPtr, rowIdx, colClasses;
      STC_RETURN_IF_ERROR(
          getIntArray(lj, "row_ptr", where, rowPtr, 0, INT64_MAX));
      STC_RETURN_IF_ERROR(
          getIntArray(lj, "col_idx", where, colIdx, 0, INT64_MAX));
      STC_RETURN_IF_ERROR(getIntArray(lj, "classes", where, classes, 1, 2));
      STC_RETURN_IF_ERROR(
          getIntArray(lj, "col_ptr", where, colPtr, 0, INT64_MAX));
      STC_RETURN_IF_ERROR(
          getIntArray(lj, "row_idx", where, rowIdx, 0, INT64_MAX));
      STC_RETURN_IF_ERROR(
          getIntArray(lj, "col_classes", where, colClasses, 1, 2));
      l.blocks.n = n;
      l.blocks.blockSize = block;
      l.blocks.numBlockRows = (n + block - 1) / block;
      l.blocks.rowPtr = rowPtr;
      l.blocks.colIdx = colIdx;
      for (int64_t c : classes)
        l.blocks.classes.push_back(static_cast<pattern::BlockClass>(c));

      // The layout must be exactly what the pattern means: kernels skip
      // blocks not listed and mask only blocks listed as partial.
      pattern::BlockLayout want =
          pattern::buildBlockLayout(l.pattern, n, block);
      std::string what = "does not match its pattern " + quoted(l.patternText) +
                         " rebuilt with n=" + std::to_string(n) +
                         ", block=" + std::to_string(block) + ": ";
      auto cmp = [&](const char *key, const std::vector<int64_t> &got,
                     const std::vector<int64_t> &exp) -> Status {
        if (got.size() != exp.size())
          return fail(where,
                      what + key + " has " + std::to_string(got.size()) +
                          " entries, expected " + std::to_string(exp.size()),
                      member(lj, key));
        for (size_t j = 0; j < got.size(); ++j)
          if (got[j] != exp[j])
            return fail(where,
                        what + key + "[" + std::to_string(j) + "] is " +
                            std::to_string(got[j]) + ", expected " +
                            std::to_string(exp[j]),
                        member(lj, key));
        return Status::ok();
      };
      std::vector<int64_t> wantClasses;
      for (auto c : want.classes)
        wantClasses.push_back(static_cast<int64_t>(c));
      STC_RETURN_IF_ERROR(cmp("row_ptr", rowPtr, want.rowPtr));
      STC_RETURN_IF_ERROR(cmp("col_idx", colIdx, want.colIdx));
      STC_RETURN_IF_ERROR(cmp("classes", classes, wantClasses));
      // The column view must list the same blocks.
      blockLayoutColumns(want, l.colPtr, l.rowIdx, l.colClasses);
      std::vector<int64_t> wantColClasses;
      for (auto c : l.colClasses)
        wantColClasses.push_back(static_cast<int64_t>(c));
      STC_RETURN_IF_ERROR(cmp("col_ptr", colPtr, l.colPtr));
      STC_RETURN_IF_ERROR(cmp("row_idx", rowIdx, l.rowIdx));
      STC_RETURN_IF_ERROR(cmp("col_classes", colClasses, wantColClasses));
      layoutIndex_[l.name] = static_cast<int>(a_.layouts.size());
      a_.layouts.push_back(std::move(l));
    }
    return Status::ok();
  }

  //--- kernels -------------------------------------------------------------

  Status checkKernels() {
    const json::Value *ks;
    STC_RETURN_IF_ERROR(getMember(root_, "kernels", "manifest", ks));
    if (!ks->isArray())
      return fail("kernels", "must be an array, got " + show(*ks), ks);
    for (size_t i = 0; i < ks->size(); ++i) {
      const json::Value &kj = ks->asArray()[i];
      std::string where = "kernels[" + std::to_string(i) + "]";
      STC_RETURN_IF_ERROR(
          checkKeys(kj, where, {"name", "source", "bytes", "fnv1a64"}));
      KernelRef k;
      STC_RETURN_IF_ERROR(getString(kj, "name", where, k.name));
      where += " " + quoted(k.name);
      if (kernelIndex_.count(k.name))
        return fail(where, "duplicate kernel name", member(kj, "name"));
      STC_RETURN_IF_ERROR(getString(kj, "source", where, k.source));
      // Untrusted input must not point outside the artifact directory.
      bool escapes = k.source[0] == '/' || k.source[0] == '\\' ||
                     k.source == ".." || k.source.rfind("../", 0) == 0 ||
                     k.source.find("/../") != std::string::npos ||
                     (k.source.size() >= 3 &&
                      k.source.compare(k.source.size() - 3, 3, "/..") == 0) ||
                     k.source.find('\\') != std::string::npos;
      if (escapes)
        return fail(where + ".source",
                    "is " + quoted(k.source) +
                        "; must be a relative path inside the artifact "
                        "directory (no '..', no leading '/')",
                    member(kj, "source"));
      k.path = dir_ + "/" + k.source;
      STC_RETURN_IF_ERROR(getInt(kj, "bytes", where, k.bytes, 0, INT64_MAX));
      std::string hash;
      STC_RETURN_IF_ERROR(getString(kj, "fnv1a64", where, hash));
      auto h = parseHex64(hash);
      if (!h)
        return fail(where + ".fnv1a64",
                    "is " + quoted(hash) + "; must be 16 lowercase hex digits",
                    member(kj, "fnv1a64"));
      k.fnv1a64 = *h;
      if (options_.checkKernelFiles) {
        int64_t size = 0;
        auto got = hashFile(k.path, &size);
        if (!got)
          return fail(where + ".source",
                      "cannot read kernel source " + quoted(k.path) +
                          " (load with kernel file checks off for CPU-only "
                          "use without kernels/)",
                      member(kj, "source"));
        if (size != k.bytes)
          return fail(where + ".bytes",
                      "is " + std::to_string(k.bytes) + " but " +
                          quoted(k.path) + " has " + std::to_string(size) +
                          " bytes",
                      member(kj, "bytes"));
        if (*got != k.fnv1a64)
          return fail(where + ".fnv1a64",
                      "is " + hash + " but " + quoted(k.path) + " hashes to " +
                          hex64(*got) + " (the source was changed or damaged)",
                      member(kj, "fnv1a64"));
      }
      kernelIndex_[k.name] = static_cast<int>(a_.kernels.size());
      a_.kernels.push_back(std::move(k));
    }
    return Status::ok();
  }

  //--- entries -------------------------------------------------------------

  Status checkEntries() {
    const json::Value *es;
    STC_RETURN_IF_ERROR(getMember(root_, "entries", "manifest", es));
    STC_RETURN_IF_ERROR(
        checkKeys(*es, "entries", {"train_step", "eval_step", "sample_step"}));
    if (es->size() == 0)
      return fail("entries",
                  "must hold at least one of train_step, "
                  "eval_step, sample_step",
                  es);
    for (int e = 0; e < kNumEntryKinds; ++e) {
      const json::Value *ej = es->find(kEntryNames[e]);
      if (!ej)
        continue;
      STC_RETURN_IF_ERROR(checkEntry(static_cast<EntryKind>(e), *ej));
    }
    return Status::ok();
  }

  struct RoleSpec {
    const char *role;
    DType dtype;
    int64_t elements;
    const char *shape;
  };

  Status checkRoles(const json::Value &entry, const char *key,
                    const std::string &where,
                    const std::vector<RoleSpec> &specs,
                    std::vector<std::pair<std::string, int>> &out) {
    const json::Value *m;
    STC_RETURN_IF_ERROR(getMember(entry, key, where, m));
    std::string w = where + "." + key;
    if (!m->isObject())
      return fail(
          w, "must be an object mapping roles to buffer names, got " + show(*m),
          m);
    std::string valid;
    for (const auto &s : specs)
      valid += (valid.empty() ? "" : ", ") + std::string(s.role);
    for (const auto &kv : m->asObject()) {
      bool known = false;
      for (const auto &s : specs)
        known |= kv.first == s.role;
      if (!known)
        return fail(
            w, "unknown role " + quoted(kv.first) + " (valid: " + valid + ")",
            &kv.second);
    }
    for (const auto &s : specs) {
      int idx;
      STC_RETURN_IF_ERROR(bufferRef(*m, s.role, w, idx));
      const Buffer &b = a_.buffers[idx];
      if (b.dtype != s.dtype || b.elements() != s.elements)
        return fail(w + "." + s.role,
                    "buffer " + quoted(b.name) + " is " + dtypeName(b.dtype) +
                        " with " + std::to_string(b.elements()) +
                        " elements; expected " + dtypeName(s.dtype) + " " +
                        s.shape + " = " + std::to_string(s.elements) +
                        " elements",
                    member(*m, s.role));
      out.emplace_back(s.role, idx);
    }
    return Status::ok();
  }

  Status checkEntry(EntryKind kind, const json::Value &ej) {
    std::string where = kEntryNames[static_cast<int>(kind)];
    STC_RETURN_IF_ERROR(checkKeys(ej, where, {"ops", "inputs", "outputs"}));
    Entry &entry = a_.entries[static_cast<int>(kind)];
    entry.present = true;
    const ModelInfo &m = a_.model;
    int64_t bt = prod({m.batch, m.context});
    if (kind == EntryKind::Sample) {
      STC_RETURN_IF_ERROR(checkRoles(ej, "inputs", where,
                                     {{"token", DType::I32, 1, "[1]"}},
                                     entry.inputs));
      STC_RETURN_IF_ERROR(checkRoles(
          ej, "outputs", where, {{"logits", DType::F32, m.vocab, "[vocab]"}},
          entry.outputs));
    } else {
      STC_RETURN_IF_ERROR(
          checkRoles(ej, "inputs", where,
                     {{"tokens", DType::I32, bt, "[batch, context]"},
                      {"targets", DType::I32, bt, "[batch, context]"}},
                     entry.inputs));
      STC_RETURN_IF_ERROR(checkRoles(
          ej, "outputs", where,
          {{"losses", DType::F32, bt, "[batch * context]"}}, entry.outputs));
    }
    const json::Value *ops;
    STC_RETURN_IF_ERROR(getMember(ej, "ops", where, ops));
    if (!ops->isArray())
      return fail(where + ".ops", "must be an array, got " + show(*ops), ops);
    for (size_t i = 0; i < ops->size(); ++i) {
      Op op;
      STC_RETURN_IF_ERROR(checkOp(where, i, ops->asArray()[i], op));
      entry.ops.push_back(std::move(op));
    }
    return checkMemoryPlan(where, entry);
  }

  Status readAttrs(OpKind kind, const json::Value &attrs,
                   const std::string &where, OpAttrs &a) {
    AttrReader r(attrs, where + ": attrs");
    auto positive = [](double x) { return x > 0; };
    auto any = [](double) { return true; };
    std::vector<std::string> layoutNames;
    switch (kind) {
    case OpKind::Zero:
    case OpKind::GeluFwd:
    case OpKind::Add:
    case OpKind::Accumulate:
      r.integer("count", a.count);
      break;
    case OpKind::GeluBwd:
      r.integer("count", a.count);
      r.flag("accumulate", a.accumulate);
      break;
    case OpKind::EmbedFwd:
    case OpKind::EmbedBwd:
      r.integer("rows", a.rows);
      r.integer("T", a.T);
      r.integer("D", a.D);
      r.integer("V", a.V);
      r.posList("pos", a.pos);
      r.flag("decode", a.decode, /*optional=*/true);
      break;
    case OpKind::LayerNormFwd:
      r.integer("M", a.M);
      r.integer("C", a.C);
      r.number("eps", a.eps, positive, "a number > 0");
      break;
    case OpKind::LayerNormBwd:
      r.integer("M", a.M);
      r.integer("C", a.C);
      r.flag("accumulate", a.accumulate);
      break;
    case OpKind::Gemm:
      r.integer("M", a.M);
      r.integer("N", a.N);
      r.integer("K", a.K);
      r.flag("trans_a", a.transA);
      r.flag("trans_b", a.transB);
      r.number("alpha", a.alpha, any, "any finite number");
      r.number("beta", a.beta, any, "any finite number");
      r.flag("bias", a.bias);
      break;
    case OpKind::BiasGrad:
      r.integer("M", a.M);
      r.integer("N", a.N);
      break;
    case OpKind::DropoutFwd:
    case OpKind::DropoutBwd: {
      r.integer("count", a.count);
      r.number(
          "rate", a.rate, [](double x) { return x >= 0 && x < 1; },
          "0 <= rate < 1");
      int64_t salt = 0;
      r.integer("salt", salt, 0, 0xffffffffll);
      a.salt = static_cast<uint32_t>(salt);
      break;
    }
    case OpKind::AttentionFwd:
    case OpKind::AttentionBwd:
    case OpKind::AttentionDecode:
      if (kind != OpKind::AttentionDecode)
        r.integer("B", a.B);
      r.integer("T", a.T);
      r.integer("H", a.H);
      r.integer("dk", a.dk);
      r.integer("dv", a.dv);
      r.number("scale", a.scale, any, "any finite number");
      r.stringList("layouts", layoutNames);
      r.integer("heads_per_layout", a.headsPerLayout);
      break;
    case OpKind::XentFwd:
      r.integer("M", a.M);
      r.integer("V", a.V);
      break;
    case OpKind::XentFwdBwd:
      r.integer("M", a.M);
      r.integer("V", a.V);
      r.number("scale", a.scale, any, "any finite number");
      break;
    case OpKind::Sumsq:
      r.integer("count", a.count);
      r.flag("accumulate", a.accumulate);
      break;
    case OpKind::AdamW: {
      auto unit = [](double x) { return x >= 0 && x < 1; };
      r.integer("count", a.count);
      r.number("beta1", a.beta1, unit, "0 <= beta1 < 1");
      r.number("beta2", a.beta2, unit, "0 <= beta2 < 1");
      r.number("eps", a.eps, positive, "a number > 0");
      r.number(
          "weight_decay", a.weightDecay, [](double x) { return x >= 0; },
          "a number >= 0");
      r.number(
          "clip", a.clip, [](double x) { return x >= 0; },
          "a number >= 0 (0: no clipping)");
      break;
    }
    case OpKind::KvStore:
      r.integer("D", a.D);
      r.integer("T", a.T);
      break;
    }
    STC_RETURN_IF_ERROR(r.finish());

    // Cross-attribute rules.
    if (kind == OpKind::AttentionFwd || kind == OpKind::AttentionBwd ||
        kind == OpKind::AttentionDecode) {
      for (const std::string &ln : layoutNames) {
        auto it = layoutIndex_.find(ln);
        if (it == layoutIndex_.end()) {
          std::string valid;
          for (const auto &l : a_.layouts)
            valid += (valid.empty() ? "" : ", ") + l.name;
          return fail(where + ": attrs.layouts",
                      "names unknown layout " + quoted(ln) + " (layouts: " +
                          (valid.empty() ? "none" : valid) + ")",
                      attrs.find("layouts"));
        }
        const Layout &l = a_.layouts[it->second];
        if (l.blocks.n != a.T)
          return fail(where + ": attrs.layouts",
                      "layout " + quoted(ln) +
                          " has n=" + std::to_string(l.blocks.n) +
                          " but the op has T=" + std::to_string(a.T) +
                          " (they must be equal)",
                      attrs.find("layouts"));
        a.layouts.push_back(it->second);
      }
      if (prod({static_cast<int64_t>(a.layouts.size()), a.headsPerLayout}) !=
          a.H)
        return fail(
            where + ": attrs",
            "H is " + std::to_string(a.H) + " but layouts (" +
                std::to_string(a.layouts.size()) + ") x heads_per_layout (" +
                std::to_string(a.headsPerLayout) + ") = " +
                std::to_string(prod({static_cast<int64_t>(a.layouts.size()),
                                     a.headsPerLayout})),
            &attrs);
    }
    return Status::ok();
  }

  Status checkOp(const std::string &entryName, size_t index,
                 const json::Value &oj, Op &op) {
    std::string where = entryName + " op " + std::to_string(index);
    STC_RETURN_IF_ERROR(checkKeys(
        oj, where, {"op", "args", "attrs", "kernel", "grid", "block", "smem"}));
    std::string name;
    STC_RETURN_IF_ERROR(getString(oj, "op", where, name));
    auto kind = parseOpKind(name);
    if (!kind)
      return fail(where + ".op",
                  "unknown op kind " + quoted(name) +
                      " (valid: " + validOpKinds() + ")",
                  member(oj, "op"));
    op.kind = *kind;
    where += " (" + name + ")";

    const json::Value *attrs;
    STC_RETURN_IF_ERROR(getMember(oj, "attrs", where, attrs));
    if (!attrs->isObject())
      return fail(where + ": attrs", "must be an object, got " + show(*attrs),
                  attrs);
    op.rawAttrs = *attrs;
    STC_RETURN_IF_ERROR(readAttrs(op.kind, *attrs, where, op.attrs));

    // Arguments: count, then each buffer's dtype and element count.
    std::vector<ArgSpec> specs = argSpecs(op.kind, op.attrs);
    const json::Value *args;
    STC_RETURN_IF_ERROR(getMember(oj, "args", where, args));
    if (!args->isArray())
      return fail(where + ": args",
                  "must be an array of buffer names, got " + show(*args), args);
    if (args->size() != specs.size()) {
      std::string list;
      for (const auto &s : specs)
        list += (list.empty() ? "" : ", ") + s.name;
      return fail(where + ": args",
                  "has " + std::to_string(args->size()) +
                      " arguments; expected " + std::to_string(specs.size()) +
                      " (" + list + ")",
                  args);
    }
    for (size_t i = 0; i < specs.size(); ++i) {
      const json::Value &aj = args->asArray()[i];
      const ArgSpec &s = specs[i];
      std::string wa =
          where + ": arg " + std::to_string(i) + " (" + s.name + ")";
      if (!aj.isString())
        return fail(wa, "must be a buffer name, got " + show(aj), &aj);
      auto it = bufferIndex_.find(aj.asString());
      if (it == bufferIndex_.end())
        return fail(wa, "names unknown buffer " + quoted(aj.asString()), &aj);
      const Buffer &b = a_.buffers[it->second];
      bool typeOk = true;
      const char *valid = "";
      switch (s.type) {
      case ArgType::Float:
        typeOk = b.dtype != DType::I32;
        valid = "f32 or bf16";
        break;
      case ArgType::F32:
        typeOk = b.dtype == DType::F32;
        valid = "f32";
        break;
      case ArgType::I32:
        typeOk = b.dtype == DType::I32;
        valid = "i32";
        break;
      case ArgType::Any:
        break;
      }
      if (!typeOk)
        return fail(wa,
                    "buffer " + quoted(b.name) + " has dtype " +
                        dtypeName(b.dtype) + "; expected " + valid,
                    &aj);
      if (b.elements() != s.elements)
        return fail(wa,
                    "buffer " + quoted(b.name) + " has " +
                        std::to_string(b.elements()) + " elements; expected " +
                        s.formula + " = " +
                        (s.elements == INT64_MAX ? std::string("(overflow)")
                                                 : std::to_string(s.elements)),
                    &aj);
      op.args.push_back(it->second);
    }
    // An output may alias an input only where the op is elementwise.
    for (size_t i = 0; i < specs.size(); ++i) {
      if (specs[i].role == ArgRole::In)
        continue;
      for (size_t j = 0; j < specs.size(); ++j) {
        if (i == j || op.args[i] != op.args[j])
          continue;
        bool ok = allowsInPlace(op.kind) && specs[j].role == ArgRole::In;
        if (!ok)
          return fail(where + ": args",
                      "buffer " + quoted(a_.buffers[op.args[i]].name) +
                          " is passed as both " + specs[j].name + " and " +
                          specs[i].name +
                          "; an output may share a buffer with an input only "
                          "in elementwise ops (add, accumulate, gelu_*, "
                          "dropout_*)",
                      args);
      }
    }
    STC_RETURN_IF_ERROR(checkOpSemantics(op, where, oj));

    // Kernel and launch shape: gemm has none; every other op needs both.
    const json::Value *kj = member(oj, "kernel");
    if (op.kind == OpKind::Gemm && kj)
      return fail(where + ".kernel",
                  "gemm has no kernel (executors run it through "
                  "cuBLASLt/BLAS); remove the key",
                  kj);
    if (op.kind != OpKind::Gemm) {
      std::string kname;
      STC_RETURN_IF_ERROR(getString(oj, "kernel", where, kname));
      auto it = kernelIndex_.find(kname);
      if (it == kernelIndex_.end())
        return fail(where + ".kernel",
                    "names unknown kernel " + quoted(kname) +
                        " (not in the kernels table)",
                    kj);
      op.kernel = it->second;
    }
    bool needLaunch = op.kind != OpKind::Gemm;
    for (const char *key : {"grid", "block"}) {
      if (!needLaunch && !member(oj, key))
        continue;
      std::vector<int64_t> v;
      STC_RETURN_IF_ERROR(getIntArray(oj, key, where, v, 1, INT32_MAX));
      if (v.size() != 3)
        return fail(where + "." + key,
                    "has " + std::to_string(v.size()) +
                        " entries; expected 3 (x, y, z)",
                    member(oj, key));
      auto &dst = std::string(key) == "grid" ? op.grid : op.block;
      for (int d = 0; d < 3; ++d)
        dst[d] = v[d];
    }
    if (needLaunch || member(oj, "smem"))
      STC_RETURN_IF_ERROR(getInt(oj, "smem", where, op.smem, 0, INT32_MAX));
    return Status::ok();
  }

  /// Rules that tie an op to the rest of the manifest.
  Status checkOpSemantics(const Op &op, const std::string &where,
                          const json::Value &oj) {
    if (op.kind != OpKind::AdamW)
      return Status::ok();
    // The optimizer must update a parameter with its own gradient and
    // moments, and decay it only where the parameter table says so.
    const Param *p = nullptr;
    for (const Param &q : a_.params)
      if (q.buffer == op.args[0])
        p = &q;
    const json::Value *args = member(oj, "args");
    if (!p)
      return fail(where + ": arg 0 (param)",
                  "buffer " + quoted(a_.buffers[op.args[0]].name) +
                      " is not the value buffer of any entry of params",
                  args);
    struct {
      const char *name;
      int got, want;
    } pairs[] = {{"grad", op.args[1], p->grad},
                 {"m", op.args[2], p->adamM},
                 {"v", op.args[3], p->adamV}};
    for (int i = 0; i < 3; ++i)
      if (pairs[i].got != pairs[i].want)
        return fail(where + ": arg " + std::to_string(i + 1) + " (" +
                        pairs[i].name + ")",
                    "is buffer " + quoted(a_.buffers[pairs[i].got].name) +
                        " but parameter " + quoted(p->name) + " lists " +
                        quoted(a_.buffers[pairs[i].want].name),
                    args);
    if (!p->decay && op.attrs.weightDecay != 0)
      return fail(where + ": attrs.weight_decay",
                  "is " + show(*op.rawAttrs.find("weight_decay")) +
                      " but parameter " + quoted(p->name) +
                      " has decay false (must be 0)",
                  op.rawAttrs.find("weight_decay"));
    return Status::ok();
  }

  /// The memory plan: buffers that share bytes must never hold live values
  /// at the same time. Liveness is computed per entry from the op roles:
  /// a value is live from the op that writes it (or the entry's start, for
  /// inputs) to its last read (or the entry's end, for outputs). Reading a
  /// non-persistent buffer nothing in this entry wrote is an error too: its
  /// bytes may hold another buffer's data.
  Status checkMemoryPlan(const std::string &where, const Entry &entry) {
    const int numOps = static_cast<int>(entry.ops.size());
    struct Live {
      std::vector<std::pair<int, int>> segments;
      int start = INT_MIN; // open segment start, INT_MIN if none
      int end = 0;
    };
    std::map<int, Live> live;
    for (const auto &in : entry.inputs) {
      Live &l = live[in.second];
      l.start = -1;
      l.end = -1;
    }
    for (int i = 0; i < numOps; ++i) {
      const Op &op = entry.ops[i];
      std::vector<ArgSpec> specs = argSpecs(op.kind, op.attrs);
      // Collect per buffer whether this op reads and/or writes it.
      std::map<int, std::pair<bool, bool>> use; // buffer -> (reads, writes)
      for (size_t j = 0; j < specs.size(); ++j) {
        auto &u = use[op.args[j]];
        u.first |= specs[j].role != ArgRole::Out;
        u.second |= specs[j].role != ArgRole::In;
      }
      for (const auto &[buf, rw] : use) {
        const Buffer &b = a_.buffers[buf];
        if (b.persistent)
          continue;
        Live &l = live[buf];
        if (rw.first) {
          if (l.start == INT_MIN) {
            std::string argName;
            for (size_t j = 0; j < specs.size(); ++j)
              if (op.args[j] == buf)
                argName = specs[j].name;
            return Status::error(
                where + " op " + std::to_string(i) + " (" +
                opKindName(op.kind) + "): reads buffer " + quoted(b.name) +
                " (arg " + argName + ") before anything in " + where +
                " wrote it; a non-persistent buffer holds nothing at the "
                "start of a step (zero it first if the op accumulates)");
          }
          l.end = i;
        } else { // a full overwrite starts a new value
          if (l.start != INT_MIN)
            l.segments.emplace_back(l.start, l.end);
          l.start = i;
          l.end = i;
        }
      }
    }
    for (const auto &out : entry.outputs) {
      const Buffer &b = a_.buffers[out.second];
      if (b.persistent)
        continue;
      Live &l = live[out.second];
      if (l.start == INT_MIN)
        return Status::error(where + ": output " + quoted(out.first) +
                             " (buffer " + quoted(b.name) +
                             ") is never written by its ops");
      l.end = numOps;
    }
    for (auto &kv : live)
      if (kv.second.start != INT_MIN)
        kv.second.segments.emplace_back(kv.second.start, kv.second.end);

    std::vector<int> bufs;
    for (const auto &kv : live)
      bufs.push_back(kv.first);
    std::sort(bufs.begin(), bufs.end(), [&](int x, int y) {
      return a_.buffers[x].offset < a_.buffers[y].offset;
    });
    auto opName = [&](int i) {
      if (i < 0)
        return std::string("the entry's start (inputs)");
      if (i >= numOps)
        return std::string("the entry's end (outputs)");
      return "op " + std::to_string(i) + " (" + opKindName(entry.ops[i].kind) +
             ")";
    };
    for (size_t i = 0; i < bufs.size(); ++i) {
      const Buffer &x = a_.buffers[bufs[i]];
      for (size_t j = i + 1; j < bufs.size(); ++j) {
        const Buffer &y = a_.buffers[bufs[j]];
        if (y.offset >= x.offset + x.bytes)
          break;
        for (const auto &sx : live[bufs[i]].segments)
          for (const auto &sy : live[bufs[j]].segments) {
            int lo = std::max(sx.first, sy.first);
            int hi = std::min(sx.second, sy.second);
            if (lo <= hi)
              return Status::error(
                  where + ": buffers " + quoted(x.name) + " [" +
                  std::to_string(x.offset) + ", " +
                  std::to_string(x.offset + x.bytes) + ") and " +
                  quoted(y.name) + " [" + std::to_string(y.offset) + ", " +
                  std::to_string(y.offset + y.bytes) +
                  ") share bytes but are both live at " + opName(lo) +
                  "; buffers may share bytes only when their lifetimes do "
                  "not overlap");
          }
      }
    }
    return Status::ok();
  }
};

} // namespace

Expected<Artifact> Artifact::fromJson(const json::Value &manifest,
                                      const std::string &dir,
                                      const LoadOptions &options) {
  Artifact a;
  Status s = Validator(manifest, dir, options, a).run();
  if (!s.isOk())
    return s;
  return a;
}

Expected<Artifact> Artifact::load(const std::string &dir,
                                  const LoadOptions &options) {
  std::string path = dir + "/manifest.json";
  auto text = readFile(path);
  if (!text)
    return Status::error("artifact '" + dir + "': cannot read '" + path +
                         "' (is this an artifact directory?)");
  auto json = json::parse(*text);
  if (!json)
    return json.status().withContext("artifact '" + dir + "': manifest.json");
  auto a = fromJson(*json, dir, options);
  if (!a)
    return a.status().withContext("artifact '" + dir + "'");
  return a;
}

} // namespace stc::rt
