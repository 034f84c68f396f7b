//===- Artifact.cpp - Load and validate an stc artifact -------------------===//
//
// Every check corresponds to a sentence of docs/artifact-format.md. The first
// failure is reported; its message names where in the manifest (entry, op
// index and kind, key), the bad value and what would be valid. This file
// reads the top level, the model, buffers, params and kernels; the parts
// listed in runtime/artifact/Validator.h read the rest.
//
//===----------------------------------------------------------------------===//

#include "runtime/Artifact.h"

#include "abi/Hash.h"
#include "runtime/artifact/ManifestJson.h"
#include "runtime/artifact/Validator.h"

#include <algorithm>
#include <cmath>
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
  return abi::fnv1a64(text);
}

std::string Artifact::modelIdentity() const {
  std::set<std::string> patterns;
  for (const Layout &l : layouts)
    patterns.insert(l.patternText);
  std::string p;
  for (const std::string &t : patterns)
    p += (p.empty() ? "" : " ") + t;
  // One "key=value" per line: pattern texts contain ';' and '|'.
  return "name=" + model.name + "\nvocab=" + std::to_string(model.vocab) +
         "\ncontext=" + std::to_string(model.context) +
         "\nwidth=" + std::to_string(model.width) +
         "\nheads=" + std::to_string(model.heads) +
         "\nlayers=" + std::to_string(model.layers) +
         "\ndtype=" + dtypeName(model.dtype) + "\npatterns=" + p;
}

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

Expected<uint64_t> hashFile(const std::string &path, int64_t *size) {
  auto data = readFile(path, "kernel source");
  if (!data)
    return data.status();
  if (size)
    *size = static_cast<int64_t>(data->size());
  return abi::fnv1a64(*data);
}

//===----------------------------------------------------------------------===//
// The top level, model, buffers, params and kernels
//===----------------------------------------------------------------------===//

namespace manifest {
namespace {

const json::Value *memberOf(const json::Value &obj, const char *key) {
  return obj.find(key);
}

/// Product that saturates at INT64_MAX.
int64_t prod(std::initializer_list<int64_t> xs) {
  int64_t r = 1;
  for (int64_t x : xs)
    if (x < 0 || __builtin_mul_overflow(r, x, &r))
      return INT64_MAX;
  return r;
}

/// A kernel's launch shape: grid and block (x, y, z), dynamic shared memory.
Status readLaunch(const json::Value &kj, const std::string &where,
                  KernelRef &k) {
  for (const char *key : {"grid", "block"}) {
    std::vector<int64_t> v;
    STC_RETURN_IF_ERROR(getIntArray(kj, key, where, v, 1, INT32_MAX));
    if (v.size() != 3)
      return fail(where + "." + key,
                  "has " + std::to_string(v.size()) +
                      " entries; expected 3 (x, y, z)",
                  kj.find(key));
    auto &dst = std::string(key) == "grid" ? k.grid : k.block;
    for (int d = 0; d < 3; ++d)
      dst[d] = v[d];
  }
  return getInt(kj, "smem", where, k.smem, 0, INT32_MAX);
}

/// A buffer index member ("buffer": 3) of a params entry.
Status bufferRef(const Artifact &a, const json::Value &obj, const char *key,
                 const std::string &where, int &out) {
  const json::Value *v;
  STC_RETURN_IF_ERROR(getMember(obj, key, where, v));
  return getIndex(*v, where + "." + key, static_cast<int64_t>(a.buffers.size()),
                  "buffers", out);
}

Status readTop(const json::Value &root, Artifact &a) {
  if (!root.isObject())
    return fail("manifest", std::string("must be a JSON object, got ") +
                                json::kindName(root.kind()));
  std::string format;
  STC_RETURN_IF_ERROR(getString(root, "format", "manifest", format));
  if (format != "stc-artifact")
    return fail("format",
                "is " + quoted(format) + "; expected 'stc-artifact'",
                memberOf(root, "format"));
  const json::Value *ver;
  STC_RETURN_IF_ERROR(getMember(root, "version", "manifest", ver));
  if (!ver->isInt() || ver->asInt() != abi::kArtifactVersion)
    return fail("version",
                "unsupported version " + show(*ver) +
                    "; this runtime reads version " +
                    std::to_string(abi::kArtifactVersion),
                ver);
  if (memberOf(root, "producer")) {
    STC_RETURN_IF_ERROR(
        getString(root, "producer", "manifest", a.producer, false));
  }
  STC_RETURN_IF_ERROR(getInt(root, "arena_bytes", "manifest", a.arenaBytes,
                             1, abi::kMaxArenaBytes));
  // Unknown top-level keys are allowed: producers may add metadata.
  return Status::ok();
}

Status readModel(const json::Value &root, Artifact &a) {
  const json::Value *m;
  STC_RETURN_IF_ERROR(getMember(root, "model", "manifest", m));
  if (!m->isObject())
    return fail("model", "must be an object, got " + show(*m), m);
  ModelInfo &mi = a.model;
  STC_RETURN_IF_ERROR(getString(*m, "name", "model", mi.name, false));
  STC_RETURN_IF_ERROR(getInt(*m, "vocab", "model", mi.vocab, 1, abi::kMaxDim));
  STC_RETURN_IF_ERROR(
      getInt(*m, "context", "model", mi.context, 1, abi::kMaxContext));
  STC_RETURN_IF_ERROR(getInt(*m, "width", "model", mi.width, 1, abi::kMaxDim));
  STC_RETURN_IF_ERROR(getInt(*m, "heads", "model", mi.heads, 0, abi::kMaxDim));
  STC_RETURN_IF_ERROR(getInt(*m, "layers", "model", mi.layers, 0, abi::kMaxDim));
  STC_RETURN_IF_ERROR(
      getInt(*m, "batch", "model", mi.batch, 1, abi::kMaxGridYZ));
  STC_RETURN_IF_ERROR(getInt(*m, "sample_batch", "model", mi.sampleBatch, 1,
                             abi::kMaxGridYZ));
  STC_RETURN_IF_ERROR(
      getInt(*m, "param_count", "model", mi.paramCount, 0, abi::kMaxArenaBytes));
  std::string dt;
  STC_RETURN_IF_ERROR(getString(*m, "dtype", "model", dt));
  auto d = abi::parseDType(dt);
  if (!d || *d == DType::I32)
    return fail("model.dtype", "is " + quoted(dt) + "; valid: f32, bf16, f16",
                memberOf(*m, "dtype"));
  mi.dtype = *d;
  if (m->find("image")) {
    STC_RETURN_IF_ERROR(
        getIntArray(*m, "image", "model", mi.image, 1, abi::kMaxContext));
    if (mi.image.size() != 3 ||
        (mi.image[2] != 1 && mi.image[2] != 3 && mi.image[2] != 4) ||
        mi.image[0] * mi.image[1] * mi.image[2] != mi.context)
      return fail("model.image",
                  "must be [height, width, channels] with 1, 3 or 4 channels "
                  "and height x width x channels = context (" +
                      std::to_string(mi.context) + ")",
                  memberOf(*m, "image"));
  }
  return Status::ok();
}

Status readBuffers(const json::Value &root, Artifact &a) {
  const json::Value *bs;
  STC_RETURN_IF_ERROR(getMember(root, "buffers", "manifest", bs));
  if (!bs->isArray() || bs->size() == 0)
    return fail("buffers", "must be a non-empty array, got " + show(*bs), bs);
  std::set<std::string> seen;
  a.buffers.reserve(bs->size());
  for (size_t i = 0; i < bs->size(); ++i) {
    const json::Value &b = bs->asArray()[i];
    std::string where = "buffers[" + std::to_string(i) + "]";
    STC_RETURN_IF_ERROR(
        checkKeys(b, where,
                  {"name", "dtype", "shape", "offset", "persistent", "session"}));
    Buffer buf;
    STC_RETURN_IF_ERROR(getString(b, "name", where, buf.name));
    where += " " + quoted(buf.name);
    if (!seen.insert(buf.name).second)
      return fail(where, "duplicate buffer name " + quoted(buf.name),
                  memberOf(b, "name"));
    std::string dt;
    STC_RETURN_IF_ERROR(getString(b, "dtype", where, dt));
    auto d = abi::parseDType(dt);
    if (!d)
      return fail(where + ".dtype",
                  "is " + quoted(dt) + "; valid: f32, bf16, f16, i32",
                  memberOf(b, "dtype"));
    buf.dtype = *d;
    STC_RETURN_IF_ERROR(
        getIntArray(b, "shape", where, buf.shape, 1, abi::kMaxArenaBytes));
    STC_RETURN_IF_ERROR(
        getInt(b, "offset", where, buf.offset, 0, abi::kMaxArenaBytes));
    STC_RETURN_IF_ERROR(getBool(b, "persistent", where, buf.persistent));
    if (b.find("session")) {
      STC_RETURN_IF_ERROR(getBool(b, "session", where, buf.session));
      if (buf.session && buf.persistent)
        return fail(where + ".session",
                    "is true but the buffer is persistent; a session buffer "
                    "(a sampling cache) shares bytes with other steps' "
                    "buffers and cannot be both",
                    memberOf(b, "session"));
    }
    int64_t elems = 1;
    for (int64_t s : buf.shape)
      elems = prod({elems, s});
    buf.bytes = prod({elems, dtypeSize(buf.dtype)});
    if (buf.bytes > abi::kMaxArenaBytes)
      return fail(where + ".shape",
                  "holds " +
                      (buf.bytes == INT64_MAX ? std::string("more than 2^63")
                                              : std::to_string(buf.bytes)) +
                      " bytes; valid: at most " +
                      std::to_string(abi::kMaxArenaBytes),
                  memberOf(b, "shape"));
    if (buf.offset % abi::kBufferAlignment != 0)
      return fail(where + ".offset",
                  "is " + std::to_string(buf.offset) +
                      "; must be a multiple of " +
                      std::to_string(abi::kBufferAlignment),
                  memberOf(b, "offset"));
    if (buf.offset + buf.bytes > a.arenaBytes)
      return fail(where,
                  "lies outside the arena: offset " +
                      std::to_string(buf.offset) + " + bytes " +
                      std::to_string(buf.bytes) + " = " +
                      std::to_string(buf.offset + buf.bytes) +
                      " > arena_bytes " + std::to_string(a.arenaBytes),
                  &b);
    a.buffers.push_back(std::move(buf));
  }

  // Persistent buffers survive across steps, so nothing may share them.
  std::vector<int> order(a.buffers.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(), [&](int x, int y) {
    return a.buffers[x].offset < a.buffers[y].offset;
  });
  for (size_t i = 0; i < order.size(); ++i) {
    const Buffer &x = a.buffers[order[i]];
    for (size_t j = i + 1; j < order.size(); ++j) {
      const Buffer &y = a.buffers[order[j]];
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

  a.scalars = a.findBuffer("scalars");
  if (a.scalars < 0)
    return fail("buffers", "no buffer named 'scalars' (required: persistent, "
                           "16 slots of 4 bytes, dtype f32 or i32)");
  const Buffer &s = a.buffers[a.scalars];
  if (!s.persistent || s.bytes != abi::kScalarSlots * 4 || isHalf(s.dtype))
    return fail(
        "buffers[" + std::to_string(a.scalars) + "] 'scalars'",
        "must be persistent with 16 elements of dtype f32 or i32 (64 "
        "bytes); got " +
            std::string(s.persistent ? "persistent" : "not persistent") +
            ", " + dtypeName(s.dtype) + ", " + std::to_string(s.bytes) +
            " bytes");
  return Status::ok();
}

Status readParams(const json::Value &root, Artifact &a) {
  const json::Value *ps;
  STC_RETURN_IF_ERROR(getMember(root, "params", "manifest", ps));
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
        {"name", "buffer", "grad", "adam_m", "adam_v", "master", "init",
         "decay"}));
    Param p;
    STC_RETURN_IF_ERROR(getString(pj, "name", where, p.name));
    where += " " + quoted(p.name);
    if (!names.insert(p.name).second)
      return fail(where, "duplicate parameter name", memberOf(pj, "name"));
    STC_RETURN_IF_ERROR(bufferRef(a, pj, "buffer", where, p.buffer));
    STC_RETURN_IF_ERROR(bufferRef(a, pj, "grad", where, p.grad));
    STC_RETURN_IF_ERROR(bufferRef(a, pj, "adam_m", where, p.adamM));
    STC_RETURN_IF_ERROR(bufferRef(a, pj, "adam_v", where, p.adamV));
    if (pj.find("master"))
      STC_RETURN_IF_ERROR(bufferRef(a, pj, "master", where, p.master));
    STC_RETURN_IF_ERROR(getBool(pj, "decay", where, p.decay));
    const Buffer &value = a.buffers[p.buffer];
    struct Role {
      const char *key;
      int buf;
      bool persistent;
      bool f32Only;
    } roles[] = {{"buffer", p.buffer, true, false},
                 {"grad", p.grad, false, false},
                 {"adam_m", p.adamM, true, true},
                 {"adam_v", p.adamV, true, true},
                 {"master", p.master, true, true}};
    for (const Role &r : roles) {
      if (r.buf < 0) // an optional one that is absent
        continue;
      const Buffer &b = a.buffers[r.buf];
      std::string w = where + "." + r.key;
      if (b.elements() != value.elements())
        return fail(w,
                    "buffer " + quoted(b.name) + " has " +
                        std::to_string(b.elements()) +
                        " elements; the value buffer " + quoted(value.name) +
                        " has " + std::to_string(value.elements()),
                    memberOf(pj, r.key));
      if (b.dtype == DType::I32 || (r.f32Only && b.dtype != DType::F32))
        return fail(w,
                    "buffer " + quoted(b.name) + " has dtype " +
                        dtypeName(b.dtype) +
                        "; valid: " + (r.f32Only ? "f32" : "f32, bf16, f16"),
                    memberOf(pj, r.key));
      if (r.persistent && !b.persistent)
        return fail(w,
                    "buffer " + quoted(b.name) +
                        " must be persistent (it survives across steps)",
                    memberOf(pj, r.key));
      std::string use = where + "." + r.key;
      auto [it, fresh] = owner.emplace(r.buf, use);
      if (!fresh)
        return fail(w,
                    "buffer " + quoted(b.name) + " is already used as " +
                        it->second,
                    memberOf(pj, r.key));
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
      if (memberOf(*init, "std"))
        return fail(wi, "'std' is only valid with dist 'normal'",
                    memberOf(*init, "std"));
    } else {
      return fail(wi + ".dist",
                  "is " + quoted(dist) + "; valid: normal, zeros, ones",
                  memberOf(*init, "dist"));
    }
    total += value.elements();
    a.params.push_back(std::move(p));
  }
  if (total != a.model.paramCount)
    return fail("model.param_count",
                "is " + std::to_string(a.model.paramCount) +
                    "; the parameters' value buffers hold " +
                    std::to_string(total) + " elements");
  return Status::ok();
}

Status readKernels(const json::Value &root, const std::string &dir,
                   const LoadOptions &options, Artifact &a) {
  const json::Value *ks;
  STC_RETURN_IF_ERROR(getMember(root, "kernels", "manifest", ks));
  if (!ks->isArray())
    return fail("kernels", "must be an array, got " + show(*ks), ks);
  std::set<std::string> seen;
  for (size_t i = 0; i < ks->size(); ++i) {
    const json::Value &kj = ks->asArray()[i];
    std::string where = "kernels[" + std::to_string(i) + "]";
    STC_RETURN_IF_ERROR(checkKeys(kj, where,
                                  {"name", "source", "bytes", "fnv1a64", "grid",
                                   "block", "smem"}));
    KernelRef k;
    STC_RETURN_IF_ERROR(getString(kj, "name", where, k.name));
    where += " " + quoted(k.name);
    if (!seen.insert(k.name).second)
      return fail(where, "duplicate kernel name", memberOf(kj, "name"));
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
                  memberOf(kj, "source"));
    k.path = dir + "/" + k.source;
    STC_RETURN_IF_ERROR(getInt(kj, "bytes", where, k.bytes, 0, INT64_MAX));
    STC_RETURN_IF_ERROR(getHex64(kj, "fnv1a64", where, k.fnv1a64));
    if (options.checkKernelFiles) {
      int64_t size = 0;
      auto got = hashFile(k.path, &size);
      if (!got)
        return fail(where + ".source",
                    "cannot read kernel source " + quoted(k.path) +
                        " (load with kernel file checks off for CPU-only "
                        "use without kernels/)",
                    memberOf(kj, "source"));
      if (size != k.bytes)
        return fail(where + ".bytes",
                    "is " + std::to_string(k.bytes) + " but " +
                        quoted(k.path) + " has " + std::to_string(size) +
                        " bytes",
                    memberOf(kj, "bytes"));
      if (*got != k.fnv1a64)
        return fail(where + ".fnv1a64",
                    "is " + abi::hex64(k.fnv1a64) + " but " + quoted(k.path) + " hashes to " +
                        abi::hex64(*got) + " (the source was changed or damaged)",
                    memberOf(kj, "fnv1a64"));
    }
    STC_RETURN_IF_ERROR(readLaunch(kj, where, k));
    a.kernels.push_back(std::move(k));
  }
  return Status::ok();
}

/// "loss_scale": {"buffer": i, "init": s} (optional), and the ops that use
/// it: every loss_scaling adamw / xent_fwd_bwd and loss_scale_update names
/// that buffer, and they are there exactly when it is.
Status readLossScale(const json::Value &root, Artifact &a) {
  if (const json::Value *ls = root.find("loss_scale")) {
    const std::string where = "loss_scale";
    STC_RETURN_IF_ERROR(checkKeys(*ls, where, {"buffer", "init"}));
    STC_RETURN_IF_ERROR(bufferRef(a, *ls, "buffer", where, a.lossScale));
    const Buffer &b = a.buffers[a.lossScale];
    if (!b.persistent || b.dtype != DType::F32 || b.elements() != 4)
      return fail(where + ".buffer",
                  "buffer " + quoted(b.name) +
                      " must be persistent with 4 elements of dtype f32",
                  ls->find("buffer"));
    const json::Value *init;
    STC_RETURN_IF_ERROR(getMember(*ls, "init", where, init));
    if (!init->isNumber() || !std::isfinite(init->asNumber()) ||
        init->asNumber() <= 0)
      return fail(where + ".init",
                  "is " + show(*init) + "; valid: a finite number > 0", init);
    a.lossScaleInit = init->asNumber();
  }
  for (int e = 0; e < kNumEntryKinds; ++e) {
    const Entry &entry = a.entries[e];
    for (size_t i = 0; i < entry.ops.size(); ++i) {
      const Op &op = entry.ops[i];
      const char *arg = op.kind == OpKind::LossScaleUpdate ? "state"
                        : op.attrs.lossScaling              ? "loss_scale"
                                                            : nullptr;
      if (!arg)
        continue;
      const int k = abi::argIndex(abi::signature(op.kind, op.attrs), arg);
      if (a.lossScale < 0 || k < 0 ||
          op.args[static_cast<size_t>(k)] != a.lossScale)
        return fail(std::string(entryKindName(static_cast<EntryKind>(e))) +
                        " op " + std::to_string(i) + " (" +
                        opKindName(op.kind) + ")",
                    std::string("its ") + arg +
                        " must be the buffer that the manifest's "
                        "loss_scale.buffer names" +
                        (a.lossScale < 0 ? " (the manifest has none)" : ""));
    }
  }
  return Status::ok();
}

} // namespace
} // namespace manifest

Expected<Artifact> Artifact::fromJson(const json::Value &root,
                                      const std::string &dir,
                                      const LoadOptions &options) {
  using namespace manifest;
  Artifact a;
  a.dir = dir;
  NameIndex names;
  Status s = readTop(root, a);
  if (s.isOk())
    s = readModel(root, a);
  if (s.isOk())
    s = readBuffers(root, a);
  if (s.isOk())
    s = readParams(root, a);
  if (s.isOk())
    s = readLayouts(root, a, names);
  if (s.isOk())
    s = readKernels(root, dir, options, a);
  if (s.isOk())
    s = readEntries(root, a, names);
  if (s.isOk())
    s = readLossScale(root, a);
  if (!s.isOk())
    return s;
  buildColumnViews(a);
  return a;
}

Expected<Artifact> Artifact::load(const std::string &dir,
                                  const LoadOptions &options) {
  std::string path = dir + "/manifest.json";
  auto text = readFile(path, "manifest");
  if (!text)
    return Status::error("artifact '" + dir + "': " + text.status().message() +
                         " (is this an artifact directory?)");
  auto json = json::parse(*text);
  if (!json)
    return json.status().withContext("artifact '" + dir + "': manifest.json");
  auto a = fromJson(*json, dir, options);
  if (!a)
    return a.status().withContext("artifact '" + dir + "'");
  return a;
}

} // namespace stc::rt
