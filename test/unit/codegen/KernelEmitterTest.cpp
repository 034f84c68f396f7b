//===- KernelEmitterTest.cpp - Every op kind emits and compiles -----------===//
//
// For every op kind, with the tiny example model's shapes and with large ones,
// in f32 and bf16: emit the kernel, check the launch shape and the ABI, and
// compile it with NVRTC for sm_90a (no GPU needed). The kernels' numerics are
// checked against the CPU reference executor on a GPU elsewhere.
//
//===----------------------------------------------------------------------===//

#include "codegen/KernelEmitter.h"
#include "NvrtcCompile.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <regex>

namespace stc::codegen::test {
namespace {

using abi::Ints;
using pattern::Pattern;

//===----------------------------------------------------------------------===//
// Op builders
//===----------------------------------------------------------------------===//

/// Argument dtypes from a signature: 'F' a float slot (f32 or bf16 as the
/// model's dtype), 'f' an f32-only slot (lse, mean, rstd, losses, moments),
/// 'i' i32.
std::vector<std::string> dtypes(const std::string &sig, const std::string &dt) {
  std::vector<std::string> out;
  for (char c : sig)
    out.push_back(c == 'F' ? dt : c == 'f' ? "f32" : "i32");
  return out;
}

struct Case {
  std::string name; ///< test name suffix
  OpDesc op;
};

void PrintTo(const Case &c, std::ostream *os) { *os << c.name; }

LayoutDesc layout(const std::string &name, Pattern p, int64_t n,
                  int64_t block) {
  return LayoutDesc{name, std::move(p), n, block};
}

Pattern predicate(const std::string &name, const std::string &sexpr) {
  auto p = pattern::Predicate::parse(sexpr, nullptr);
  EXPECT_TRUE(p.has_value()) << sexpr;
  return Pattern::predicate(name, p ? *p : pattern::Predicate());
}

/// A model's shapes.
struct Shapes {
  std::string tag;
  int64_t B, T, C, H, hd, V, ffn;
  std::vector<std::pair<int64_t, int64_t>>
      pos; ///< embedding position components
};

Shapes tinyShapes() { return {"tiny", 4, 64, 64, 4, 16, 256, 256, {{1, 64}}}; }
Shapes largeShapes() {
  // enwik8-like sizes; a GPT-2 vocabulary (not a multiple of anything) and a
  // factorized position embedding (row, column of a 96 x 128 grid).
  return {"large", 2, 12288, 512, 8, 64, 50257, 2048, {{1, 128}, {128, 96}}};
}

OpDesc makeOp(const std::string &kind, const std::string &name,
              const std::string &sig, const std::string &dt,
              std::map<std::string, AttrValue> attrs,
              std::vector<LayoutDesc> layouts = {}) {
  OpDesc op;
  op.kind = kind;
  op.kernelName = name;
  op.argDtypes = dtypes(sig, dt);
  op.attrs = std::move(attrs);
  op.layouts = std::move(layouts);
  return op;
}

std::vector<std::string> layoutNames(const std::vector<LayoutDesc> &ls) {
  std::vector<std::string> n;
  for (const auto &l : ls)
    n.push_back(l.name);
  return n;
}

/// The three attention ops over `layouts` (heads split evenly among them).
void addAttention(std::vector<Case> &cases, const std::string &prefix,
                  const std::string &dt, int64_t B, int64_t T, int64_t H,
                  int64_t dk, int64_t dv,
                  const std::vector<LayoutDesc> &layouts) {
  const int64_t hpl = H / static_cast<int64_t>(layouts.size());
  const double scale = 1.0 / std::sqrt(static_cast<double>(dk));
  std::map<std::string, AttrValue> a = {{"B", B},
                                        {"T", T},
                                        {"H", H},
                                        {"dk", dk},
                                        {"dv", dv},
                                        {"scale", scale},
                                        {"layouts", layoutNames(layouts)},
                                        {"heads_per_layout", hpl}};
  std::string n = prefix + "_" + dt;
  cases.push_back(
      {n + "_attention_fwd",
       makeOp("attention_fwd", n + "_attention_fwd", "FFFFf", dt, a, layouts)});
  cases.push_back(
      {n + "_attention_bwd", makeOp("attention_bwd", n + "_attention_bwd",
                                    "FFFFfFFFF", dt, a, layouts)});
  cases.push_back({n + "_attention_decode",
                   makeOp("attention_decode", n + "_attention_decode", "FFFF",
                          dt, a, layouts)});
  a["splits"] = int64_t(4);
  cases.push_back({n + "_attention_decode_split",
                   makeOp("attention_decode_split",
                          n + "_attention_decode_split", "FFFff", dt, a,
                          layouts)});
  std::map<std::string, AttrValue> c = {
      {"B", a["B"]}, {"H", a["H"]}, {"dv", a["dv"]}, {"splits", int64_t(4)}};
  cases.push_back({n + "_attention_decode_combine",
                   makeOp("attention_decode_combine",
                          n + "_attention_decode_combine", "ffF", dt, c)});
}

/// The unfused attention chain's kinds over layouts of T positions, with
/// score modifications (a temperature, a soft cap and ALiBi) on score_mod.
void addUnfused(std::vector<Case> &cases, const std::string &prefix,
                const std::string &dt, int64_t B, int64_t T, int64_t H,
                int64_t dk, int64_t dv, const std::vector<LayoutDesc> &layouts) {
  const std::string n = prefix + "_" + dt + "_";
  const std::map<std::string, AttrValue> bth = {{"B", B}, {"T", T}, {"H", H}};
  auto with = [&](std::map<std::string, AttrValue> extra) {
    extra.insert(bth.begin(), bth.end());
    return extra;
  };
  const double scale = 1.0 / std::sqrt(static_cast<double>(dk));
  auto add = [&](const std::string &kind, const std::string &sig,
                 std::map<std::string, AttrValue> attrs,
                 const std::vector<LayoutDesc> &ls = {},
                 const std::string &variant = "") {
    std::string name = n + kind + variant;
    cases.push_back({name, makeOp(kind, name, sig, dt, std::move(attrs), ls)});
  };
  add("attention_scores", "FFF", with({{"dk", dk}, {"scale", scale}}));
  add("attention_scores_bwd", "FFFFF", with({{"dk", dk}, {"scale", scale}}));
  add("score_mod", "FF", with({{"scale", 0.5}}), {}, "_temperature");
  add("score_mod", "FF",
      with({{"softcap", 30.0}, {"alibi", 8.0}, {"alibi_first", true}}));
  add("score_mod_bwd", "FFF", with({{"softcap", 30.0}, {"alibi", 8.0}}));
  add("masked_softmax", "FF",
      with({{"layouts", layoutNames(layouts)},
            {"heads_per_layout", H / static_cast<int64_t>(layouts.size())}}),
      layouts);
  add("masked_softmax_bwd", "FFF", with({}));
  add("weighted_sum", "FFF", with({{"dv", dv}}));
  add("weighted_sum_bwd", "FFFFF", with({{"dv", dv}}));
}

/// Every non-attention op kind with a model's shapes.
void addModelOps(std::vector<Case> &cases, const Shapes &s,
                 const std::string &dt) {
  const int64_t rows = s.B * s.T, D = s.C;
  const std::string p = s.tag + "_" + dt + "_";
  auto add = [&](const std::string &variant, const std::string &kind,
                 const std::string &sig,
                 std::map<std::string, AttrValue> attrs) {
    std::string name = p + variant;
    cases.push_back({name, makeOp(kind, name, sig, dt, std::move(attrs))});
  };
  std::string posSig(s.pos.size(), 'F');
  add("zero", "zero", "F", {{"count", rows * D}});
  add("zero_i32", "zero", "i", {{"count", rows}});
  add("zero_f32", "zero", "f", {{"count", int64_t(1)}});
  add("embed_fwd", "embed_fwd", "iF" + posSig + "F",
      {{"rows", rows}, {"T", s.T}, {"D", D}, {"V", s.V}, {"pos", s.pos}});
  add("embed_fwd_nopos", "embed_fwd", "iFF",
      {{"rows", rows},
       {"T", s.T},
       {"D", D},
       {"V", s.V},
       {"pos", std::vector<std::pair<int64_t, int64_t>>{}}});
  add("embed_fwd_decode", "embed_fwd", "iF" + posSig + "F",
      {{"rows", int64_t(1)},
       {"T", s.T},
       {"D", D},
       {"V", s.V},
       {"pos", s.pos},
       {"decode", true}});
  add("embed_bwd", "embed_bwd", "iFF" + posSig,
      {{"rows", rows}, {"T", s.T}, {"D", D}, {"V", s.V}, {"pos", s.pos}});
  add("layer_norm_fwd", "layer_norm_fwd", "FFFFff",
      {{"M", rows}, {"C", D}, {"eps", 1e-5}});
  add("layer_norm_bwd", "layer_norm_bwd", "FFffFFFF",
      {{"M", rows}, {"C", D}, {"accumulate", true}});
  add("layer_norm_bwd_noacc", "layer_norm_bwd", "FFffFFFF",
      {{"M", rows}, {"C", D}, {"accumulate", false}});
  add("layer_norm_bwd_dropout", "layer_norm_bwd", "FFffFFFFF",
      {{"M", rows},
       {"C", D},
       {"accumulate", true},
       {"dropout", true},
       {"rate", 0.1},
       {"salt", int64_t(7)}});
  add("dropout_layer_norm_fwd", "dropout_layer_norm_fwd", "FFFFFFff",
      {{"M", rows}, {"C", D}, {"eps", 1e-5}, {"rate", 0.1}, {"salt", int64_t(7)}});
  add("bias_grad", "bias_grad", "FF", {{"M", rows}, {"N", s.ffn}});
  add("bias_grad_vocab", "bias_grad", "FF", {{"M", rows}, {"N", s.V}});
  add("gelu_fwd", "gelu_fwd", "FF", {{"count", rows * s.ffn}});
  add("gelu_bwd", "gelu_bwd", "FFF",
      {{"count", rows * s.ffn}, {"accumulate", false}});
  add("gelu_bwd_acc", "gelu_bwd", "FFF",
      {{"count", rows * s.ffn}, {"accumulate", true}});
  add("add", "add", "FFF", {{"count", rows * D}});
  add("accumulate", "accumulate", "FF", {{"count", rows * D}});
  add("dropout_fwd", "dropout_fwd", "FF",
      {{"count", rows * D}, {"rate", 0.1}, {"salt", int64_t(3)}});
  add("dropout_bwd", "dropout_bwd", "FF",
      {{"count", rows * D}, {"rate", 0.1}, {"salt", int64_t(3)}});
  add("dropout_fwd_rate0", "dropout_fwd", "FF",
      {{"count", rows * s.ffn}, {"rate", 0.0}, {"salt", int64_t(0xffffffff)}});
  add("xent_fwd", "xent_fwd", "Fif", {{"M", rows}, {"V", s.V}});
  add("xent_fwd_bwd", "xent_fwd_bwd", "FifF",
      {{"M", rows}, {"V", s.V}, {"scale", 1.0 / static_cast<double>(rows)}});
  add("sumsq", "sumsq", "Ff", {{"counts", Ints{s.V * D}}, {"accumulate", false}});
  add("sumsq_acc", "sumsq", "FFFf",
      {{"counts", Ints{D, s.V * D, 3}}, {"accumulate", true}});
  add("adamw_group", "adamw", "FFFFfffff",
      {{"counts", Ints{s.V * D, D}},
       {"decay", Ints{1, 0}},
       {"beta1", 0.9},
       {"beta2", 0.95},
       {"eps", 1e-8},
       {"weight_decay", 0.1},
       {"clip", 1.0}});
  add("adamw", "adamw", "FFfff",
      {{"counts", Ints{s.V * D}},
       {"decay", Ints{1}},
       {"beta1", 0.9},
       {"beta2", 0.95},
       {"eps", 1e-8},
       {"weight_decay", 0.1},
       {"clip", 1.0}});
  add("kv_store", "kv_store", "FF", {{"B", s.B}, {"D", s.H * s.hd}, {"T", s.T}});
}

std::vector<Case> allCases() {
  std::vector<Case> cases;
  for (const std::string dt : {"f32", "bf16"}) {
    // The tiny example model: local(8) and strided(8), two heads each, at
    // block 64 (one block: T = 64) and block 16.
    Shapes t = tinyShapes();
    addModelOps(cases, t, dt);
    for (int64_t block : {64, 16})
      addAttention(cases, "tiny_b" + std::to_string(block), dt, t.B, t.T, t.H,
                   t.hd, t.hd,
                   {layout("local8", Pattern::local(8), t.T, block),
                    layout("strided8", Pattern::strided(8), t.T, block)});

    // Large shapes.
    Shapes l = largeShapes();
    addModelOps(cases, l, dt);
    const int64_t T = l.T;
    addAttention(cases, "large_fixed", dt, l.B, T, l.H, l.hd, l.hd,
                 {layout("fixed", Pattern::fixed(128, 32), T, 128)});
    addAttention(
        cases, "large_predicate", dt, l.B, T, l.H, l.hd, l.hd,
        {layout("pred",
                predicate("near_or_summary",
                          "(or (slt (sub q k) 256) (eq (rems k 128) 127))"),
                T, 128)});
    addAttention(
        cases, "large_union", dt, l.B, T, l.H, l.hd, l.hd,
        {layout("union",
                Pattern::unionOf({Pattern::local(128), Pattern::strided(128)}),
                T, 128)});
    {
      std::vector<std::pair<int64_t, int64_t>> blocks;
      for (int64_t r = 0; r < T / 256; ++r) {
        blocks.push_back({r, r});
        blocks.push_back({r, 0});
        if (r >= 3)
          blocks.push_back({r, r - 3});
      }
      // Pattern blocks of 256 tiled by layout blocks of 128: the kernel needs
      // the table for the partial blocks on the diagonal.
      addAttention(
          cases, "large_blocks", dt, l.B, T, l.H, l.hd, l.hd,
          {layout("blocks", Pattern::blockLayout(256, blocks), T, 128)});
    }
    addAttention(cases, "large_two_layouts", dt, l.B, T, l.H, l.hd, l.hd,
                 {layout("fixed", Pattern::fixed(128, 32), T, 128),
                  layout("local", Pattern::local(512), T, 64)});
  }
  // Head dims 8 .. 256 (not only powers of two), ragged T, block sizes that
  // force fewer rows per CTA (48: 8, 20: 4, 7: 1).
  const std::vector<std::pair<int64_t, int64_t>> dims = {
      {8, 8},     {24, 40},  {104, 72}, {128, 128},
      {256, 256}, {256, 64}, {64, 256}};
  for (const auto &d : dims)
    addAttention(
        cases,
        "dims" + std::to_string(d.first) + "x" + std::to_string(d.second),
        "f32", 2, 1000, 4, d.first, d.second,
        {layout("u",
                Pattern::unionOf({Pattern::local(50), Pattern::fixed(48, 8)}),
                1000, 48),
         layout("s", Pattern::strided(20), 1000, 20)});
  addAttention(cases, "dims256_bf16", "bf16", 1, 333, 2, 256, 256,
               {layout("c", Pattern::causal(), 333, 7)});
  for (const std::string dt : {"f32", "bf16"})
    addUnfused(cases, "unfused", dt, 2, 100, 4, 16, 24,
               {layout("local", Pattern::local(8), 100, 16),
                layout("strided", Pattern::strided(8), 100, 16)});
  return cases;
}

//===----------------------------------------------------------------------===//
// Emit + compile every case
//===----------------------------------------------------------------------===//

class EmitAndCompile : public ::testing::TestWithParam<Case> {};

int64_t expectedParams(const OpDesc &op) {
  return static_cast<int64_t>(op.argDtypes.size()) +
         6 * static_cast<int64_t>(op.layouts.size()) + 1;
}

TEST_P(EmitAndCompile, Kernel) {
  const OpDesc &op = GetParam().op;
  std::string err;
  auto ks = emitKernel(op, &err);
  ASSERT_TRUE(ks.has_value()) << op.kind << " " << op.kernelName << ": " << err;
  EXPECT_EQ(ks->entry, op.kernelName);

  // Launch shape.
  const int64_t threads = ks->block[0] * ks->block[1] * ks->block[2];
  EXPECT_GE(threads, 32);
  EXPECT_LE(threads, 1024);
  EXPECT_EQ(threads % 32, 0);
  EXPECT_GE(ks->grid[0], 1);
  EXPECT_LE(ks->grid[0], int64_t(2147483647));
  EXPECT_GE(ks->grid[1], 1);
  EXPECT_LE(ks->grid[1], 65535);
  EXPECT_GE(ks->grid[2], 1);
  EXPECT_LE(ks->grid[2], 65535);
  EXPECT_GE(ks->smem, 0);
  // The tensor-core attention kernels use more than the 48 KiB a block gets
  // by default (the executor raises the limit); everything else stays under.
  const bool mma =
      ks->source.find("attention_fwd_mma<") != std::string::npos ||
      ks->source.find("attention_bwd_mma<") != std::string::npos;
  EXPECT_LE(ks->smem, mma ? 227 * 1024 : 48 * 1024)
      << "shared memory beyond what the kernel kind may ask for";
  // __launch_bounds__(threads) or (threads, min CTAs per SM).
  EXPECT_TRUE(
      ks->source.find("__launch_bounds__(" + std::to_string(threads) + ")") !=
          std::string::npos ||
      ks->source.find("__launch_bounds__(" + std::to_string(threads) + ", ") !=
          std::string::npos);

  // Self-contained: no file includes but the toolkit's bf16 header, and only
  // when an argument is bf16.
  bool bf16 = false;
  for (const auto &d : op.argDtypes)
    bf16 |= d == "bf16";
  EXPECT_EQ(ks->source.find("#include \""), std::string::npos);
  EXPECT_EQ(ks->source.find("\n#include <cuda_bf16.h>\n") != std::string::npos,
            bf16);
  EXPECT_NE(ks->source.find("extern \"C\" __global__"), std::string::npos);

  // Deterministic emission.
  auto again = emitKernel(op, &err);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->source, ks->source);

  if (!haveNvrtc())
    GTEST_SKIP() << "built without the CUDA toolkit: NVRTC compile of "
                 << op.kernelName << " skipped";
  NvrtcResult r = compileWithNvrtc(*ks);
  ASSERT_TRUE(r.ok) << "NVRTC failed for kernel " << op.kernelName << " ("
                    << op.kind << "):\n"
                    << r.log;
  // The ABI: one parameter per argument, six per layout, then scalars.
  if (!r.ptx.empty()) {
    const int64_t n = expectedParams(op);
    EXPECT_NE(r.ptx.find(".entry " + op.kernelName + "("), std::string::npos)
        << "entry not found in PTX";
    EXPECT_NE(r.ptx.find(op.kernelName + "_param_" + std::to_string(n - 1)),
              std::string::npos)
        << "expected " << n << " parameters";
    EXPECT_EQ(r.ptx.find(op.kernelName + "_param_" + std::to_string(n)),
              std::string::npos)
        << "expected " << n << " parameters";
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, EmitAndCompile, ::testing::ValuesIn(allCases()),
                         [](const ::testing::TestParamInfo<Case> &info) {
                           return info.param.name;
                         });

TEST(KernelEmitter, CoversEveryKernelKind) {
  std::set<std::string> covered;
  for (const auto &c : allCases())
    covered.insert(c.op.kind);
  for (const char *k : {"zero",           "embed_fwd",       "embed_bwd",
                        "layer_norm_fwd", "layer_norm_bwd",  "bias_grad",
                        "dropout_layer_norm_fwd",
                        "gelu_fwd",       "gelu_bwd",        "add",
                        "accumulate",     "dropout_fwd",     "dropout_bwd",
                        "attention_fwd",  "attention_bwd",   "xent_fwd",
                        "xent_fwd_bwd",   "sumsq",           "adamw",
                        "kv_store",       "attention_decode",
                        "attention_scores", "attention_scores_bwd",
                        "score_mod",      "score_mod_bwd",   "masked_softmax",
                        "masked_softmax_bwd", "weighted_sum",
                        "weighted_sum_bwd"}) {
    EXPECT_TRUE(isKernelKind(k)) << k;
    EXPECT_TRUE(covered.count(k)) << k << " has no emit/compile case";
  }
  EXPECT_FALSE(isKernelKind("gemm"));
  EXPECT_FALSE(isKernelKind("softmax"));
}

//===----------------------------------------------------------------------===//
// Launch shapes and generated details
//===----------------------------------------------------------------------===//

OpDesc tinyAttention(const std::string &kind, int64_t block, int64_t dk = 16,
                     int64_t dv = 16) {
  std::map<std::string, AttrValue> a = {
      {"B", int64_t(4)},
      {"T", int64_t(64)},
      {"H", int64_t(4)},
      {"dk", dk},
      {"dv", dv},
      {"scale", 0.25},
      {"layouts", std::vector<std::string>{"l", "s"}},
      {"heads_per_layout", int64_t(2)}};
  std::string sig = kind == "attention_fwd"   ? "FFFFf"
                    : kind == "attention_bwd" ? "FFFFfFFFF"
                                              : "FFFF";
  return makeOp(kind, "k_" + kind, sig, "f32", a,
                {layout("l", Pattern::local(8), 64, block),
                 layout("s", Pattern::strided(8), 64, block)});
}

TEST(KernelEmitter, AttentionLaunchShapes) {
  std::string err;
  auto fwd = emitKernel(tinyAttention("attention_fwd", 16), &err);
  ASSERT_TRUE(fwd) << err;
  EXPECT_EQ(fwd->grid, (std::array<int64_t, 3>{64 / 8, 4, 4}));
  EXPECT_EQ(fwd->block, (std::array<int64_t, 3>{256, 1, 1}));
  // Ks [32][17] + Vs [32][17] + Qs [8][16] floats.
  EXPECT_EQ(fwd->smem, (32 * 17 * 2 + 8 * 16) * 4);
  EXPECT_NE(fwd->source.find("return (q - k < 8);"), std::string::npos);
  EXPECT_NE(fwd->source.find("return ((unsigned)(q - k) % 8u == 0u);"),
            std::string::npos);

  auto bwd = emitKernel(tinyAttention("attention_bwd", 16), &err);
  ASSERT_TRUE(bwd) << err;
  EXPECT_EQ(bwd->grid, (std::array<int64_t, 3>{2 * 64 / 8, 4, 4}));
  EXPECT_EQ(bwd->smem, (32 * (17 + 17 + 2) + 8 * 32) * 4);

  auto dec = emitKernel(tinyAttention("attention_decode", 16), &err);
  ASSERT_TRUE(dec) << err;
  EXPECT_EQ(dec->grid, (std::array<int64_t, 3>{4, 4, 1})); // heads, sequences
  EXPECT_EQ(dec->block, (std::array<int64_t, 3>{128, 1, 1}));
  EXPECT_EQ(dec->smem, 0);

  // Block 20: 4 rows per CTA (20 % 8 != 0).
  auto odd = emitKernel(tinyAttention("attention_fwd", 20), &err);
  ASSERT_TRUE(odd) << err;
  EXPECT_EQ(odd->block[0], 4 * 32);
  EXPECT_EQ(odd->grid[0], 16);

  // Head dim 256: smaller chunks to stay within 48 KB without opt-in.
  auto big = emitKernel(tinyAttention("attention_bwd", 16, 256, 256), &err);
  ASSERT_TRUE(big) << err;
  EXPECT_LE(big->smem, 48 * 1024);
}

// The bf16 forward and atomic backward at head size 64 and layout block 64
// run wgmma where they are compiled for sm_90a (what the CUDA executor does
// on sm_90), mma.sync with STC_TUNE_ATTN_{FWD,ATOMIC}_WGMMA=0 and at other
// head sizes.
/// A bf16 attention op of kind `kind` (argument signature `sig`): causal,
/// 300 positions, 2 heads of size d, layout block `block`.
OpDesc causalBf16Attention(const std::string &kind, const std::string &sig,
                           int64_t d, int64_t block = 64) {
  std::map<std::string, AttrValue> a = {
      {"B", int64_t(1)},  {"T", int64_t(300)},
      {"H", int64_t(2)},  {"dk", d},
      {"dv", d},          {"scale", 0.125},
      {"layouts", std::vector<std::string>{"c"}},
      {"heads_per_layout", int64_t(2)}};
  return makeOp(kind, "k_" + kind, sig, "bf16", a,
                {layout("c", Pattern::causal(), 300, block)});
}

TEST(KernelEmitter, AttentionWgmma) {
  const std::string kinds[2][3] = {
      {"attention_fwd", "FFFFf", "STC_TUNE_ATTN_FWD_WGMMA"},
      {"attention_bwd_atomic", "FFFfFffFF", "STC_TUNE_ATTN_ATOMIC_WGMMA"}};
  for (const auto &kind : kinds) {
  SCOPED_TRACE(kind[0]);
  auto fwd = [&](int64_t d) {
    return causalBf16Attention(kind[0], kind[1], d);
  };
  const char *knob = kind[2].c_str();
  std::string err;
  auto wg = emitKernel(fwd(64), &err);
  ASSERT_TRUE(wg) << err;
  EXPECT_NE(wg->source.find(" WGMMA = 1;"), std::string::npos);
  auto d32 = emitKernel(fwd(32), &err);
  ASSERT_TRUE(d32) << err;
  EXPECT_NE(d32->source.find(" WGMMA = 0;"), std::string::npos);
  ::setenv(knob, "0", 1);
  auto off = emitKernel(fwd(64), &err);
  ::setenv(knob, "1", 1);
  auto bad = emitKernel(fwd(32), &err);
  ::unsetenv(knob);
  ASSERT_TRUE(off) << err;
  EXPECT_NE(off->source.find(" WGMMA = 0;"), std::string::npos);
  EXPECT_FALSE(bad);
  EXPECT_NE(err.find(kind[2] + "=1 needs head size 64"), std::string::npos)
      << err;

  if (!haveNvrtc())
    GTEST_SKIP() << "built without the CUDA toolkit: NVRTC compile skipped";
  NvrtcResult r = compileWithNvrtc(*wg);
  ASSERT_TRUE(r.ok) << r.log;
  EXPECT_NE(r.ptx.find("wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16"),
            std::string::npos);
  EXPECT_EQ(r.ptx.find("mma.sync.aligned"), std::string::npos);
  NvrtcResult o = compileWithNvrtc(*off);
  ASSERT_TRUE(o.ok) << o.log;
  EXPECT_EQ(o.ptx.find("wgmma"), std::string::npos);
  EXPECT_NE(o.ptx.find("mma.sync.aligned.m16n8k16"), std::string::npos);
  if (kind[0] != "attention_bwd_atomic")
    continue;
  // dq by bulk reductions: the default of the wgmma backward only; 68 x 4
  // bytes more shared memory per query row.
  ::setenv("STC_TUNE_ATTN_ATOMIC_DQ_BULK", "0", 1);
  auto atomics = emitKernel(fwd(64), &err);
  ::setenv("STC_TUNE_ATTN_ATOMIC_DQ_BULK", "1", 1);
  auto bulk = emitKernel(fwd(64), &err);
  ::setenv("STC_TUNE_ATTN_ATOMIC_WGMMA", "0", 1);
  auto bulkNoWg = emitKernel(fwd(64), &err);
  ::unsetenv("STC_TUNE_ATTN_ATOMIC_WGMMA");
  ::unsetenv("STC_TUNE_ATTN_ATOMIC_DQ_BULK");
  ASSERT_TRUE(bulk) << err;
  ASSERT_TRUE(atomics) << err;
  EXPECT_EQ(bulk->source, wg->source);
  EXPECT_EQ(bulk->smem, atomics->smem + 64 * 68 * 4);
  EXPECT_EQ(off->smem, atomics->smem);
  EXPECT_FALSE(bulkNoWg);
  EXPECT_NE(err.find("STC_TUNE_ATTN_ATOMIC_DQ_BULK=1 needs the wgmma"),
            std::string::npos)
      << err;
  NvrtcResult rb = compileWithNvrtc(*bulk);
  ASSERT_TRUE(rb.ok) << rb.log;
  EXPECT_NE(rb.ptx.find("cp.reduce.async.bulk.global.shared::cta.bulk_group."
                        "add.f32"),
            std::string::npos);
  NvrtcResult ra = compileWithNvrtc(*atomics);
  ASSERT_TRUE(ra.ok) << ra.log;
  EXPECT_EQ(ra.ptx.find("cp.reduce.async.bulk"), std::string::npos);
  EXPECT_NE(ra.ptx.find("atom.global.add.v2.f32"), std::string::npos);
  }
}

// STC_TUNE_ATTN_FWD_WGS=2: the forward at head size 64 as two warpgroups
// of 64 query rows per CTA sharing each K/V tile, at layout block 64 too
// (each group in its own block row); refused at other head sizes.
TEST(KernelEmitter, AttentionForwardTwoWarpgroups) {
  auto op = [](int64_t d, int64_t block) {
    return causalBf16Attention("attention_fwd", "FFFFf", d, block);
  };
  std::string err, err32;
  auto one = emitKernel(op(64, 64), &err);
  ::setenv("STC_TUNE_ATTN_FWD_WGS", "2", 1);
  auto two = emitKernel(op(64, 64), &err);
  auto two128 = emitKernel(op(64, 128), &err);
  auto d32 = emitKernel(op(32, 64), &err32);
  ::unsetenv("STC_TUNE_ATTN_FWD_WGS");
  ASSERT_TRUE(one) << err;
  ASSERT_TRUE(two) << err;
  ASSERT_TRUE(two128) << err;
  EXPECT_NE(one->source.find(" WGS = 1;"), std::string::npos);
  EXPECT_EQ(one->block, (std::array<int64_t, 3>{128, 1, 1}));
  EXPECT_NE(two->source.find(" WGS = 2;"), std::string::npos);
  EXPECT_NE(two->source.find(" WGMMA = 1;"), std::string::npos);
  EXPECT_EQ(two->block, (std::array<int64_t, 3>{256, 1, 1}));
  EXPECT_EQ(two->grid, (std::array<int64_t, 3>{3, 2, 1})); // ceil(300 / 128)
  EXPECT_EQ(two->smem, (128 + 4 * 64) * 64 * 2);           // Q, 2 x (K, V)
  EXPECT_FALSE(d32);
  EXPECT_NE(err32.find("STC_TUNE_ATTN_FWD_WGS=2 needs head size 64"),
            std::string::npos)
      << err32;

  if (!haveNvrtc())
    GTEST_SKIP() << "built without the CUDA toolkit: NVRTC compile skipped";
  for (const auto *ks : {&*two, &*two128}) {
    NvrtcResult r = compileWithNvrtc(*ks);
    ASSERT_TRUE(r.ok) << r.log;
    EXPECT_NE(
        r.ptx.find("wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16"),
        std::string::npos);
    // The group cursors stay in registers (a run-time index into them
    // would put them on the stack).
    EXPECT_EQ(r.ptx.find(".local"), std::string::npos);
  }
}

TEST(KernelEmitter, ElementwiseLaunchShapes) {
  std::string err;
  auto k = emitKernel(
      makeOp("gelu_fwd", "g", "FF", "f32", {{"count", int64_t(1000)}}), &err);
  ASSERT_TRUE(k) << err;
  EXPECT_EQ(k->block, (std::array<int64_t, 3>{256, 1, 1}));
  EXPECT_EQ(k->grid, (std::array<int64_t, 3>{4, 1, 1}));
  EXPECT_EQ(k->smem, 0);
  // Huge counts: a capped, grid-stride grid.
  auto h = emitKernel(
      makeOp("add", "a", "FFF", "f32", {{"count", int64_t(1) << 34}}), &err);
  ASSERT_TRUE(h) << err;
  EXPECT_EQ(h->grid[0], 4096);

  auto ln = emitKernel(
      makeOp("layer_norm_bwd", "l", "FFffFFFF", "f32",
             {{"M", int64_t(100)}, {"C", int64_t(40)}, {"accumulate", false}}),
      &err);
  ASSERT_TRUE(ln) << err;
  // 13 CTAs of 8 rows for dx, then one CTA for dgamma / dbeta: one 64-column
  // tile, and 100 rows are too few to split (at least 64 per chunk).
  EXPECT_EQ(ln->grid[0], 13 + 1);
  // Column sums: 64-column tiles; 100 rows are one chunk (layer norm: 13
  // CTAs of 8 rows for dx first).
  for (int64_t C : {512, 2048, 8192}) {
    auto wide = emitKernel(makeOp("layer_norm_bwd", "l", "FFffFFFF", "f32",
                                  {{"M", int64_t(100)},
                                   {"C", C},
                                   {"accumulate", false}}),
                           &err);
    ASSERT_TRUE(wide) << err;
    EXPECT_EQ(wide->grid[0], 13 + C / 64) << "C = " << C;
    auto bias = emitKernel(makeOp("bias_grad", "b", "FF", "f32",
                                  {{"M", int64_t(100)}, {"N", C}}),
                           &err);
    ASSERT_TRUE(bias) << err;
    EXPECT_EQ(bias->grid[0], C / 64) << "N = " << C;
    EXPECT_EQ(bias->grid[1], 1) << "N = " << C;
  }
  // ... and the enwik8 step's rows split until about 528 CTAs: 66 chunks
  // of 373 rows at N = 512, a ragged last one; the same for layer norm.
  auto lnSplit = emitKernel(makeOp("layer_norm_bwd", "l", "FFffFFFF", "bf16",
                                   {{"M", int64_t(24576)},
                                    {"C", int64_t(512)},
                                    {"accumulate", false}}),
                            &err);
  ASSERT_TRUE(lnSplit) << err;
  EXPECT_EQ(lnSplit->grid[0], 24576 / 8 + 8 * 66);
  auto split = emitKernel(makeOp("bias_grad", "b", "FF", "bf16",
                                 {{"M", int64_t(24576)}, {"N", int64_t(512)}}),
                          &err);
  ASSERT_TRUE(split) << err;
  EXPECT_EQ(split->grid[0], 8);
  EXPECT_EQ(split->grid[1], 66);
  EXPECT_NE(split->source.find("rows_per_chunk = 373LL"), std::string::npos);

  auto xe = emitKernel(makeOp("xent_fwd", "x", "Fif", "f32",
                              {{"M", int64_t(77)}, {"V", int64_t(50257)}}),
                       &err);
  ASSERT_TRUE(xe) << err;
  EXPECT_EQ(xe->grid[0], 77);
  EXPECT_EQ(xe->block[0], 512);
}

TEST(KernelEmitter, DropoutUsesTheSharedHash) {
  std::string err;
  auto k = emitKernel(
      makeOp("dropout_fwd", "d", "FF", "f32",
             {{"count", int64_t(10)}, {"rate", 0.25}, {"salt", int64_t(9)}}),
      &err);
  ASSERT_TRUE(k) << err;
  EXPECT_NE(k->source.find("dropoutMix32"), std::string::npos);
  // floor(0.25 * 2^32) and 1 / 0.75 rounded to float.
  EXPECT_NE(k->source.find("threshold = 1073741824u"), std::string::npos);
  EXPECT_NE(k->source.find("scale = 1.33333337f"), std::string::npos);
  EXPECT_NE(k->source.find("salt = 9u"), std::string::npos);
}

TEST(KernelEmitter, EmbedBwdGrid) {
  std::string err;
  auto k = emitKernel(
      makeOp(
          "embed_bwd", "e", "iFFFF", "f32",
          {{"rows", int64_t(256)},
           {"T", int64_t(64)},
           {"D", int64_t(64)},
           {"V", int64_t(256)},
           {"pos", std::vector<std::pair<int64_t, int64_t>>{{1, 64}, {8, 8}}}}),
      &err);
  ASSERT_TRUE(k) << err;
  // 32 table CTAs (a warp per vocabulary row: 256 * 32 / 256), then
  // 64 * 64 / 256 and 8 * 64 / 256 for the position components.
  EXPECT_EQ(k->grid[0], 32 + 16 + 2);
  // No atomics: the table gradient is a deterministic gather.
  EXPECT_EQ(k->source.find("atomic_add(dtable"), std::string::npos);
}

//===----------------------------------------------------------------------===//
// Error paths
//===----------------------------------------------------------------------===//

void expectError(const OpDesc &op, const std::vector<std::string> &mentions) {
  std::string err;
  auto k = emitKernel(op, &err);
  EXPECT_FALSE(k.has_value()) << op.kind;
  for (const auto &m : mentions)
    EXPECT_NE(err.find(m), std::string::npos)
        << "error '" << err << "' lacks '" << m << "'";
}

// The checks of abi/Ops.def (attributes, dtypes, counts) have their own
// tests (test/unit/abi); an OpDesc goes through them before emission.
TEST(KernelEmitterErrors, UncheckedOpsAreRefused) {
  expectError(
      makeOp("softmax", "s", "FF", "f32", {{"count", int64_t(4)}}),
      {"softmax", "unknown op kind", "layer_norm_fwd", "attention_decode"});
  expectError(makeOp("layer_norm_fwd", "l", "FFFFff", "f32",
                     {{"M", int64_t(4)}, {"C", int64_t(8)}}),
              {"layer_norm_fwd", "attrs.eps: missing required attribute"});
  expectError(makeOp("add", "a", "FF", "f32", {{"count", int64_t(4)}}),
              {"add", "has 2 arguments; expected 3 (a, b, out)"});
  OpDesc f64 = makeOp("add", "a", "FFF", "f32", {{"count", int64_t(4)}});
  f64.argDtypes[1] = "f64";
  expectError(f64, {"add", "'f64'", "valid: f32, bf16, f16, i32"});
}

TEST(KernelEmitterErrors, GemmIsNotAKernel) {
  expectError(makeOp("gemm", "g", "FFF", "f32",
                     {{"M", int64_t(2)}, {"N", int64_t(2)}, {"K", int64_t(2)}}),
              {"gemm", "library call", "cuBLASLt"});
}

TEST(KernelEmitterErrors, LayoutMismatch) {
  OpDesc b = tinyAttention("attention_fwd", 16);
  b.layouts[1].n = 128;
  expectError(b, {"attention_fwd", "n=128", "T=64"});
  OpDesc c = tinyAttention("attention_bwd", 16);
  c.layouts.pop_back();
  expectError(c, {"attention_bwd", "'layouts'"});
  OpDesc d = tinyAttention("attention_fwd", 16);
  d.layouts[0].name = "other";
  expectError(d, {"attention_fwd", "'l'", "'other'"});
}

TEST(KernelEmitterErrors, BadKernelName) {
  OpDesc op =
      makeOp("add", "not a name", "FFF", "f32", {{"count", int64_t(4)}});
  expectError(op, {"add", "'not a name'", "identifier"});
}

} // namespace
} // namespace stc::codegen::test
