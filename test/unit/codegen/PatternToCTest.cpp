//===- PatternToCTest.cpp - Patterns printed as C match Pattern::allowed --===//
//
// Two checks: the exact text for the built-in patterns (what the kernels
// contain), and the meaning of every translation: PatternCGen printed each
// case of patternCases() as a host function at build time (the same C the
// kernels get), compiled into this test, and compared here with
// Pattern::allowed over every 0 <= k <= q < n.
//
//===----------------------------------------------------------------------===//

#include "codegen/PatternToC.h"
#include "PatternCases.h"

#include "PatternLambdas.inc" // generated: stc_generated::kFns

#include <gtest/gtest.h>

namespace stc::codegen::test {
namespace {

using pattern::Pattern;

std::string exprOf(const Pattern &p, int64_t n = 1024) {
  std::string err;
  auto c = patternToC(p, n, "t", &err);
  EXPECT_TRUE(c.has_value()) << err;
  return c ? c->expr : "";
}

TEST(PatternToC, BuiltinText) {
  EXPECT_EQ(exprOf(Pattern::causal()), "1");
  EXPECT_EQ(exprOf(Pattern::local(8)), "(q - k < 8)");
  EXPECT_EQ(exprOf(Pattern::local(0)), "0");
  EXPECT_EQ(exprOf(Pattern::strided(8)), "((unsigned)(q - k) % 8u == 0u)");
  EXPECT_EQ(exprOf(Pattern::strided(-1)), "0");
  EXPECT_EQ(exprOf(Pattern::fixed(128, 32)),
            "((unsigned)q / 128u == (unsigned)k / 128u || (unsigned)k % 128u "
            ">= 96u)");
  EXPECT_EQ(exprOf(Pattern::fixed(16, 40)),
            "((unsigned)q / 16u == (unsigned)k / 16u || (unsigned)k % 16u >= "
            "0u)");
  EXPECT_EQ(exprOf(Pattern::fixed(0, 1)), "0");
  EXPECT_EQ(exprOf(Pattern::unionOf({Pattern::local(8), Pattern::strided(8)})),
            "((q - k < 8) || ((unsigned)(q - k) % 8u == 0u))");
  EXPECT_EQ(exprOf(Pattern::unionOf({})), "0");
  EXPECT_EQ(exprOf(Pattern::local(int64_t(1) << 40)),
            "(q - k < 1099511627776LL)");
  EXPECT_EQ(exprOf(Pattern::strided(int64_t(1) << 40)),
            "((q - k) % 1099511627776LL == 0)");
}

TEST(PatternToC, PredicateText) {
  auto pred = pattern::Predicate::parse("(slt (sub q k) 3)", nullptr);
  ASSERT_TRUE(pred);
  std::string e = exprOf(Pattern::predicate("near", *pred));
  EXPECT_EQ(e,
            "(" + pred->toC("((long long)q)", "((long long)k)") + " != 0LL)");
}

TEST(PatternToC, BlockLayoutTables) {
  std::string err;
  // Few blocks: a sorted list and a binary search.
  auto list =
      patternToC(Pattern::blockLayout(64, {{0, 0}, {5, 2}}), 4096, "bl", &err);
  ASSERT_TRUE(list) << err;
  EXPECT_EQ(list->expr, "bl_has(q / 64, k / 64)");
  EXPECT_NE(list->decls.find("__device__ const unsigned long long bl_list[2]"),
            std::string::npos)
      << list->decls;
  EXPECT_NE(list->decls.find("0x500000002ull"), std::string::npos)
      << list->decls;
  // Dense blocks: a bitmap of the lower triangle.
  auto bits = patternToC(Pattern::blockLayout(64, {{0, 0}, {1, 0}, {1, 1}}),
                         128, "bb", &err);
  ASSERT_TRUE(bits) << err;
  EXPECT_NE(
      bits->decls.find("__device__ const unsigned bb_bits[1] = {\n  0x7u}"),
      std::string::npos)
      << bits->decls;
  // Nothing listed (or nothing within n): never allowed, no table.
  auto none = patternToC(Pattern::blockLayout(64, {{9, 0}}), 128, "bn", &err);
  ASSERT_TRUE(none) << err;
  EXPECT_EQ(none->expr, "0");
  EXPECT_TRUE(none->decls.empty());
}

TEST(PatternToC, UnionChildrenGetDistinctPrefixes) {
  std::string err;
  auto c = patternToC(Pattern::unionOf({Pattern::blockLayout(8, {{0, 0}}),
                                        Pattern::blockLayout(16, {{1, 0}})}),
                      64, "u", &err);
  ASSERT_TRUE(c) << err;
  EXPECT_EQ(c->expr, "(u_0_has(q / 8, k / 8) || u_1_has(q / 16, k / 16))");
}

TEST(PatternToC, TranslationsMatchAllowed) {
  auto cases = patternCases();
  ASSERT_EQ(static_cast<int>(cases.size()), stc_generated::kNumFns)
      << "PatternLambdas.inc is stale; rebuild";
  for (size_t i = 0; i < cases.size(); ++i) {
    const Pattern &p = cases[i].pattern;
    int64_t mismatches = 0;
    for (int64_t q = 0; q < cases[i].n; ++q)
      for (int64_t k = 0; k <= q; ++k) {
        bool want = p.allowed(q, k);
        bool got =
            stc_generated::kFns[i](static_cast<int>(q), static_cast<int>(k));
        if (want != got && mismatches++ < 3)
          ADD_FAILURE() << p.str() << " at (q=" << q << ", k=" << k
                        << "): C says " << got << ", Pattern::allowed says "
                        << want;
      }
    EXPECT_EQ(mismatches, 0) << p.str();
  }
}

} // namespace
} // namespace stc::codegen::test
