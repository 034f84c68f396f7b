//===- NormalizeTest.cpp - Exactness of pattern normalization -------------===//

#include "pattern/Normalize.h"

#include <gtest/gtest.h>

#include <tuple>
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

// fixed(l, c) = fixed(l, 0) over the keys + gathered(l, c) over the gathered
// summary columns, disjointly, for every query; the gathered positions are
// exactly the summary columns, in order.
TEST(SummarySplit, IsTheFixedPatternSplitInTwo) {
  for (auto [n, l, c] : {std::tuple<int64_t, int64_t, int64_t>{64, 16, 4},
                         {94, 16, 4}, {90, 16, 4}, {50, 7, 3}, {33, 8, 7},
                         {256, 128, 32}}) {
    Pattern fixed = Pattern::fixed(l, c);
    std::optional<SplitPattern> split = summarySplit(fixed, n);
    ASSERT_TRUE(split) << "n=" << n << " l=" << l << " c=" << c;
    EXPECT_EQ(split->local, Pattern::fixed(l, 0));
    EXPECT_EQ(split->summaries, Pattern::gathered(l, c));
    const SummaryGather &g = split->gather;
    std::vector<int64_t> summaryColumns;
    for (int64_t k = 0; k < n; ++k)
      if (k % l >= l - c)
        summaryColumns.push_back(k);
    ASSERT_EQ(g.count(), static_cast<int64_t>(summaryColumns.size()));
    for (int64_t s = 0; s < g.count(); ++s)
      ASSERT_EQ(g.position(s), summaryColumns[s]) << "s=" << s;
    for (int64_t q = 0; q < n; ++q) {
      std::vector<int> seen(n, 0);
      for (int64_t k = 0; k < n; ++k)
        seen[k] += split->local.allowed(q, k);
      for (int64_t s = 0; s < n; ++s)
        if (split->summaries.allowed(q, s)) {
          ASSERT_LT(s, g.count()) << "q=" << q << " sees a zero row " << s;
          ++seen[g.position(s)];
        }
      for (int64_t k = 0; k < n; ++k)
        ASSERT_EQ(seen[k], fixed.allowed(q, k) ? 1 : 0)
            << "n=" << n << " l=" << l << " c=" << c << " q=" << q
            << " k=" << k;
    }
    EXPECT_EQ(fixed.countAllowed(n), split->local.countAllowed(n) +
                                         split->summaries.countAllowed(n));
  }
}

TEST(SummarySplit, EnwikShapeComputesAQuarterOfTheBlocks) {
  int64_t n = 12288, b = 128;
  auto split = summarySplit(Pattern::fixed(128, 32), n);
  ASSERT_TRUE(split);
  BlockLayout before = buildBlockLayout(Pattern::fixed(128, 32), n, b);
  int64_t after = buildBlockLayout(split->local, n, b).numBlocks() +
                  buildBlockLayout(split->summaries, n, b).numBlocks();
  EXPECT_EQ(before.numBlocks(), before.denseCausalBlocks());
  // 96 diagonal blocks + sum over query blocks j of ceil(32 j / 128).
  int64_t expected = 96;
  for (int64_t j = 0; j < 96; ++j)
    expected += (32 * j + 127) / 128;
  EXPECT_EQ(after, expected);
  EXPECT_LE(after * 10, before.numBlocks() * 3); // <= 30%
}

TEST(SummarySplit, LeavesWhatItCannotSplitAlone) {
  EXPECT_FALSE(summarySplit(Pattern::fixed(16, 0), 64));  // no summaries
  EXPECT_FALSE(summarySplit(Pattern::fixed(16, 16), 64)); // causal
  EXPECT_FALSE(summarySplit(Pattern::fixed(64, 8), 64));  // one fixed block
  EXPECT_FALSE(summarySplit(Pattern::strided(8), 64));
  EXPECT_FALSE(summarySplit(
      Pattern::unionOf({Pattern::fixed(16, 4), Pattern::local(3)}), 64));
}

// union(..., strided(l), ...) = minus(the others, strided(l)) over the
// sequence + fixed(n / l, 0) over the stride permutation, disjointly: every
// allowed pair once, nothing else.
TEST(StrideSplit, IsTheUnionSplitInTwo) {
  std::vector<std::pair<Pattern, int64_t>> cases = {
      {Pattern::unionOf({Pattern::local(8), Pattern::strided(8)}), 64},
      {Pattern::unionOf({Pattern::strided(4), Pattern::local(10)}), 48},
      {Pattern::unionOf(
           {Pattern::local(3), Pattern::fixed(16, 4), Pattern::strided(6)}),
       96},
      {Pattern::unionOf({Pattern::strided(5), Pattern::strided(2)}), 40},
      {Pattern::unionOf({Pattern::causal(), Pattern::strided(16)}), 64},
  };
  for (const auto &[u, n] : cases) {
    std::optional<StrideSplit> split = strideSplit(u, n);
    ASSERT_TRUE(split) << u.str();
    const StridePermutation &perm = split->permutation;
    EXPECT_EQ(split->strided, Pattern::fixed(perm.segment(), 0));
    EXPECT_EQ(split->rest.kind(), Pattern::Kind::Difference);
    for (int64_t q = 0; q < n; ++q)
      for (int64_t k = 0; k < n; ++k) {
        int seen = split->rest.allowed(q, k) +
                   split->strided.allowed(perm.forward(q), perm.forward(k));
        ASSERT_EQ(seen, u.allowed(q, k) ? 1 : 0)
            << u.str() << " n=" << n << " q=" << q << " k=" << k;
      }
    EXPECT_EQ(u.countAllowed(n),
              split->rest.countAllowed(n) + split->strided.countAllowed(n));
  }
}

TEST(StrideSplit, LocalAndStridedComputeAFewBlocksOfTheCausal) {
  int64_t n = 16384, b = 128;
  Pattern u = Pattern::unionOf({Pattern::local(128), Pattern::strided(128)});
  auto split = strideSplit(u, n);
  ASSERT_TRUE(split);
  BlockLayout before = buildBlockLayout(u, n, b);
  int64_t after = buildBlockLayout(split->rest, n, b).numBlocks() +
                  buildBlockLayout(split->strided, n, b).numBlocks();
  EXPECT_EQ(before.numBlocks(), before.denseCausalBlocks());
  // local(128) less its diagonal: the diagonal block and the one before it
  // per row (none before the first); strided: one block per row.
  EXPECT_EQ(after, (2 * (n / b) - 1) + n / b);
  EXPECT_LE(after * 20, before.numBlocks()); // <= 5%
}

TEST(StrideSplit, LeavesWhatItCannotSplitAlone) {
  EXPECT_FALSE(strideSplit(Pattern::strided(8), 64)); // not a union
  EXPECT_FALSE(strideSplit(
      Pattern::unionOf({Pattern::local(8), Pattern::strided(7)}), 64));
  EXPECT_FALSE(strideSplit(Pattern::unionOf({Pattern::strided(8)}), 64));
  EXPECT_FALSE(strideSplit(
      Pattern::unionOf({Pattern::local(8), Pattern::strided(1)}), 64));
  EXPECT_FALSE(strideSplit(
      Pattern::unionOf({Pattern::local(8), Pattern::fixed(8, 2)}), 64));
}

} // namespace
