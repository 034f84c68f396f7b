//===- NormalizeTest.cpp - Exactness of pattern normalization -------------===//

#include "pattern/Normalize.h"

#include <gtest/gtest.h>

#include <vector>

using namespace stc::pattern;

namespace {

TEST(StridePermutation, IsABijectionAndItsInverse) {
  for (auto [n, l] : {std::pair<int64_t, int64_t>{64, 8}, {60, 4}, {30, 30},
                      {96, 2}}) {
    StridePermutation perm{n, l};
    std::vector<int> hits(n, 0);
    for (int64_t i = 0; i < n; ++i) {
      int64_t p = perm.forward(i);
      ASSERT_GE(p, 0);
      ASSERT_LT(p, n);
      ++hits[p];
      EXPECT_EQ(perm.backward(p), i) << "n=" << n << " l=" << l;
    }
    for (int64_t p = 0; p < n; ++p)
      EXPECT_EQ(hits[p], 1) << "n=" << n << " l=" << l << " p=" << p;
  }
}

// Every (q, k) keeps its membership, and every query's keys keep their order,
// so the permuted attention sums the same terms in the same order.
TEST(StrideNormalization, PermutedPatternIsTheOriginalElementForElement) {
  for (auto [n, l] : {std::pair<int64_t, int64_t>{64, 8}, {60, 4}, {48, 16},
                      {32, 2}, {256, 128}}) {
    Pattern strided = Pattern::strided(l);
    std::optional<PermutedPattern> norm = strideNormalization(strided, n);
    ASSERT_TRUE(norm) << "n=" << n << " l=" << l;
    EXPECT_EQ(norm->pattern, Pattern::fixed(n / l, 0));
    for (int64_t q = 0; q < n; ++q) {
      int64_t pq = norm->permutation.forward(q);
      int64_t previous = -1;
      for (int64_t k = 0; k < n; ++k) {
        int64_t pk = norm->permutation.forward(k);
        ASSERT_EQ(strided.allowed(q, k), norm->pattern.allowed(pq, pk))
            << "n=" << n << " l=" << l << " q=" << q << " k=" << k;
        if (strided.allowed(q, k)) {
          EXPECT_GT(pk, previous) << "key order changed at q=" << q;
          previous = pk;
        }
      }
    }
    EXPECT_EQ(strided.countAllowed(n), norm->pattern.countAllowed(n));
  }
}

TEST(StrideNormalization, CutsTheComputedBlocks) {
  // strided(128) at n = 16384 in blocks of 128 touches every causal block;
  // permuted, it is 128 diagonal blocks.
  int64_t n = 16384, b = 128;
  auto norm = strideNormalization(Pattern::strided(128), n);
  ASSERT_TRUE(norm);
  BlockLayout before = buildBlockLayout(Pattern::strided(128), n, b);
  BlockLayout after = buildBlockLayout(norm->pattern, n, b);
  EXPECT_EQ(before.numBlocks(), before.denseCausalBlocks());
  EXPECT_EQ(after.numBlocks(), n / b);
  EXPECT_LE(after.numBlocks() * 20, after.denseCausalBlocks()); // <= 5%
}

TEST(StrideNormalization, LeavesWhatItCannotRewriteAlone) {
  EXPECT_FALSE(strideNormalization(Pattern::strided(7), 64)); // 7 does not divide 64
  EXPECT_FALSE(strideNormalization(Pattern::strided(1), 64)); // already causal
  EXPECT_FALSE(strideNormalization(Pattern::strided(128), 64)); // longer than n
  EXPECT_FALSE(strideNormalization(Pattern::local(8), 64));
  EXPECT_FALSE(strideNormalization(Pattern::fixed(8, 2), 64));
  EXPECT_FALSE(strideNormalization(
      Pattern::unionOf({Pattern::local(8), Pattern::strided(8)}), 64));
}

} // namespace
