//===- RuntimeTestUtil.cpp - Helpers shared by the runtime tests ----------===//

#include "RuntimeTestUtil.h"

#include "pattern/Pattern.h"
#include "abi/Hash.h"
#include "abi/Layout.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace stc::rt::test {

namespace {
/// Removes the temp dirs this process made when it exits.
struct TempDirs {
  std::vector<std::string> dirs;
  ~TempDirs() {
    std::error_code ec;
    for (const auto &d : dirs)
      std::filesystem::remove_all(d, ec);
  }
};
TempDirs &tempDirs() {
  static TempDirs t;
  return t;
}
} // namespace

std::string makeTempDir(const std::string &tag) {
  const char *base = std::getenv("TMPDIR");
  std::string templ =
      std::string(base && *base ? base : "/tmp") + "/stc-rt-" + tag + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data()))
    throw std::runtime_error("mkdtemp failed for " + templ);
  tempDirs().dirs.push_back(buf.data());
  return std::string(buf.data());
}

void writeFile(const std::string &path, const std::string &data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!f)
    throw std::runtime_error("cannot write " + path);
}

ArtifactBuilder::ArtifactBuilder(std::string modelName, int64_t vocab,
                                 int64_t context, int64_t width,
                                 int64_t batch) {
  root_ = json::Value::object();
  root_.set("format", "stc-artifact");
  root_.set("version", stc::abi::kArtifactVersion);
  root_.set("producer", "runtime-tests");
  json::Value model = json::Value::object();
  model.set("name", modelName);
  model.set("vocab", vocab);
  model.set("context", context);
  model.set("width", width);
  model.set("heads", 0);
  model.set("layers", 0);
  model.set("batch", batch);
  model.set("sample_batch", 1);
  model.set("dtype", "f32");
  model.set("param_count", 0);
  root_.set("model", model);
  root_.set("arena_bytes", 0);
  root_.set("buffers", json::Value::array());
  root_.set("params", json::Value::array());
  root_.set("layouts", json::Value::array());
  root_.set("kernels", json::Value::array());
  root_.set("entries", json::Value::object());
  buffer("scalars", "f32", {16}, true);
}

std::string ArtifactBuilder::buffer(const std::string &name,
                                    const std::string &dtype,
                                    std::vector<int64_t> shape, bool persistent,
                                    int64_t atOffset) {
  int64_t elems = 1;
  json::Value sh = json::Value::array();
  for (int64_t s : shape) {
    elems *= s;
    sh.push(s);
  }
  int64_t bytes = elems * (dtype == "bf16" ? 2 : 4);
  int64_t offset = atOffset;
  if (offset < 0) {
    offset = next_;
    next_ = (offset + bytes + stc::abi::kBufferAlignment - 1) / stc::abi::kBufferAlignment *
            stc::abi::kBufferAlignment;
  }
  arenaEnd_ = std::max(arenaEnd_, offset + bytes);
  json::Value b = json::Value::object();
  b.set("name", name);
  b.set("dtype", dtype);
  b.set("shape", sh);
  b.set("offset", offset);
  b.set("persistent", persistent);
  root_.find("buffers")->push(b);
  offsets_[name] = offset;
  return name;
}

void ArtifactBuilder::setModelDtype(const std::string &dtype) {
  root_.find("model")->set("dtype", dtype);
}

void ArtifactBuilder::setSampleBatch(int64_t sequences) {
  root_.find("model")->set("sample_batch", sequences);
}

int64_t ArtifactBuilder::offsetOf(const std::string &name) const {
  return offsets_.at(name);
}

void ArtifactBuilder::param(const std::string &name, std::vector<int64_t> shape,
                            double std, bool decay) {
  buffer(name, "f32", shape, true);
  buffer(name + ".grad", "f32", shape, false);
  buffer(name + ".m", "f32", shape, true);
  buffer(name + ".v", "f32", shape, true);
  json::Value p = json::Value::object();
  p.set("name", name);
  p.set("buffer", name);
  p.set("grad", name + ".grad");
  p.set("adam_m", name + ".m");
  p.set("adam_v", name + ".v");
  json::Value init = json::Value::object();
  if (std > 0) {
    init.set("dist", "normal");
    init.set("std", std);
  } else {
    init.set("dist", std == 0 ? "zeros" : "ones");
  }
  p.set("init", init);
  p.set("decay", decay);
  root_.find("params")->push(p);
  int64_t elems = 1;
  for (int64_t s : shape)
    elems *= s;
  paramCount_ += elems;
  root_.find("model")->set("param_count", paramCount_);
}

void ArtifactBuilder::layout(const std::string &name,
                             const std::string &patternText, int64_t n,
                             int64_t block) {
  std::string err;
  auto p = pattern::Pattern::parse(patternText, &err);
  if (!p)
    throw std::runtime_error("bad test pattern " + patternText + ": " + err);
  pattern::BlockLayout l = pattern::buildBlockLayout(*p, n, block);
  json::Value lj = json::Value::object();
  lj.set("name", name);
  lj.set("pattern", p->str());
  lj.set("n", n);
  lj.set("block", block);
  lj.set("blocks", l.numBlocks());
  lj.set("fnv1a64", stc::abi::hex64(stc::abi::layoutFingerprint(l)));
  root_.find("layouts")->push(lj);
}

std::string ArtifactBuilder::kernelSource(const std::string &kind) {
  return "// runtime-tests stub for " + kind +
         "\nextern \"C\" __global__ void k_" + kind + "() {}\n";
}

json::Value &ArtifactBuilder::op(const std::string &entry,
                                 const std::string &kind,
                                 std::vector<std::string> args,
                                 json::Value attrs) {
  json::Value *entries = root_.find("entries");
  if (!entries->find(entry)) {
    json::Value e = json::Value::object();
    e.set("ops", json::Value::array());
    e.set("inputs", json::Value::object());
    e.set("outputs", json::Value::object());
    entries->set(entry, e);
  }
  json::Value o = json::Value::object();
  o.set("op", kind);
  json::Value a = json::Value::array();
  for (const auto &s : args)
    a.push(s);
  o.set("args", a);
  o.set("attrs", attrs);
  if (kind != "gemm") {
    o.set("kernel", "k_" + kind);
    if (!kernels_[kind]) {
      kernels_[kind] = true;
      std::string src = kernelSource(kind);
      json::Value k = json::Value::object();
      k.set("name", "k_" + kind);
      k.set("source", "kernels/k_" + kind + ".cu");
      k.set("bytes", static_cast<int64_t>(src.size()));
      k.set("fnv1a64", stc::abi::hex64(stc::abi::fnv1a64(src)));
      k.set("grid", json::Value(json::Value::Array{1, 1, 1}));
      k.set("block", json::Value(json::Value::Array{128, 1, 1}));
      k.set("smem", 0);
      root_.find("kernels")->push(k);
    }
  }
  return entries->find(entry)->find("ops")->push(o);
}

void ArtifactBuilder::io(const std::string &entry, const std::string &direction,
                         const std::string &role, const std::string &buffer) {
  root_.find("entries")->find(entry)->find(direction)->set(role, buffer);
}

json::Value ArtifactBuilder::manifest() const {
  json::Value m = root_;
  // The builder names buffers and kernels; the manifest refers to them by
  // their index in the buffers and kernels tables.
  auto indexIn = [&](const char *table, const json::Value &name) {
    const auto &items = m.find(table)->asArray();
    for (size_t i = 0; i < items.size(); ++i)
      if (items[i].find("name")->asString() == name.asString())
        return json::Value(static_cast<int64_t>(i));
    throw std::runtime_error(std::string("test artifact: no ") + table +
                             " entry '" + name.asString() + "'");
  };
  for (json::Value &p : m.find("params")->asArray())
    for (const char *key : {"buffer", "grad", "adam_m", "adam_v"})
      p.set(key, indexIn("buffers", *p.find(key)));
  for (auto &[entryName, e] : m.find("entries")->asObject()) {
    for (const char *io : {"inputs", "outputs"})
      for (auto &[role, buf] : e.find(io)->asObject())
        buf = indexIn("buffers", buf);
    for (json::Value &o : e.find("ops")->asArray()) {
      for (json::Value &a : o.find("args")->asArray())
        a = indexIn("buffers", a);
      if (const json::Value *k = o.find("kernel"))
        o.set("kernel", indexIn("kernels", *k));
    }
  }
  int64_t arena =
      (arenaEnd_ + stc::abi::kBufferAlignment - 1) / stc::abi::kBufferAlignment * stc::abi::kBufferAlignment;
  m.set("arena_bytes", arena);
  return m;
}

void ArtifactBuilder::write(const std::string &dir) const {
  ::mkdir((dir + "/kernels").c_str(), 0755);
  for (const auto &k : kernels_)
    writeFile(dir + "/kernels/k_" + k.first + ".cu", kernelSource(k.first));
  writeFile(dir + "/manifest.json", json::write(manifest(), 2) + "\n");
}

std::string ArtifactBuilder::writeTemp(const std::string &tag) const {
  std::string dir = makeTempDir(tag);
  write(dir);
  return dir;
}

namespace {

json::Value
obj(std::initializer_list<std::pair<const char *, json::Value>> kv) {
  json::Value o = json::Value::object();
  for (const auto &p : kv)
    o.set(p.first, p.second);
  return o;
}

json::Value gemmAttrs(int64_t M, int64_t N, int64_t K, bool ta, bool tb,
                      double beta = 0.0) {
  json::Value a = obj({{"M", M}, {"N", N}, {"K", K}});
  // Optional attributes, written only when they differ from the defaults.
  if (ta)
    a.set("trans_a", true);
  if (tb)
    a.set("trans_b", true);
  if (beta != 0.0)
    a.set("beta", beta);
  return a;
}

/// One sumsq of every gradient into gnorm, then one AdamW over every
/// parameter (decayed by `wd` where its flag is set).
void optimizer(ArtifactBuilder &b,
               const std::vector<std::tuple<std::string, int64_t, bool>> &params,
               double wd = 0.01) {
  json::Value counts = json::Value::array(), decay = json::Value::array();
  std::vector<std::string> grads, args;
  for (const auto &[name, count, decayed] : params) {
    counts.push(count);
    decay.push(decayed ? 1 : 0);
    grads.push_back(name + ".grad");
  }
  grads.push_back("gnorm");
  b.op("train_step", "sumsq", grads, obj({{"counts", counts}}));
  for (const char *suffix : {"", ".grad", ".m", ".v"})
    for (const auto &[name, count, decayed] : params)
      args.push_back(name + suffix);
  args.push_back("gnorm");
  b.op("train_step", "adamw", args,
       obj({{"counts", counts},
            {"decay", decay},
            {"beta1", 0.9},
            {"beta2", 0.99},
            {"eps", 1e-8},
            {"weight_decay", wd},
            {"clip", 1.0}}));
}

} // namespace

ArtifactBuilder bigramBuilder(const std::string &act) {
  const int64_t B = 4, T = 16, V = 256, D = 32, M = B * T;
  ArtifactBuilder b("bigram", V, T, D, B);
  b.setModelDtype(act);
  b.buffer("tokens", "i32", {B, T}, false);
  b.buffer("targets", "i32", {B, T}, false);
  b.buffer("losses", "f32", {M}, false);
  b.param("emb", {V, D}, 0.1, false);
  b.param("pos0", {T, D}, 0.01, false);
  b.param("W", {D, V}, 0.1, true);
  b.buffer("x", act, {M, D}, false);
  b.buffer("logits", act, {M, V}, false);
  b.buffer("dlogits", act, {M, V}, false);
  // dx reuses logits' bytes: logits is dead once xent has read it.
  b.buffer("dx", act, {M, D}, false, b.offsetOf("logits"));
  b.buffer("gnorm", "f32", {1}, false);
  b.buffer("token", "i32", {1}, false);
  b.buffer("sx", "f32", {1, D}, false);
  b.buffer("slogits", "f32", {V}, false);
  // Not used by any op: here so the layout checks have something to check.
  b.layout("local4", "local(4)", T, 4);

  json::Value embed = obj({{"rows", M},
                           {"T", T},
                           {"D", D},
                           {"V", V},
                           {"pos", json::Value(json::Value::Array{json::Value(
                                       json::Value::Array{1, T})})}});
  // train_step
  b.op("train_step", "zero", {"emb.grad"}, obj({{"count", V * D}}));
  b.op("train_step", "zero", {"pos0.grad"}, obj({{"count", T * D}}));
  b.op("train_step", "embed_fwd", {"tokens", "emb", "pos0", "x"}, embed);
  b.op("train_step", "gemm", {"x", "W", "logits"},
       gemmAttrs(M, V, D, false, false));
  b.op("train_step", "xent_fwd_bwd", {"logits", "targets", "losses", "dlogits"},
       obj({{"M", M}, {"V", V}, {"scale", 1.0 / M}}));
  b.op("train_step", "gemm", {"x", "dlogits", "W.grad"},
       gemmAttrs(D, V, M, true, false));
  b.op("train_step", "gemm", {"dlogits", "W", "dx"},
       gemmAttrs(M, D, V, false, true));
  b.op("train_step", "embed_bwd", {"tokens", "dx", "emb.grad", "pos0.grad"},
       embed);
  optimizer(b, {{"emb", V * D, false}, {"pos0", T * D, false}, {"W", D * V, true}});
  b.io("train_step", "inputs", "tokens", "tokens");
  b.io("train_step", "inputs", "targets", "targets");
  b.io("train_step", "outputs", "losses", "losses");

  // eval_step
  b.op("eval_step", "embed_fwd", {"tokens", "emb", "pos0", "x"}, embed);
  b.op("eval_step", "gemm", {"x", "W", "logits"},
       gemmAttrs(M, V, D, false, false));
  b.op("eval_step", "xent_fwd", {"logits", "targets", "losses"},
       obj({{"M", M}, {"V", V}}));
  b.io("eval_step", "inputs", "tokens", "tokens");
  b.io("eval_step", "inputs", "targets", "targets");
  b.io("eval_step", "outputs", "losses", "losses");

  // sample_step: one token at position scalars[3].
  json::Value embed1 = embed;
  embed1.set("rows", 1);
  embed1.set("decode", true);
  b.op("sample_step", "embed_fwd", {"token", "emb", "pos0", "sx"}, embed1);
  b.op("sample_step", "gemm", {"sx", "W", "slogits"},
       gemmAttrs(1, V, D, false, false));
  b.io("sample_step", "inputs", "token", "token");
  b.io("sample_step", "outputs", "logits", "slogits");
  return b;
}

ArtifactBuilder attentionBuilder(int64_t S) {
  const int64_t B = 4, T = 16, V = 256, D = 32, H = 4, dh = 8, M = B * T;
  ArtifactBuilder b("attn1", V, T, D, B);
  b.setSampleBatch(S);
  const std::string pred =
      "predicate(near_or_summary;(or (slt (sub q k) 2) (eq (rems k 4) 3)))";
  b.layout("local4", "local(4)", T, 4);
  b.layout("nearsum", pred, T, 4);
  b.buffer("tokens", "i32", {B, T}, false);
  b.buffer("targets", "i32", {B, T}, false);
  b.buffer("losses", "f32", {M}, false);
  b.param("emb", {V, D}, 0.1, false);
  b.param("pos0", {T, D}, 0.02, false);
  for (const char *w : {"Wq", "Wk", "Wv"})
    b.param(w, {D, D}, 0.15, true);
  b.param("Wout", {D, V}, 0.1, true);
  for (const char *n : {"x", "q", "k", "v", "o", "h", "dh", "dq", "dk", "dv"})
    b.buffer(n, "f32", {M, D}, false);
  b.buffer("lse", "f32", {B, H, T}, false);
  b.buffer("logits", "f32", {M, V}, false);
  b.buffer("dlogits", "f32", {M, V}, false);
  b.buffer("gnorm", "f32", {1}, false);
  // sample_step
  b.buffer("token", "i32", {S}, false);
  for (const char *n : {"sx", "sq", "sk", "sv", "so", "sh"})
    b.buffer(n, "f32", {S, D}, false);
  b.buffer("kcache", "f32", {S, T, D}, true);
  b.buffer("vcache", "f32", {S, T, D}, true);
  b.buffer("slogits", "f32", {S, V}, false);

  json::Value embed = obj({{"rows", M},
                           {"T", T},
                           {"D", D},
                           {"V", V},
                           {"pos", json::Value(json::Value::Array{json::Value(
                                       json::Value::Array{1, T})})}});
  json::Value layouts = json::Value(
      json::Value::Array{json::Value("local4"), json::Value("nearsum")});
  json::Value attn = obj({{"B", B},
                          {"T", T},
                          {"H", H},
                          {"dk", dh},
                          {"dv", dh},
                          {"scale", 1.0 / std::sqrt(double(dh))},
                          {"layouts", layouts},
                          {"heads_per_layout", 2}});
  const char *tr = "train_step";
  b.op(tr, "zero", {"emb.grad"}, obj({{"count", V * D}}));
  b.op(tr, "zero", {"pos0.grad"}, obj({{"count", T * D}}));
  b.op(tr, "embed_fwd", {"tokens", "emb", "pos0", "x"}, embed);
  b.op(tr, "gemm", {"x", "Wq", "q"}, gemmAttrs(M, D, D, false, false));
  b.op(tr, "gemm", {"x", "Wk", "k"}, gemmAttrs(M, D, D, false, false));
  b.op(tr, "gemm", {"x", "Wv", "v"}, gemmAttrs(M, D, D, false, false));
  b.op(tr, "attention_fwd", {"q", "k", "v", "o", "lse"}, attn);
  b.op(tr, "add", {"x", "o", "h"}, obj({{"count", M * D}}));
  b.op(tr, "gemm", {"h", "Wout", "logits"}, gemmAttrs(M, V, D, false, false));
  b.op(tr, "xent_fwd_bwd", {"logits", "targets", "losses", "dlogits"},
       obj({{"M", M}, {"V", V}, {"scale", 1.0 / M}}));
  b.op(tr, "gemm", {"h", "dlogits", "Wout.grad"},
       gemmAttrs(D, V, M, true, false));
  b.op(tr, "gemm", {"dlogits", "Wout", "dh"}, gemmAttrs(M, D, V, false, true));
  // h = x + o: do = dh, and dx = dh + the q, k, v paths (accumulated below).
  b.op(tr, "attention_bwd", {"q", "k", "v", "o", "lse", "dh", "dq", "dk", "dv"},
       attn);
  for (const char *w : {"q", "k", "v"}) {
    std::string W = std::string("W") + w, g = std::string("d") + w;
    b.op(tr, "gemm", {"x", g, W + ".grad"}, gemmAttrs(D, D, M, true, false));
    b.op(tr, "gemm", {g, W, "dh"}, gemmAttrs(M, D, D, false, true, 1.0));
  }
  b.op(tr, "embed_bwd", {"tokens", "dh", "emb.grad", "pos0.grad"}, embed);
  optimizer(b, {{"emb", V * D, false},
                {"pos0", T * D, false},
                {"Wq", D * D, true},
                {"Wk", D * D, true},
                {"Wv", D * D, true},
                {"Wout", D * V, true}});
  b.io(tr, "inputs", "tokens", "tokens");
  b.io(tr, "inputs", "targets", "targets");
  b.io(tr, "outputs", "losses", "losses");

  const char *ev = "eval_step";
  b.op(ev, "embed_fwd", {"tokens", "emb", "pos0", "x"}, embed);
  b.op(ev, "gemm", {"x", "Wq", "q"}, gemmAttrs(M, D, D, false, false));
  b.op(ev, "gemm", {"x", "Wk", "k"}, gemmAttrs(M, D, D, false, false));
  b.op(ev, "gemm", {"x", "Wv", "v"}, gemmAttrs(M, D, D, false, false));
  b.op(ev, "attention_fwd", {"q", "k", "v", "o", "lse"}, attn);
  b.op(ev, "add", {"x", "o", "h"}, obj({{"count", M * D}}));
  b.op(ev, "gemm", {"h", "Wout", "logits"}, gemmAttrs(M, V, D, false, false));
  b.op(ev, "xent_fwd", {"logits", "targets", "losses"},
       obj({{"M", M}, {"V", V}}));
  b.io(ev, "inputs", "tokens", "tokens");
  b.io(ev, "inputs", "targets", "targets");
  b.io(ev, "outputs", "losses", "losses");

  const char *sa = "sample_step";
  json::Value embed1 = embed;
  embed1.set("rows", S);
  embed1.set("decode", true);
  json::Value dec = obj({{"B", S},
                         {"T", T},
                         {"H", H},
                         {"dk", dh},
                         {"dv", dh},
                         {"scale", 1.0 / std::sqrt(double(dh))},
                         {"layouts", layouts},
                         {"heads_per_layout", 2}});
  b.op(sa, "embed_fwd", {"token", "emb", "pos0", "sx"}, embed1);
  b.op(sa, "gemm", {"sx", "Wq", "sq"}, gemmAttrs(S, D, D, false, false));
  b.op(sa, "gemm", {"sx", "Wk", "sk"}, gemmAttrs(S, D, D, false, false));
  b.op(sa, "gemm", {"sx", "Wv", "sv"}, gemmAttrs(S, D, D, false, false));
  b.op(sa, "kv_store", {"sk", "kcache"}, obj({{"B", S}, {"D", D}, {"T", T}}));
  b.op(sa, "kv_store", {"sv", "vcache"}, obj({{"B", S}, {"D", D}, {"T", T}}));
  b.op(sa, "attention_decode", {"sq", "kcache", "vcache", "so"}, dec);
  b.op(sa, "add", {"sx", "so", "sh"}, obj({{"count", S * D}}));
  b.op(sa, "gemm", {"sh", "Wout", "slogits"}, gemmAttrs(S, V, D, false, false));
  b.io(sa, "inputs", "token", "token");
  b.io(sa, "outputs", "logits", "slogits");
  return b;
}

std::string trainingText() {
  std::ifstream f("/usr/share/common-licenses/GPL-3", std::ios::binary);
  if (f) {
    std::string s((std::istreambuf_iterator<char>(f)),
                  std::istreambuf_iterator<char>());
    if (s.size() > 10000)
      return s;
  }
  const std::string para =
      "The quick brown fox jumps over the lazy dog. A journey of a thousand "
      "miles begins with a single step. It was the best of times, it was the "
      "worst of times, it was the age of wisdom, it was the age of "
      "foolishness, it was the epoch of belief, it was the epoch of "
      "incredulity, it was the season of Light, it was the season of "
      "Darkness, it was the spring of hope, it was the winter of despair.\n";
  std::string s;
  while (s.size() < 20000)
    s += para;
  return s;
}

} // namespace stc::rt::test
