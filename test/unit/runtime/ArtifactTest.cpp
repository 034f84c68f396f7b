//===- ArtifactTest.cpp - Loading and validating artifacts ----------------===//
//
// A valid artifact (the bigram model, written the way the compiler would)
// loads; then each kind of damage is applied to a copy and the error message
// must name the problem.
//
//===----------------------------------------------------------------------===//

#include "test/unit/Support.h"
#include "RuntimeTestUtil.h"

#include "runtime/Artifact.h"
#include "abi/Hash.h"

#include <gtest/gtest.h>

#include <functional>

using namespace stc::rt;
using namespace stc::rt::test;

namespace {

json::Value &bufferJson(json::Value &m, const std::string &name) {
  for (auto &b : m.find("buffers")->asArray())
    if (b.find("name")->asString() == name)
      return b;
  throw std::runtime_error("no buffer " + name);
}

/// A buffer's index in the manifest (what ops and entries refer to it by).
json::Value bufferIndex(json::Value &m, const std::string &name) {
  const auto &bs = m.find("buffers")->asArray();
  for (size_t i = 0; i < bs.size(); ++i)
    if (bs[i].find("name")->asString() == name)
      return json::Value(static_cast<int64_t>(i));
  throw std::runtime_error("no buffer " + name);
}

json::Value &opJson(json::Value &m, const std::string &entry, size_t i) {
  return m.find("entries")->find(entry)->find("ops")->asArray().at(i);
}

class ArtifactDamage : public ::testing::Test {
protected:
  void SetUp() override { builder_ = bigramBuilder(); }

  /// Writes the manifest after `damage`, loads it, returns the error.
  std::string loadError(const std::function<void(json::Value &)> &damage,
                        const LoadOptions &opts = {}) {
    std::string dir = builder_.writeTemp("damage");
    json::Value m = builder_.manifest();
    damage(m);
    writeFile(dir + "/manifest.json", json::write(m, 2));
    auto a = Artifact::load(dir, opts);
    EXPECT_FALSE(a.hasValue()) << "damaged artifact loaded";
    return a ? std::string() : a.status().message();
  }

  ArtifactBuilder builder_ = bigramBuilder();
};

TEST(Artifact, ValidBigramLoads) {
  std::string dir = bigramBuilder().writeTemp("valid");
  auto a = Artifact::load(dir);
  ASSERT_TRUE(a.hasValue()) << a.status().message();
  EXPECT_EQ(a->model.vocab, 256);
  EXPECT_EQ(a->model.context, 16);
  EXPECT_EQ(a->model.batch, 4);
  EXPECT_EQ(a->params.size(), 3u);
  EXPECT_EQ(a->model.paramCount, 256 * 32 + 16 * 32 + 32 * 256);
  const Entry &tr = a->entry(EntryKind::Train);
  ASSERT_TRUE(tr.present);
  EXPECT_EQ(tr.ops[3].kind, OpKind::Gemm);
  EXPECT_EQ(tr.ops[3].kernel, -1);
  EXPECT_EQ(tr.ops[2].kind, OpKind::EmbedFwd);
  ASSERT_EQ(tr.ops[2].attrs.pos.size(), 1u);
  EXPECT_EQ(tr.ops[2].attrs.pos[0], std::make_pair(int64_t(1), int64_t(16)));
  EXPECT_GE(tr.ops[2].kernel, 0);
  EXPECT_EQ(a->buffers[tr.input("tokens")].name, "tokens");
  EXPECT_EQ(a->layouts.size(), 1u);
  EXPECT_TRUE(a->entry(EntryKind::Sample).ops[0].attrs.decode);
}

TEST(Artifact, ValidAttentionModelLoads) {
  std::string dir = attentionBuilder().writeTemp("valid-attn");
  auto a = Artifact::load(dir);
  ASSERT_TRUE(a.hasValue()) << a.status().message();
  EXPECT_EQ(a->layouts.size(), 2u);
  // local(4) over n=16, block 4: each block row r lists columns r-1 and r.
  const Layout &l = a->layouts[0];
  EXPECT_EQ(l.blocks.colIdx, (std::vector<int64_t>{0, 0, 1, 1, 2, 2, 3}));
  ASSERT_TRUE(l.hasColumns); // attention_bwd reads it
  EXPECT_EQ(l.colPtr, (std::vector<int64_t>{0, 2, 4, 6, 7}));
  EXPECT_EQ(l.rowIdx, (std::vector<int64_t>{0, 1, 1, 2, 2, 3, 3}));
  EXPECT_EQ(a->layouts[1].pattern.kind(),
            stc::pattern::Pattern::Kind::Predicate);
}

/// Loads attentionBuilder's artifact after `edit`; the error, or "" if it
/// loads.
std::string loadAttentionAfter(const std::function<void(json::Value &)> &edit) {
  ArtifactBuilder b = attentionBuilder();
  std::string dir = b.writeTemp("session");
  json::Value m = b.manifest();
  edit(m);
  writeFile(dir + "/manifest.json", json::write(m, 2));
  auto a = Artifact::load(dir);
  return a ? std::string() : a.status().message();
}

TEST(Artifact, SamplingCachesAreSessionBuffers) {
  // A cache that is neither persistent nor a session buffer holds nothing
  // at the start of a sample step, which reads it.
  EXPECT_MENTIONS(loadAttentionAfter([](json::Value &m) {
                    bufferJson(m, "kcache").set("persistent", false);
                  }),
                  "reads buffer 'kcache' (arg cache) before anything in "
                  "sample_step wrote it");
  // As a session buffer it is live for the whole sample step.
  EXPECT_EQ(loadAttentionAfter([](json::Value &m) {
              for (const char *c : {"kcache", "vcache"}) {
                bufferJson(m, c).set("persistent", false);
                bufferJson(m, c).set("session", true);
              }
            }),
            "");
  EXPECT_MENTIONS(loadAttentionAfter([](json::Value &m) {
                    bufferJson(m, "kcache").set("session", true);
                  }),
                  "'kcache'.session: is true but the buffer is persistent");
  // Only the sample step may use one.
  EXPECT_MENTIONS(loadAttentionAfter([](json::Value &m) {
                    bufferJson(m, "q").set("session", true);
                  }),
                  "train_step op 3 (gemm) uses buffer 'q', a sampling cache "
                  "(session buffer); only sample_step may");
}

TEST(Artifact, MissingOrMalformedManifest) {
  std::string dir = makeTempDir("empty");
  auto a = Artifact::load(dir);
  ASSERT_FALSE(a.hasValue());
  EXPECT_MENTIONS(a.status().message(), "cannot open manifest");
  EXPECT_MENTIONS(a.status().message(), "is this an artifact directory?");
  writeFile(dir + "/manifest.json", "{\n \"format\": \"stc-artifact\",\n}");
  a = Artifact::load(dir);
  ASSERT_FALSE(a.hasValue());
  EXPECT_MENTIONS(a.status().message(), "manifest.json: JSON 3:1");
}

TEST_F(ArtifactDamage, BadFormatAndVersion) {
  EXPECT_MENTIONS(
      loadError([](json::Value &m) { m.set("version", 99); }),
      "version: unsupported version 99; this runtime reads version " +
          std::to_string(stc::abi::kArtifactVersion));
  EXPECT_MENTIONS(loadError([](json::Value &m) { m.set("version", "1"); }),
                  "unsupported version \"1\"");
  EXPECT_MENTIONS(loadError([](json::Value &m) { m.set("format", "onnx"); }),
                  "format: is 'onnx'; expected 'stc-artifact'");
  EXPECT_MENTIONS(loadError([](json::Value &m) { m.erase("arena_bytes"); }),
                  "missing required key 'arena_bytes'");
}

TEST_F(ArtifactDamage, BufferOutOfBounds) {
  std::string e = loadError([](json::Value &m) {
    int64_t arena = m.find("arena_bytes")->asInt();
    bufferJson(m, "W").set("offset", arena);
  });
  EXPECT_MENTIONS(e, "'W'");
  EXPECT_MENTIONS(e, "lies outside the arena");
}

TEST_F(ArtifactDamage, BufferFields) {
  EXPECT_MENTIONS(
      loadError([](json::Value &m) { bufferJson(m, "x").set("offset", 100); }),
      "offset: is 100; must be a multiple of 256");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    bufferJson(m, "x").set(
                        "shape", json::Value(json::Value::Array{
                                     int64_t(1) << 40, int64_t(1) << 30}));
                  }),
                  "shape: holds more than 2^63 bytes; valid: at most");
  EXPECT_MENTIONS(
      loadError([](json::Value &m) { bufferJson(m, "x").set("bytes", 4); }),
      "unknown key 'bytes'");
  EXPECT_MENTIONS(
      loadError([](json::Value &m) { bufferJson(m, "x").set("dtype", "f64"); }),
      "is 'f64'; valid: f32, bf16, f16, i32");
  EXPECT_MENTIONS(
      loadError([](json::Value &m) { bufferJson(m, "x").set("name", "W"); }),
      "duplicate buffer name 'W'");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    bufferJson(m, "x").set("colour", "red");
                  }),
                  "unknown key 'colour'");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    bufferJson(m, "scalars").set("name", "scalarz");
                  }),
                  "no buffer named 'scalars'");
}

TEST_F(ArtifactDamage, PersistentOverlap) {
  std::string e = loadError([](json::Value &m) {
    bufferJson(m, "W.m").set("offset",
                             bufferJson(m, "emb").find("offset")->asInt());
  });
  EXPECT_MENTIONS(e, "persistent buffer");
  EXPECT_MENTIONS(e, "never share bytes");
}

TEST_F(ArtifactDamage, WrongArgCount) {
  std::string e = loadError([](json::Value &m) {
    opJson(m, "train_step", 3).find("args")->asArray().pop_back();
  });
  EXPECT_MENTIONS(e, "train_step op 3 (gemm): args: has 2 arguments; expected "
                     "3 (A, B, C)");
}

TEST_F(ArtifactDamage, UnknownOpAndAttrs) {
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    opJson(m, "train_step", 3).set("op", "conv2d");
                  }),
                  "train_step op 3.op: unknown op kind 'conv2d' (valid: zero,");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    opJson(m, "train_step", 4).find("attrs")->set("scale", "x");
                  }),
                  "train_step op 4 (xent_fwd_bwd): attrs.scale: must be a "
                  "number, got \"x\"");
  EXPECT_MENTIONS(
      loadError([](json::Value &m) {
        opJson(m, "train_step", 9).find("attrs")->set("beta1", 1.5);
      }),
      "attrs.beta1: is 1.5; valid: 0 <= beta1 < 1");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    opJson(m, "train_step", 3).find("attrs")->set("lda", 3);
                  }),
                  "unknown attribute 'lda'");
  EXPECT_MENTIONS(
      loadError([](json::Value &m) {
        opJson(m, "train_step", 3).find("attrs")->erase("K");
      }),
      "train_step op 3 (gemm): attrs.K: missing required attribute");
}

TEST_F(ArtifactDamage, ArgDtypeAndSize) {
  EXPECT_MENTIONS(
      loadError([](json::Value &m) { bufferJson(m, "x").set("dtype", "i32"); }),
      "train_step op 2 (embed_fwd): arg 3 (out): buffer 'x' has "
      "dtype i32; expected f32, bf16 or f16");
  // layer_norm-style size rule on embed: out must hold rows*D elements.
  EXPECT_MENTIONS(
      loadError([](json::Value &m) {
        opJson(m, "train_step", 2).find("attrs")->set("D", 16);
      }),
      "arg 1 (table): buffer 'emb' has 8192 elements; expected V*D = 4096");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    opJson(m, "train_step", 3).find("args")->asArray()[1] =
                        json::Value("W");
                  }),
                  "train_step op 3 (gemm): arg 1: must be an index into "
                  "buffers, got \"W\"");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    opJson(m, "train_step", 3).find("args")->asArray()[1] =
                        json::Value(99999);
                  }),
                  "arg 1: is 99999; valid: an index into buffers (0 .. ");
}

TEST_F(ArtifactDamage, BadKernelHash) {
  std::string dir = builder_.writeTemp("kernel");
  // Same size, one byte changed.
  std::string path = dir + "/kernels/k_zero.cu";
  std::string src = ArtifactBuilder::kernelSource("zero");
  src[3] = src[3] == 'x' ? 'y' : 'x';
  writeFile(path, src);
  auto a = Artifact::load(dir);
  ASSERT_FALSE(a.hasValue());
  EXPECT_MENTIONS(a.status().message(), "kernels[0] 'k_zero'.fnv1a64");
  EXPECT_MENTIONS(a.status().message(), "(the source was changed or damaged)");
  // CPU-only use may skip the file checks.
  LoadOptions noKernels;
  noKernels.checkKernelFiles = false;
  EXPECT_TRUE(Artifact::load(dir, noKernels).hasValue());
  // A missing file and a wrong size are reported too.
  writeFile(path, src + "more");
  EXPECT_MENTIONS(Artifact::load(dir).status().message(),
                  "has " + std::to_string(src.size() + 4) + " bytes");
  std::remove(path.c_str());
  EXPECT_MENTIONS(Artifact::load(dir).status().message(),
                  "cannot read kernel source");
}

TEST_F(ArtifactDamage, KernelTable) {
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    m.find("kernels")->asArray()[0].set("source",
                                                        "../../etc/passwd");
                  }),
                  "must be a relative path inside the artifact directory");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    m.find("kernels")->asArray()[0].set("fnv1a64", "XYZ");
                  }),
                  "must be 16 lowercase hex digits");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    opJson(m, "train_step", 0).set("kernel", 7);
                  }),
                  "train_step op 0 (zero).kernel: is 7; valid: an index into "
                  "kernels");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    opJson(m, "train_step", 3).set("kernel", 0);
                  }),
                  "gemm has no kernel (executors run it as a library call)");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    m.find("kernels")->asArray()[0].set(
                        "grid", json::Value(json::Value::Array{1, 1}));
                  }),
                  "kernels[0] 'k_zero'.grid: has 2 entries; expected 3");
}

TEST_F(ArtifactDamage, LayoutMismatch) {
  // The runtime rebuilds every layout from its pattern and checks the
  // manifest's block count and fingerprint against the result.
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    m.find("layouts")->asArray()[0].set("blocks", 8);
                  }),
                  "layouts[0] 'local4': does not match its pattern "
                  "'local(4)' rebuilt with n=16, block=4: blocks is 8, the "
                  "pattern gives 7");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    m.find("layouts")->asArray()[0].set("fnv1a64",
                                                        "0123456789abcdef");
                  }),
                  "fnv1a64 is 0123456789abcdef, the rebuilt tables hash to ");
  // Same count, other pattern: only the fingerprint tells.
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    m.find("layouts")->asArray()[0].set("pattern",
                                                        "strided(4)");
                  }),
                  "does not match its pattern 'strided(4)'");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    m.find("layouts")->asArray()[0].erase("fnv1a64");
                  }),
                  "missing required key 'fnv1a64'");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    m.find("layouts")->asArray()[0].set("pattern", "local(");
                  }),
                  "pattern: cannot parse 'local('");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    m.find("layouts")->asArray()[0].set("n", 1 << 21);
                  }),
                  "n: is 2097152; valid: 1 .. 1048576");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    m.find("layouts")->asArray()[0].set("row_ptr",
                                                        json::Value::array());
                  }),
                  "unknown key 'row_ptr'");
}

TEST_F(ArtifactDamage, MemoryPlan) {
  // dx placed on dlogits: both live at op 6 (dx = dlogits W^T).
  std::string e = loadError([](json::Value &m) {
    bufferJson(m, "dx").set("offset",
                            bufferJson(m, "dlogits").find("offset")->asInt());
  });
  EXPECT_MENTIONS(e, "share bytes but are both live at op 6 (gemm)");
  // Accumulating into a gradient nothing zeroed.
  e = loadError([](json::Value &m) {
    m.find("entries")
        ->find("train_step")
        ->find("ops")
        ->asArray()
        .erase(m.find("entries")
                   ->find("train_step")
                   ->find("ops")
                   ->asArray()
                   .begin());
  });
  EXPECT_MENTIONS(e, "train_step op 6 (embed_bwd): reads buffer 'emb.grad' "
                     "(arg dtable) before anything in train_step wrote it");
}

TEST_F(ArtifactDamage, EntriesAndParams) {
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    m.find("entries")
                        ->find("train_step")
                        ->find("inputs")
                        ->set("tokens", bufferIndex(m, "losses"));
                  }),
                  "inputs.tokens: buffer 'losses' is f32 with 64 elements; "
                  "expected i32 [batch, context]");
  // The sample step draws model.sample_batch sequences: its token input
  // holds one per sequence.
  EXPECT_MENTIONS(
      loadError([](json::Value &m) { m.find("model")->set("sample_batch", 3); }),
      "inputs.token: buffer 'token' is i32 with 1 elements; expected i32 "
      "[sample_batch]");
  EXPECT_MENTIONS(
      loadError([](json::Value &m) { m.find("model")->set("sample_batch", 0); }),
      "model.sample_batch");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    m.find("entries")->set("warmup_step",
                                           json::Value::object());
                  }),
                  "unknown key 'warmup_step'");
  // Op 9 is the adamw of emb, pos0 and W (decay 0, 0, 1).
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    json::Value decay = json::Value::array();
                    for (int d : {1, 0, 1})
                      decay.push(d);
                    opJson(m, "train_step", 9).find("attrs")->set("decay",
                                                                  decay);
                  }),
                  "attrs.decay: element 0 is 1 but parameter 'emb' has decay "
                  "false (must be 0)");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    // m_0 and m_2 swapped (emb and W have V x D elements).
                    auto &args = *opJson(m, "train_step", 9).find("args");
                    args.asArray()[6] = bufferIndex(m, "W.m");
                    args.asArray()[8] = bufferIndex(m, "emb.m");
                  }),
                  "arg 6 (m_0): is buffer 'W.m' but parameter 'emb' lists "
                  "'emb.m'");
  // emb given f32 master weights (a new persistent buffer at the arena's
  // end) that its adamw op does not update.
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    const int64_t end = m.find("arena_bytes")->asInt();
                    json::Value b = json::Value::object();
                    b.set("name", "emb.master");
                    b.set("dtype", "f32");
                    json::Value shape = json::Value::array();
                    shape.push(256);
                    shape.push(32);
                    b.set("shape", shape);
                    b.set("offset", end);
                    b.set("persistent", true);
                    m.find("buffers")->push(b);
                    m.set("arena_bytes", end + 256 * 32 * 4);
                    m.find("params")->asArray()[0].set(
                        "master", bufferIndex(m, "emb.master"));
                  }),
                  "attrs.master: is false but parameter 'emb' has master "
                  "weights (buffer 'emb.master')");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    json::Value decay = json::Value::array();
                    decay.push(0);
                    opJson(m, "train_step", 9).find("attrs")->set("decay",
                                                                  decay);
                  }),
                  "attrs.decay: lists 1 flags but counts lists 3 tensors");
  EXPECT_MENTIONS(
      loadError([](json::Value &m) { m.find("model")->set("param_count", 5); }),
      "model.param_count: is 5; the parameters' value buffers hold "
      "16896 elements");
  EXPECT_MENTIONS(loadError([](json::Value &m) {
                    m.find("params")->asArray()[0].find("init")->set("dist",
                                                                     "uniform");
                  }),
                  "is 'uniform'; valid: normal, zeros, ones");
}

TEST(Artifact, ParamFingerprintTracksShapes) {
  std::string d1 = bigramBuilder().writeTemp("fp1");
  auto a1 = Artifact::load(d1);
  auto a2 = Artifact::load(d1);
  ASSERT_TRUE(a1 && a2);
  EXPECT_EQ(a1->paramFingerprint(), a2->paramFingerprint());
  auto a3 = Artifact::load(attentionBuilder().writeTemp("fp2"));
  ASSERT_TRUE(a3);
  EXPECT_NE(a1->paramFingerprint(), a3->paramFingerprint());
}

/// An op kind added through the contract's table alone (abi::registerOpKind,
/// no validator code): artifacts using it load, and its row's rules reject
/// bad attributes and arguments with the same messages as a built-in kind.
TEST(Artifact, ToyOpKindThroughTheTableAlone) {
  stc::abi::OpSpec toy;
  toy.name = "toy_copy";
  toy.flags = stc::abi::Kernel;
  toy.args = {{"x", stc::abi::DTypes::Float, Role::In, "", "count", "", ""},
              {"y", stc::abi::DTypes::Float, Role::Out, "", "count", "", ""}};
  toy.attrs = {{"count", stc::abi::AttrType::Int, false, 1, 4096, 1, 0, 0,
                stc::abi::Bounds::Closed, 0}};
  stc::abi::registerOpKind(toy);

  auto withToy = [](json::Value attrs, const char *out) {
    ArtifactBuilder b = bigramBuilder();
    b.buffer("copy", "f32", {64, 32}, false);
    b.buffer("copy_i32", "i32", {64, 32}, false);
    b.op("eval_step", "toy_copy", {"x", out}, std::move(attrs));
    return Artifact::load(b.writeTemp("toy"));
  };
  json::Value good = json::Value::object();
  good.set("count", 64 * 32);
  auto a = withToy(good, "copy");
  ASSERT_TRUE(a.hasValue()) << a.status().message();
  EXPECT_EQ(opKindName(a->entry(EntryKind::Eval).ops.back().kind),
            std::string("toy_copy"));

  json::Value big = json::Value::object();
  big.set("count", 8192);
  auto b = withToy(big, "copy");
  ASSERT_FALSE(b.hasValue());
  EXPECT_MENTIONS(b.status().message(),
                  "(toy_copy): attrs.count: is 8192; valid: 1 .. 4096");
  auto c = withToy(good, "copy_i32");
  ASSERT_FALSE(c.hasValue());
  EXPECT_MENTIONS(c.status().message(),
                  "(toy_copy): arg 1 (y): buffer 'copy_i32' has dtype i32; "
                  "expected f32, bf16 or f16");
}

} // namespace
