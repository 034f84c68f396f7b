//===- OpSpecTest.cpp - The op table and the check against it -------------===//
//
// abi::checkOp is the one check of an op: the stk verifier runs it at compile
// time and the artifact validator at load time. These cases pin its rules
// (names, types, ranges, cross-attribute rules, argument count, dtypes,
// element counts, aliasing) and show that a kind added through the table
// alone is checked like a built-in one.
//
//===----------------------------------------------------------------------===//

#include "test/unit/Support.h"
#include "abi/Limits.h"
#include "abi/OpSpec.h"

#include <gtest/gtest.h>

namespace {

using namespace stc::abi;

/// Buffers of exactly the sizes the attributes imply, with these dtypes.
std::vector<BufferRef> buffersFor(const std::string &kind, const Attrs &attrs,
                                  std::vector<DType> dtypes) {
  Problem p;
  auto sig = checkAttrs(*findOpSpec(kind), attrs, &p);
  EXPECT_TRUE(sig.has_value()) << p.str();
  std::vector<BufferRef> refs;
  for (size_t i = 0; i < dtypes.size(); ++i)
    refs.push_back({"b" + std::to_string(i), static_cast<int>(i), dtypes[i],
                    sig && i < sig->second.size() ? sig->second[i].elements
                                                  : 1});
  return refs;
}

std::string problemOf(const std::string &kind, const Attrs &attrs,
                      const std::vector<BufferRef> &args) {
  Problem p;
  auto op = checkOp(kind, attrs, args, &p);
  EXPECT_FALSE(op.has_value()) << kind << " was accepted";
  return p.str();
}

const DType F = DType::F32, H = DType::BF16, I = DType::I32;

Attrs attention(int64_t dk = 16) {
  return {{"B", int64_t(2)},
          {"T", int64_t(64)},
          {"H", int64_t(4)},
          {"dk", dk},
          {"dv", int64_t(16)},
          {"scale", 0.25},
          {"layouts", Names{"l", "s"}},
          {"heads_per_layout", int64_t(2)}};
}

TEST(OpSpec, EveryBuiltinKindHasARowAndAName) {
  for (int k = 0; k < kNumOpKinds; ++k) {
    const OpSpec &s = opSpec(static_cast<OpKind>(k));
    EXPECT_EQ(static_cast<int>(s.kind), k);
    EXPECT_EQ(parseOpKind(s.name), s.kind);
    EXPECT_NE(s.hasKernel(), (s.flags & Library) != 0) << s.name;
    EXPECT_FALSE(s.args.empty()) << s.name;
  }
  EXPECT_FALSE(parseOpKind("softmax"));
  EXPECT_MENTIONS(validOpKinds(), "zero, embed_fwd");
}

TEST(OpSpec, AcceptsAValidOpAndDecodesIt) {
  Attrs a = {{"M", int64_t(8)}, {"N", int64_t(4)}, {"K", int64_t(2)},
             {"bias", true}};
  Problem p;
  auto op = checkOp("gemm", a, buffersFor("gemm", a, {F, F, F, F}), &p);
  ASSERT_TRUE(op) << p.str();
  EXPECT_EQ(op->kind(), OpKind::Gemm);
  EXPECT_EQ(op->decoded.M, 8);
  EXPECT_TRUE(op->decoded.bias);
  EXPECT_FALSE(op->decoded.transA); // optional, absent
  EXPECT_EQ(op->decoded.alpha, 1.0); // the row's default
  EXPECT_EQ(op->decoded.beta, 0.0);
  ASSERT_EQ(op->args.size(), 4u);
  EXPECT_EQ(op->args[2].name, "C");
  EXPECT_EQ(op->args[2].role, Role::Out);
  EXPECT_EQ(op->args[2].elements, 32);
  EXPECT_EQ(op->args[2].formula, "M*N");
}

TEST(OpSpec, RolesFollowAttributes) {
  Attrs a = {{"M", int64_t(8)}, {"N", int64_t(4)}, {"K", int64_t(2)},
             {"beta", 1.0}};
  auto sig = checkAttrs(*findOpSpec("gemm"), a, nullptr);
  ASSERT_TRUE(sig);
  EXPECT_EQ(sig->second.size(), 3u); // no bias argument
  EXPECT_EQ(sig->second[2].role, Role::InOut); // beta != 0 reads C
  Attrs s = {{"counts", Ints{5}}, {"accumulate", true}};
  EXPECT_EQ(checkAttrs(*findOpSpec("sumsq"), s, nullptr)->second[1].role,
            Role::InOut);
  s.erase("accumulate");
  EXPECT_EQ(checkAttrs(*findOpSpec("sumsq"), s, nullptr)->second[1].role,
            Role::Out);
}

TEST(OpSpec, IntegerListsGiveOneArgumentPerEntry) {
  Attrs a = {{"counts", Ints{3, 7}}, {"decay", Ints{1, 0}}, {"beta1", 0.9},
             {"beta2", 0.95},       {"eps", 1e-8},         {"weight_decay", 0.1},
             {"clip", 1.0}};
  auto sig = checkAttrs(*findOpSpec("adamw"), a, nullptr);
  ASSERT_TRUE(sig);
  // param_0, param_1, grad_0, grad_1, m_0, m_1, v_0, v_1, gnorm_sq.
  ASSERT_EQ(sig->second.size(), 9u);
  EXPECT_EQ(sig->second[1].name, "param_1");
  EXPECT_EQ(sig->second[1].elements, 7);
  EXPECT_EQ(sig->second[1].formula, "counts[1]");
  EXPECT_EQ(sig->second[2].name, "grad_0");
  EXPECT_EQ(sig->second[2].elements, 3);
  EXPECT_EQ(sig->second[2].role, Role::In);
  EXPECT_EQ(sig->second[7].name, "v_1");
  EXPECT_EQ(sig->second[8].name, "gnorm_sq");
  EXPECT_EQ(sig->second[8].elements, 1);
  // Bad lists: wrong type, out of range, too long, mismatched flags.
  EXPECT_EQ(problemOf("sumsq", {{"counts", int64_t(3)}}, {}),
            "attrs.counts: must be a non-empty list of integers, got 3");
  EXPECT_EQ(problemOf("sumsq", {{"counts", Ints{3, 0}}}, {}),
            "attrs.counts: element 1 is 0; valid: 1 .. " +
                std::to_string(kMaxCount));
  EXPECT_EQ(problemOf("sumsq", {{"counts", Ints(kMaxGroupTensors + 1, 2)}}, {}),
            "attrs.counts: lists " + std::to_string(kMaxGroupTensors + 1) +
                " tensors; at most " + std::to_string(kMaxGroupTensors) +
                " (one launch's kernel parameters)");
  a["decay"] = Ints{1, 2};
  EXPECT_EQ(problemOf("adamw", a, {}),
            "attrs.decay: element 1 is 2; valid: 0 .. 1");
  a["decay"] = Ints{1};
  EXPECT_EQ(problemOf("adamw", a, {}),
            "attrs.decay: lists 1 flags but counts lists 2 tensors (one flag "
            "per tensor)");
}

TEST(OpSpec, OneArgumentPerListEntry) {
  Attrs a = {{"rows", int64_t(6)},
             {"T", int64_t(3)},
             {"D", int64_t(4)},
             {"V", int64_t(10)},
             {"pos", Pairs{{1, 3}, {3, 5}}}};
  auto sig = checkAttrs(*findOpSpec("embed_fwd"), a, nullptr);
  ASSERT_TRUE(sig);
  ASSERT_EQ(sig->second.size(), 5u); // tokens, table, pos_0, pos_1, out
  EXPECT_EQ(sig->second[3].name, "pos_1");
  EXPECT_EQ(sig->second[3].elements, 20);
  EXPECT_EQ(sig->second[3].formula, "pos[1].mod*D");
  // An empty list, which has no element type in JSON or MLIR, is accepted.
  a["pos"] = Pairs{};
  EXPECT_EQ(checkAttrs(*findOpSpec("embed_fwd"), a, nullptr)->second.size(),
            3u);
}

// The executors find a gemm's and a gemm_group's arguments by these names
// (argIndex): optional ones by their flag, a group's with "_i".
TEST(OpSpec, GemmArgumentsByName) {
  Attrs g = {{"M", int64_t(4)}, {"N", int64_t(8)}, {"K", int64_t(2)},
             {"bias", true},    {"gelu", true},    {"gelu_pre", true}};
  auto sig = checkAttrs(*findOpSpec("gemm"), g, nullptr);
  ASSERT_TRUE(sig);
  EXPECT_EQ(argIndex(sig->second, "C"), 2);
  EXPECT_EQ(argIndex(sig->second, "bias"), 3);
  EXPECT_EQ(argIndex(sig->second, "pre"), 4);
  EXPECT_EQ(argIndex(sig->second, "gelu_x"), -1);
  EXPECT_EQ(argIndex(sig->second, "db"), -1);
  Attrs d = {{"M", int64_t(4)}, {"N", int64_t(8)}, {"K", int64_t(2)},
             {"trans_a", true}, {"bias_grad", true}};
  sig = checkAttrs(*findOpSpec("gemm"), d, nullptr);
  ASSERT_TRUE(sig);
  EXPECT_EQ(argIndex(sig->second, "db"), 3);
  EXPECT_EQ(sig->second[3].elements, 8);
  Attrs q = {{"M", int64_t(4)}, {"K", int64_t(2)},
             {"widths", Ints{8, 8, 8}}, {"bias_grad", true}};
  sig = checkAttrs(*findOpSpec("gemm_group"), q, nullptr);
  ASSERT_TRUE(sig);
  ASSERT_EQ(sig->second.size(), 10u); // A, B_0..2, C_0..2, db_0..2
  EXPECT_EQ(argIndex(sig->second, "A"), 0);
  EXPECT_EQ(argIndex(sig->second, "B_1"), 2);
  EXPECT_EQ(argIndex(sig->second, "C_0"), 4);
  EXPECT_EQ(argIndex(sig->second, "db_2"), 9);
  EXPECT_EQ(argIndex(sig->second, "bias_0"), -1);
  EXPECT_EQ(sig->second[4].elements, 32); // M * widths[0]
  EXPECT_EQ(sig->second[9].elements, 8);
  q["bias"] = true;
  EXPECT_EQ(problemOf("gemm_group", q, {}),
            "attrs.bias_grad: is set with bias; valid: one of them");
}

TEST(OpSpec, AttributeErrors) {
  Attrs ln = {{"M", int64_t(4)}, {"C", int64_t(8)}};
  EXPECT_EQ(problemOf("layer_norm_fwd", ln, {}),
            "attrs.eps: missing required attribute");
  ln["eps"] = -1.0;
  EXPECT_EQ(problemOf("layer_norm_fwd", ln, {}),
            "attrs.eps: is -1; valid: a number > 0");
  EXPECT_EQ(problemOf("add", {{"count", true}}, {}),
            "attrs.count: must be an integer, got true");
  EXPECT_EQ(problemOf("add", {{"count", int64_t(0)}}, {}),
            "attrs.count: is 0; valid: 1 .. " + std::to_string(kMaxCount));
  EXPECT_EQ(problemOf("add", {{"count", int64_t(2)}, {"colour", int64_t(1)}},
                      {}),
            "attrs.colour: unknown attribute 'colour' (valid: count)");
  EXPECT_EQ(problemOf("dropout_fwd",
                      {{"count", int64_t(4)}, {"rate", 1.0},
                       {"salt", int64_t(0)}},
                      {}),
            "attrs.rate: is 1; valid: 0 <= rate < 1");
  EXPECT_EQ(problemOf("adamw",
                      {{"counts", Ints{4}},
                       {"decay", Ints{0}},
                       {"beta1", 0.9},
                       {"beta2", 0.9},
                       {"eps", 1e-8},
                       {"weight_decay", 0.0},
                       {"clip", Unsupported{"\"x\""}}},
                      {}),
            "attrs.clip: must be a number, got \"x\"");
  EXPECT_EQ(
      problemOf("embed_fwd",
                {{"rows", int64_t(4)},
                 {"T", int64_t(4)},
                 {"D", int64_t(4)},
                 {"V", int64_t(4)},
                 {"pos", Pairs{{0, 4}}}},
                {}),
      "attrs.pos: element 0 is [0, 4]; valid: [div, mod] with integers in 1 "
      ".. " +
          std::to_string(kMaxDim));
  Attrs at = attention();
  at["layouts"] = int64_t(3);
  EXPECT_EQ(problemOf("attention_fwd", at, {}),
            "attrs.layouts: must be a non-empty list of layout names, got 3");
  EXPECT_EQ(problemOf("attention_fwd", attention(512), {}),
            "attrs.dk: is 512; valid: multiples of 8 in 8 .. 256");
  EXPECT_EQ(problemOf("attention_fwd", attention(20), {}),
            "attrs.dk: is 20; valid: multiples of 8 in 8 .. 256");
  at = attention();
  at["H"] = int64_t(6);
  EXPECT_EQ(problemOf("attention_fwd", at, {}),
            "attrs.H: is 6 but layouts (2) x heads_per_layout (2) = 4 (they "
            "must be equal)");
  Attrs perm = {{"B", int64_t(1)},         {"T", int64_t(64)},
                {"D", int64_t(32)},        {"col_begin", int64_t(16)},
                {"col_end", int64_t(32)},  {"stride", int64_t(8)}};
  perm["stride"] = int64_t(7);
  EXPECT_EQ(problemOf("stride_permute", perm, {}),
            "attrs.stride: is 7 but must divide T (64)");
  perm["stride"] = int64_t(8);
  perm["col_end"] = int64_t(40);
  EXPECT_EQ(problemOf("stride_permute", perm, {}),
            "attrs.col_end: is 40 but the column range must be non-empty "
            "within [0, D = 32] (col_begin 16)");
  Attrs summary = {{"B", int64_t(1)},     {"T", int64_t(64)},
                   {"D", int64_t(32)},    {"block", int64_t(16)},
                   {"summary", int64_t(16)}};
  EXPECT_EQ(problemOf("summary_gather", summary, {}),
            "attrs.summary: is 16 but must be below block (16)");
  EXPECT_EQ(problemOf("softmax", {}, {}),
            "unknown op kind 'softmax' (valid: " + validOpKinds() + ")");
}

TEST(OpSpec, ArgumentErrors) {
  Attrs at = attention();
  EXPECT_EQ(problemOf("attention_fwd", at,
                      buffersFor("attention_fwd", at, {H, H, H, H, H})),
            "arg 4 (lse): buffer 'b4' has dtype bf16; expected f32");
  Attrs add = {{"count", int64_t(4)}};
  EXPECT_EQ(problemOf("add", add, buffersFor("add", add, {F, F})),
            "args: has 2 arguments; expected 3 (a, b, out)");
  auto refs = buffersFor("add", add, {F, F, F});
  refs[1].elements = 5;
  EXPECT_EQ(problemOf("add", add, refs),
            "arg 1 (b): buffer 'b1' has 5 elements; expected count = 4");
  // Elementwise ops may write in place; others may not.
  refs = buffersFor("add", add, {F, F, F});
  refs[2].id = refs[0].id;
  Problem p;
  EXPECT_TRUE(checkOp("add", add, refs, &p)) << p.str();
  Attrs ln = {{"M", int64_t(2)}, {"C", int64_t(4)}, {"eps", 1e-5}};
  refs = buffersFor("layer_norm_fwd", ln, {F, F, F, F, F, F});
  refs[3].id = refs[0].id;
  EXPECT_MENTIONS(problemOf("layer_norm_fwd", ln, refs),
                  "is passed as both x and y; an output may share a buffer "
                  "with an input only in elementwise ops (gelu_fwd");
  // Overflowing sizes never wrap into a plausible count.
  Attrs big = {{"M", kMaxDim}, {"N", kMaxDim}};
  refs = buffersFor("bias_grad", big, {F, F});
  refs[0].elements = 1;
  EXPECT_MENTIONS(problemOf("bias_grad", big, refs), "expected M*N = ");
  EXPECT_EQ(refs.size(), 2u);
  (void)I;
}

/// A kind added through the table alone (no code besides its row): the
/// check accepts and rejects it like a built-in kind.
TEST(OpSpec, ToyKindThroughTheTableAlone) {
  OpSpec toy;
  toy.name = "toy_scale";
  toy.flags = Kernel | InPlace;
  toy.args = {{"x", DTypes::Float, Role::In, "", "count", "", ""},
              {"y", DTypes::Float, Role::Out, "", "count", "", ""}};
  toy.attrs = {{"count", AttrType::Int, false, 1, 1 << 20, 1, 0, 0,
                Bounds::Closed, 0},
               {"scale", AttrType::Num, true, 0, 0, 1, 0, 10, Bounds::LoOpen,
                2.0}};
  OpKind kind = registerOpKind(toy);
  EXPECT_GE(static_cast<int>(kind), kNumOpKinds);
  EXPECT_EQ(parseOpKind("toy_scale"), kind);
  EXPECT_MENTIONS(validOpKinds(), "toy_scale");

  Attrs ok = {{"count", int64_t(8)}};
  Problem p;
  auto op = checkOp("toy_scale", ok, buffersFor("toy_scale", ok, {F, H}), &p);
  ASSERT_TRUE(op) << p.str();
  EXPECT_EQ(op->decoded.scale, 2.0);
  EXPECT_EQ(problemOf("toy_scale", {{"count", int64_t(8)}, {"scale", 0.0}},
                      buffersFor("toy_scale", ok, {F, F})),
            "attrs.scale: is 0; valid: 0 < scale <= 10");
  EXPECT_EQ(problemOf("toy_scale", ok, buffersFor("toy_scale", ok, {F, I})),
            "arg 1 (y): buffer 'b1' has dtype i32; expected f32, bf16 or f16");
}

} // namespace
