//===- ReachabilityTest.cpp - Information flow through layer stacks -------===//

#include "pattern/Pattern.h"

#include "PatternTestUtil.h"

#include <gtest/gtest.h>

using namespace stc::pattern;
using stc::pattern::test::refAllowed;

namespace {

/// The definition, directly: boolean matrices, every layer reading the
/// previous layer's sets, evaluating every (i, k) pair.
Reachability bruteForce(const std::vector<Pattern> &layers, int64_t n) {
  Reachability result;
  result.n = n;
  result.layers = static_cast<int64_t>(layers.size());
  std::vector<std::vector<bool>> reach(n, std::vector<bool>(n, false));
  for (int64_t i = 0; i < n; ++i)
    reach[i][i] = true;
  auto allReachable = [&]() {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j <= i; ++j)
        if (!reach[i][j])
          return false;
    return true;
  };
  if (allReachable()) {
    result.maxHops = 0;
    return result;
  }
  for (size_t l = 0; l < layers.size(); ++l) {
    std::vector<std::vector<bool>> next = reach;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k <= i; ++k)
        if (refAllowed(layers[l], i, k))
          for (int64_t j = 0; j < n; ++j)
            if (reach[k][j])
              next[i][j] = true;
    reach = std::move(next);
    if (allReachable()) {
      result.maxHops = static_cast<int64_t>(l) + 1;
      return result;
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j <= i; ++j) {
      if (reach[i][j])
        continue;
      ++result.unreachablePairs;
      if (!result.exampleUnreachable)
        result.exampleUnreachable = std::make_pair(i, j);
    }
  }
  return result;
}

void expectSame(const Reachability &got, const Reachability &expected,
                const std::string &context) {
  EXPECT_EQ(got.n, expected.n) << context;
  EXPECT_EQ(got.layers, expected.layers) << context;
  EXPECT_EQ(got.maxHops, expected.maxHops) << context;
  EXPECT_EQ(got.unreachablePairs, expected.unreachablePairs) << context;
  EXPECT_EQ(got.exampleUnreachable, expected.exampleUnreachable) << context;
}

std::string describe(const std::vector<Pattern> &layers, int64_t n) {
  std::string text = "n=" + std::to_string(n) + " layers:";
  for (const Pattern &p : layers)
    text += " " + p.str();
  return text;
}

} // namespace

TEST(Reachability, StridedInterleavedReachesEverythingInTwoHops) {
  for (int64_t l : {4, 8, 64, 128}) {
    for (int64_t n : {l * l, int64_t{1000}, int64_t{4096}}) {
      Reachability r =
          analyzeReachability({Pattern::local(l), Pattern::strided(l)}, n);
      EXPECT_EQ(r.maxHops, 2) << "l=" << l << " n=" << n;
      EXPECT_EQ(r.unreachablePairs, 0);
      EXPECT_FALSE(r.exampleUnreachable);
      EXPECT_EQ(r.n, n);
      EXPECT_EQ(r.layers, 2);
    }
  }
  // A union layer (both heads in one layer) needs two such layers.
  Pattern heads = Pattern::unionOf({Pattern::local(16), Pattern::strided(16)});
  EXPECT_EQ(analyzeReachability({heads, heads, heads}, 700).maxHops, 2);
  EXPECT_EQ(analyzeReachability({heads}, 700).maxHops, -1);
}

TEST(Reachability, OrderOfLayersMatters) {
  // strided then local also covers everything in two hops (each position
  // of a window of 8 brings its stride class), but a strided(8) layer then a
  // local(4) one does not.
  std::vector<Pattern> layers = {Pattern::strided(8), Pattern::local(8)};
  EXPECT_EQ(analyzeReachability(layers, 100).maxHops, 2);
  layers = {Pattern::strided(8), Pattern::local(4)};
  Reachability r = analyzeReachability(layers, 100);
  EXPECT_EQ(r.maxHops, -1);
  expectSame(r, bruteForce(layers, 100), describe(layers, 100));
}

TEST(Reachability, SingleLocalLayerLeavesPairsUnreachable) {
  const int64_t n = 32, w = 4;
  Reachability r = analyzeReachability({Pattern::local(w)}, n);
  EXPECT_EQ(r.maxHops, -1);
  // Row i misses j < i - w + 1: max(0, i - w + 1) pairs.
  int64_t expected = 0;
  for (int64_t i = 0; i < n; ++i)
    expected += std::max<int64_t>(0, i - w + 1);
  EXPECT_EQ(r.unreachablePairs, expected);
  ASSERT_TRUE(r.exampleUnreachable);
  EXPECT_EQ(*r.exampleUnreachable, std::make_pair(int64_t{w}, int64_t{0}));
  // Stacking local layers extends the reach by w - 1 per layer.
  std::vector<Pattern> stack(10, Pattern::local(w));
  Reachability deep = analyzeReachability(stack, n);
  // Reach after L layers is L * (w - 1); need L * 3 >= 31 -> L = 11 > 10.
  EXPECT_EQ(deep.maxHops, -1);
  EXPECT_EQ(deep.unreachablePairs, 1);
  EXPECT_EQ(*deep.exampleUnreachable, std::make_pair(int64_t{31}, int64_t{0}));
  stack.push_back(Pattern::local(w));
  EXPECT_EQ(analyzeReachability(stack, n).maxHops, 11);
}

TEST(Reachability, FixedNeedsTwoLayers) {
  for (auto [l, c] :
       {std::pair<int64_t, int64_t>{8, 1}, {8, 2}, {16, 4}, {128, 32}}) {
    int64_t n = 4 * l + 3;
    Reachability one = analyzeReachability({Pattern::fixed(l, c)}, n);
    EXPECT_EQ(one.maxHops, -1) << l << "," << c;
    EXPECT_GT(one.unreachablePairs, 0);
    Reachability two =
        analyzeReachability({Pattern::fixed(l, c), Pattern::fixed(l, c)}, n);
    EXPECT_EQ(two.maxHops, 2) << l << "," << c;
    EXPECT_EQ(two.unreachablePairs, 0);
  }
  // Without summary columns the fixed blocks never talk.
  Reachability blocksOnly =
      analyzeReachability({Pattern::fixed(8, 0), Pattern::fixed(8, 0)}, 64);
  EXPECT_EQ(blocksOnly.maxHops, -1);
  EXPECT_EQ(*blocksOnly.exampleUnreachable,
            std::make_pair(int64_t{8}, int64_t{0}));
}

TEST(Reachability, Trivial) {
  EXPECT_EQ(analyzeReachability({Pattern::causal()}, 1000).maxHops, 1);
  EXPECT_EQ(
      analyzeReachability({Pattern::causal(), Pattern::local(1)}, 500).maxHops,
      1);
  Reachability none = analyzeReachability({}, 5);
  EXPECT_EQ(none.maxHops, -1);
  EXPECT_EQ(none.layers, 0);
  EXPECT_EQ(none.unreachablePairs, 10);
  EXPECT_EQ(*none.exampleUnreachable, std::make_pair(int64_t{1}, int64_t{0}));
  EXPECT_EQ(analyzeReachability({}, 1).maxHops, 0);
  Reachability empty = analyzeReachability({Pattern::local(3)}, 0);
  EXPECT_EQ(empty.maxHops, 0);
  EXPECT_EQ(empty.n, 0);
  EXPECT_EQ(empty.unreachablePairs, 0);
  EXPECT_EQ(analyzeReachability({Pattern::local(3)}, -4).n, 0);
  // A layer that allows nothing changes nothing.
  Reachability nothing = analyzeReachability({Pattern::local(0)}, 6);
  EXPECT_EQ(nothing.unreachablePairs, 15);
}

TEST(Reachability, LayersReadThePreviousLayer) {
  // With local(2) a single layer moves information one position. If a layer
  // chained through its own updates, row 9 would reach 0 after one layer.
  Reachability r = analyzeReachability({Pattern::local(2)}, 10);
  EXPECT_EQ(r.unreachablePairs, 10 * 9 / 2 - 9);
  EXPECT_EQ(*r.exampleUnreachable, std::make_pair(int64_t{2}, int64_t{0}));
}

TEST(Reachability, RandomStacksMatchBruteForce) {
  std::mt19937 rng(41);
  for (int trial = 0; trial < 120; ++trial) {
    int64_t n = std::uniform_int_distribution<int64_t>(1, 40)(rng);
    if (trial % 10 == 0)
      n = std::uniform_int_distribution<int64_t>(60, 140)(rng); // multi-word
    int numLayers = std::uniform_int_distribution<int>(0, 4)(rng);
    std::vector<Pattern> layers;
    for (int l = 0; l < numLayers; ++l) {
      // Mostly sparse layers, so that stacks often stay incomplete.
      std::uniform_int_distribution<int> kind(0, 4);
      std::uniform_int_distribution<int64_t> size(1,
                                                  std::max<int64_t>(2, n / 3));
      switch (kind(rng)) {
      case 0:
        layers.push_back(Pattern::local(size(rng)));
        break;
      case 1:
        layers.push_back(Pattern::strided(size(rng)));
        break;
      case 2: {
        int64_t blk = size(rng);
        layers.push_back(Pattern::fixed(
            blk, std::uniform_int_distribution<int64_t>(0, blk)(rng)));
        break;
      }
      default:
        layers.push_back(test::randomPattern(rng, n, /*depth=*/1));
        break;
      }
    }
    expectSame(analyzeReachability(layers, n), bruteForce(layers, n),
               describe(layers, n));
  }
}

TEST(Reachability, LargeContextIsFast) {
  // The CLI's context: two sparse layers at n = 12288.
  Reachability r =
      analyzeReachability({Pattern::local(128), Pattern::strided(128)}, 12288);
  EXPECT_EQ(r.maxHops, 2);
  Reachability fixed = analyzeReachability(
      {Pattern::fixed(128, 32), Pattern::fixed(128, 32)}, 12288);
  EXPECT_EQ(fixed.maxHops, 2);
  Reachability partial = analyzeReachability({Pattern::local(128)}, 12288);
  EXPECT_EQ(partial.maxHops, -1);
  int64_t expected = 0;
  for (int64_t i = 0; i < 12288; ++i)
    expected += std::max<int64_t>(0, i - 127);
  EXPECT_EQ(partial.unreachablePairs, expected);
}
