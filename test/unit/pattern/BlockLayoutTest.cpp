//===- BlockLayoutTest.cpp - Block layouts against brute force and cost ---===//

#include "pattern/Pattern.h"

#include "PatternTestUtil.h"

#include <gtest/gtest.h>

#include <sstream>

using namespace stc::pattern;
using stc::pattern::test::refAllowed;

namespace {

/// Empty if the layouts are identical, else a description of the first
/// difference.
std::string diffLayouts(const BlockLayout &got, const BlockLayout &expected) {
  std::ostringstream os;
  if (got.n != expected.n || got.blockSize != expected.blockSize ||
      got.numBlockRows != expected.numBlockRows) {
    os << "shape " << got.n << "/" << got.blockSize << "/" << got.numBlockRows
       << " vs " << expected.n << "/" << expected.blockSize << "/"
       << expected.numBlockRows;
    return os.str();
  }
  if (got.rowPtr == expected.rowPtr && got.colIdx == expected.colIdx &&
      got.classes == expected.classes)
    return "";
  for (int64_t r = 0; r < expected.numBlockRows; ++r) {
    for (int64_t c = 0; c <= r; ++c) {
      BlockClass a = got.classOf(r, c), b = expected.classOf(r, c);
      if (a != b) {
        os << "block (" << r << ", " << c << "): " << blockClassName(a)
           << ", expected " << blockClassName(b);
        return os.str();
      }
    }
  }
  os << "CSR arrays differ (rowPtr " << got.rowPtr.size() << " vs "
     << expected.rowPtr.size() << ")";
  return os.str();
}

/// CSR well-formedness: ascending key blocks <= the row, no Empty entries.
void expectWellFormed(const BlockLayout &layout, const std::string &context) {
  ASSERT_EQ(layout.rowPtr.size(), static_cast<size_t>(layout.numBlockRows + 1))
      << context;
  ASSERT_EQ(layout.rowPtr.front(), 0) << context;
  ASSERT_EQ(layout.rowPtr.back(), layout.numBlocks()) << context;
  ASSERT_EQ(layout.classes.size(), layout.colIdx.size()) << context;
  for (int64_t r = 0; r < layout.numBlockRows; ++r) {
    for (int64_t i = layout.rowPtr[r]; i < layout.rowPtr[r + 1]; ++i) {
      ASSERT_GE(layout.colIdx[i], 0) << context;
      ASSERT_LE(layout.colIdx[i], r) << context;
      if (i > layout.rowPtr[r]) {
        ASSERT_LT(layout.colIdx[i - 1], layout.colIdx[i]) << context;
      }
      ASSERT_NE(layout.classes[i], BlockClass::Empty) << context;
    }
  }
}

void expectMatchesBruteForce(const Pattern &p, int64_t n, int64_t blockSize) {
  std::string context =
      p.str() + " n=" + std::to_string(n) + " b=" + std::to_string(blockSize);
  BlockLayout fast = buildBlockLayout(p, n, blockSize);
  BlockLayout oracle = buildBlockLayoutBruteForce(p, n, blockSize);
  expectWellFormed(fast, context);
  std::string diff = diffLayouts(fast, oracle);
  EXPECT_TRUE(diff.empty()) << context << ": " << diff;
}

std::vector<Pattern> builtinPatterns() {
  std::vector<Pattern> patterns = {Pattern::causal()};
  for (int64_t size : {1, 2, 3, 5, 7, 8, 16, 33, 64, 100, 128, 1000}) {
    patterns.push_back(Pattern::local(size));
    patterns.push_back(Pattern::strided(size));
  }
  for (int64_t l : {1, 2, 3, 5, 8, 16, 24, 50, 64, 128})
    for (int64_t c : {int64_t{0}, int64_t{1}, int64_t{2}, l / 3, l - 1, l})
      if (c >= 0)
        patterns.push_back(Pattern::fixed(l, c));
  for (int64_t l : {1, 2, 3, 8, 16, 50, 128})
    for (int64_t c : {int64_t{0}, int64_t{1}, l / 3, l})
      patterns.push_back(Pattern::gathered(l, c));
  // Out-of-range parameters keep their defined meanings.
  patterns.push_back(Pattern::local(0));
  patterns.push_back(Pattern::strided(0));
  patterns.push_back(Pattern::fixed(8, 12));
  patterns.push_back(Pattern::fixed(0, 1));
  return patterns;
}

} // namespace

TEST(BlockLayoutOracle, BruteForceMatchesTheDefinition) {
  // The oracle itself, against classes computed here from refAllowed.
  std::mt19937 rng(5);
  std::vector<Pattern> patterns = {
      Pattern::causal(), Pattern::local(3), Pattern::strided(4),
      Pattern::fixed(5, 2),
      Pattern::unionOf({Pattern::local(2), Pattern::strided(7)})};
  for (int i = 0; i < 10; ++i)
    patterns.push_back(test::randomPattern(rng, 20));
  for (const Pattern &p : patterns) {
    for (int64_t n = 1; n <= 21; n += 4) {
      for (int64_t b = 1; b <= 6; ++b) {
        BlockLayout oracle = buildBlockLayoutBruteForce(p, n, b);
        expectWellFormed(oracle, p.str());
        int64_t rows = (n + b - 1) / b;
        ASSERT_EQ(oracle.numBlockRows, rows);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t c = 0; c < rows; ++c) {
            int64_t allowed = 0, inRange = 0;
            for (int64_t q = r * b; q < std::min((r + 1) * b, n); ++q) {
              for (int64_t k = c * b; k < std::min((c + 1) * b, n); ++k) {
                ++inRange;
                allowed += refAllowed(p, q, k);
              }
            }
            BlockClass expected = allowed == 0         ? BlockClass::Empty
                                  : allowed == inRange ? BlockClass::Full
                                                       : BlockClass::Partial;
            ASSERT_EQ(oracle.classOf(r, c), expected)
                << p.str() << " n=" << n << " b=" << b << " block " << r << ","
                << c;
          }
        }
      }
    }
  }
}

TEST(BlockLayoutBuild, BuiltinsMatchBruteForceSmall) {
  for (const Pattern &p : builtinPatterns())
    for (int64_t n : {1, 2, 3, 7, 16, 17, 33, 64, 65, 127, 129, 200})
      for (int64_t b : {1, 2, 3, 5, 8, 16, 32, 64, 100, 128})
        expectMatchesBruteForce(p, n, b);
}

TEST(BlockLayoutBuild, BuiltinsMatchBruteForceLarge) {
  std::vector<Pattern> patterns = {
      Pattern::causal(),       Pattern::local(128),    Pattern::local(100),
      Pattern::strided(128),   Pattern::strided(100),  Pattern::strided(200),
      Pattern::fixed(128, 32), Pattern::fixed(100, 7), Pattern::fixed(64, 64),
      Pattern::fixed(128, 0),  Pattern::fixed(100, 0), Pattern::fixed(40, 0),
      Pattern::gathered(128, 32), Pattern::gathered(100, 7),
      Pattern::gathered(64, 64)};
  for (const Pattern &p : patterns) {
    expectMatchesBruteForce(p, 2000, 64);
    expectMatchesBruteForce(p, 3000, 128);
  }
  expectMatchesBruteForce(Pattern::fixed(96, 20), 3000, 64);
  expectMatchesBruteForce(Pattern::local(1000), 2000, 100);
}

TEST(BlockLayoutBuild, BlockPatternsAtOtherBlockSizes) {
  // The pattern's block size need not be the layout's.
  std::mt19937 rng(17);
  for (int64_t patternBlock : {1, 3, 16, 64, 100}) {
    for (int64_t n : {50, 129, 700}) {
      Pattern p = test::randomBlocks(rng, patternBlock, n / patternBlock + 2);
      for (int64_t b : {1, 2, 7, 16, 32, 64, 128})
        expectMatchesBruteForce(p, n, b);
    }
  }
  // Few, far-apart pairs with an empty block row.
  Pattern sparse = Pattern::blockLayout(64, {{0, 0}, {5, 0}, {7, 3}, {30, 30}});
  for (int64_t b : {16, 64, 96, 128})
    expectMatchesBruteForce(sparse, 2000, b);
  expectMatchesBruteForce(Pattern::blockLayout(64, {}), 300, 64);
  expectMatchesBruteForce(Pattern::blockLayout(0, {{0, 0}}), 300, 64);
}

TEST(BlockLayoutBuild, UnionsAndPredicatesMatchBruteForce) {
  std::vector<Pattern> patterns = {
      Pattern::unionOf({Pattern::local(128), Pattern::strided(128)}),
      Pattern::unionOf({Pattern::local(40), Pattern::strided(40)}),
      Pattern::unionOf({Pattern::fixed(64, 8), Pattern::local(70)}),
      // Two partial children that together fill blocks.
      Pattern::unionOf(
          {Pattern::strided(2),
           Pattern::predicate("odd", *Predicate::parse("(eq (rems (sub q k) 2) "
                                                       "1)",
                                                       nullptr))}),
      Pattern::unionOf(
          {Pattern::local(17),
           Pattern::blockLayout(32, {{3, 0}, {4, 1}, {9, 9}, {12, 2}}),
           Pattern::predicate("summary",
                              test::localPlusSummaryPredicate(1, 50))}),
      Pattern::unionOf(
          {Pattern::unionOf({Pattern::strided(3)}), Pattern::causal()}),
      Pattern::unionOf({}),
      // Differences: by the q - k table (shift-invariant), by blocks where
      // the second child is empty or full, by elements where it is partial.
      Pattern::difference(Pattern::local(128), Pattern::strided(128)),
      Pattern::difference(Pattern::local(300), Pattern::strided(64)),
      Pattern::difference(Pattern::fixed(64, 8), Pattern::strided(64)),
      Pattern::difference(Pattern::causal(),
                          Pattern::blockLayout(32, {{3, 0}, {4, 4}})),
      Pattern::difference(Pattern::fixed(96, 16), Pattern::local(40)),
      Pattern::difference(Pattern::local(50), Pattern::causal()),
      Pattern::predicate("local", test::localPredicate(100)),
      Pattern::predicate("lsum", test::localPlusSummaryPredicate(20, 64)),
      Pattern::predicate("never", *Predicate::parse("0", nullptr)),
      Pattern::predicate("empty", Predicate()),
  };
  for (const Pattern &p : patterns) {
    for (int64_t n : {1, 37, 300, 1000})
      for (int64_t b : {1, 16, 64, 128})
        if (n * n / (b * b) < 20000) // keep b = 1 at small n
          expectMatchesBruteForce(p, n, b);
  }
  expectMatchesBruteForce(patterns[0], 2000, 64);
  expectMatchesBruteForce(patterns[2], 2000, 128);
}

TEST(BlockLayoutBuild, RandomPatternsMatchBruteForce) {
  std::mt19937 rng(23);
  for (int trial = 0; trial < 300; ++trial) {
    int64_t n = std::uniform_int_distribution<int64_t>(1, 150)(rng);
    int64_t b = std::uniform_int_distribution<int64_t>(1, 20)(rng);
    Pattern p = test::randomPattern(rng, n, /*depth=*/2);
    expectMatchesBruteForce(p, n, b);
  }
}

TEST(BlockLayoutBuild, BadInputGivesAnEmptyLayout) {
  for (auto [n, b] :
       {std::pair<int64_t, int64_t>{0, 64}, {-5, 64}, {100, 0}, {100, -1}}) {
    for (const BlockLayout &layout :
         {buildBlockLayout(Pattern::causal(), n, b),
          buildBlockLayoutBruteForce(Pattern::causal(), n, b)}) {
      EXPECT_EQ(layout.numBlockRows, 0);
      EXPECT_EQ(layout.numBlocks(), 0);
      EXPECT_EQ(layout.rowPtr, std::vector<int64_t>{0});
      EXPECT_EQ(layout.denseCausalBlocks(), 0);
      EXPECT_EQ(layout.classOf(0, 0), BlockClass::Empty);
    }
  }
}

TEST(BlockLayoutBuild, KnownShapes) {
  const int64_t n = 16384;
  BlockLayout causal = buildBlockLayout(Pattern::causal(), n, 128);
  EXPECT_EQ(causal.numBlockRows, 128);
  EXPECT_EQ(causal.numBlocks(), 128 * 129 / 2);
  EXPECT_EQ(causal.denseCausalBlocks(), 128 * 129 / 2);
  EXPECT_EQ(causal.numPartial(), 128); // the diagonal
  EXPECT_EQ(causal.numFull(), 128 * 127 / 2);
  EXPECT_EQ(causal.classOf(5, 5), BlockClass::Partial);
  EXPECT_EQ(causal.classOf(5, 4), BlockClass::Full);
  EXPECT_EQ(causal.classOf(4, 5), BlockClass::Empty);
  EXPECT_EQ(causal.classOf(128, 0), BlockClass::Empty);
  EXPECT_EQ(causal.classOf(-1, 0), BlockClass::Empty);

  // local(128) at block 128: the diagonal and the block before it, partial.
  BlockLayout local = buildBlockLayout(Pattern::local(128), n, 128);
  EXPECT_EQ(local.numBlocks(), 2 * 128 - 1);
  EXPECT_EQ(local.numPartial(), 2 * 128 - 1);

  // local(256) at block 64: distance-1..3 blocks have dMax <= 255 (full),
  // distance 4 has dMin = 193 < 256 < dMax (partial).
  BlockLayout local256 = buildBlockLayout(Pattern::local(256), n, 64);
  EXPECT_EQ(local256.classOf(100, 99), BlockClass::Full);
  EXPECT_EQ(local256.classOf(100, 97), BlockClass::Full);
  EXPECT_EQ(local256.classOf(100, 96), BlockClass::Partial);
  EXPECT_EQ(local256.classOf(100, 95), BlockClass::Empty);
  EXPECT_EQ(local256.numFull(), 3 * 256 - 6);

  // 1 x 1 blocks are exact: full or absent.
  BlockLayout unit = buildBlockLayout(Pattern::fixed(4, 1), 64, 1);
  EXPECT_EQ(unit.numPartial(), 0);
  EXPECT_EQ(unit.numFull(), Pattern::fixed(4, 1).countAllowed(64));

  // A ragged last block: n = 100 at block 64, the diagonal of row 1 holds
  // 36 x 36 in-range elements.
  BlockLayout ragged = buildBlockLayout(Pattern::causal(), 100, 64);
  EXPECT_EQ(ragged.numBlockRows, 2);
  EXPECT_EQ(ragged.rowPtr, (std::vector<int64_t>{0, 1, 3}));
  EXPECT_EQ(ragged.colIdx, (std::vector<int64_t>{0, 0, 1}));
  // A ragged diagonal block of one element is full.
  BlockLayout single = buildBlockLayout(Pattern::causal(), 65, 64);
  EXPECT_EQ(single.classOf(1, 1), BlockClass::Full);
}

TEST(BlockLayoutBuild, ClassNames) {
  EXPECT_STREQ(blockClassName(BlockClass::Empty), "empty");
  EXPECT_STREQ(blockClassName(BlockClass::Partial), "partial");
  EXPECT_STREQ(blockClassName(BlockClass::Full), "full");
}

//===----------------------------------------------------------------------===//
// Cost
//===----------------------------------------------------------------------===//

TEST(AttentionCost, DenseCausal) {
  const int64_t n = 16384, b = 128, d = 64;
  AttentionCost cost = attentionCost(Pattern::causal(), n, b, d);
  int64_t pairs = n * (n + 1) / 2;
  EXPECT_EQ(cost.allowedPairs, pairs);
  EXPECT_EQ(cost.computedBlocks, 128 * 129 / 2);
  EXPECT_EQ(cost.denseCausalBlocks, 128 * 129 / 2);
  EXPECT_DOUBLE_EQ(cost.usefulFlops, 4.0 * pairs * d);
  EXPECT_DOUBLE_EQ(cost.computedFlops, 4.0 * (128 * 129 / 2) * b * b * d);
  EXPECT_NEAR(double(cost.allowedPairs) / (double(n) * n), 0.5, 1e-4);
}

TEST(AttentionCost, SparsePatternsAt16k) {
  const int64_t n = 16384, b = 128, d = 64;
  // Allowed pairs from the definitions, one row at a time.
  int64_t local = 0, strided = 0, fixed = 0;
  for (int64_t q = 0; q < n; ++q) {
    local += std::min<int64_t>(q + 1, 128);
    strided += q / 128 + 1;
    // Keys of q's own fixed block, plus the last 32 of each earlier one.
    fixed += (q - q / 128 * 128 + 1) + q / 128 * 32;
  }
  auto density = [&](int64_t pairs) { return double(pairs) / (double(n) * n); };

  AttentionCost localCost = attentionCost(Pattern::local(128), n, b, d);
  EXPECT_EQ(localCost.allowedPairs, local);
  EXPECT_NEAR(density(localCost.allowedPairs), 0.0078, 5e-5);
  EXPECT_EQ(localCost.computedBlocks, 2 * 128 - 1);
  EXPECT_EQ(localCost.denseCausalBlocks, 128 * 129 / 2);
  EXPECT_DOUBLE_EQ(localCost.usefulFlops, 4.0 * local * d);
  EXPECT_DOUBLE_EQ(localCost.computedFlops, 4.0 * (2 * 128 - 1) * b * b * d);

  AttentionCost stridedCost = attentionCost(Pattern::strided(128), n, b, d);
  EXPECT_EQ(stridedCost.allowedPairs, strided);
  EXPECT_NEAR(density(stridedCost.allowedPairs), 0.0039, 5e-5);
  // Every block spans a distance that is a multiple of 128.
  EXPECT_EQ(stridedCost.computedBlocks, 128 * 129 / 2);

  AttentionCost fixedCost = attentionCost(Pattern::fixed(128, 32), n, b, d);
  EXPECT_EQ(fixedCost.allowedPairs, fixed);
  EXPECT_NEAR(density(fixedCost.allowedPairs), 0.128, 5e-4);
  // Every key block holds summary columns; none is full off the diagonal
  // (it also holds non-summary columns of another fixed block).
  EXPECT_EQ(fixedCost.computedBlocks, 128 * 129 / 2);
  BlockLayout fixedLayout = buildBlockLayout(Pattern::fixed(128, 32), n, b);
  EXPECT_EQ(fixedLayout.numFull(), 0);
}

TEST(AttentionCost, RaggedAndDegenerate) {
  // n = 1000 at block 64: 16 block rows, the last ragged but costed whole.
  AttentionCost cost = attentionCost(Pattern::causal(), 1000, 64, 32);
  EXPECT_EQ(cost.allowedPairs, 1000 * 1001 / 2);
  EXPECT_EQ(cost.computedBlocks, 16 * 17 / 2);
  EXPECT_EQ(cost.denseCausalBlocks, 16 * 17 / 2);
  EXPECT_DOUBLE_EQ(cost.computedFlops, 4.0 * (16 * 17 / 2) * 64 * 64 * 32);
  AttentionCost none = attentionCost(Pattern::causal(), 0, 64, 32);
  EXPECT_EQ(none.allowedPairs, 0);
  EXPECT_EQ(none.computedBlocks, 0);
  EXPECT_EQ(none.computedFlops, 0);
}

TEST(BlockLayoutBuild, ExtremeParametersStayDefined) {
  // Huge parameters must not overflow anywhere (run under UBSan too).
  const int64_t big = std::numeric_limits<int64_t>::max();
  std::vector<Pattern> patterns = {
      Pattern::local(big),
      Pattern::strided(big),
      Pattern::fixed(big, big),
      Pattern::fixed(big, 1),
      Pattern::fixed(7, big),
      Pattern::blockLayout(big, {{0, 0}}),
      Pattern::blockLayout(64, {{0, 0}, {big, 0}, {big, big}}),
      Pattern::unionOf({Pattern::local(big), Pattern::strided(big)}),
  };
  for (const Pattern &p : patterns) {
    for (int64_t b : {int64_t{7}, int64_t{64}, big})
      expectMatchesBruteForce(p, 100, b);
    EXPECT_EQ(p.countAllowed(100), test::refCount(p, 100)) << p.str();
    for (int64_t q = 0; q < 100; ++q) {
      std::vector<int64_t> expected, got;
      for (int64_t k = 0; k <= q; ++k)
        if (refAllowed(p, q, k))
          expected.push_back(k);
      p.forEachAllowedKey(q, 100, [&got](int64_t k) { got.push_back(k); });
      ASSERT_EQ(got, expected) << p.str() << " q=" << q;
    }
    // Valid huge values round-trip (fixed(7, big) is rightly rejected).
    std::optional<Pattern> parsed = Pattern::parse(p.str(), nullptr);
    if (parsed) {
      EXPECT_EQ(*parsed, p);
    }
  }
  AttentionCost cost = attentionCost(Pattern::causal(), 100, big, 64);
  EXPECT_EQ(cost.computedBlocks, 1);
}
