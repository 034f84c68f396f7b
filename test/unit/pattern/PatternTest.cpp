//===- PatternTest.cpp - Pattern semantics, counting and text form --------===//

#include "pattern/Pattern.h"

#include "PatternTestUtil.h"

#include <gtest/gtest.h>

using namespace stc::pattern;
using stc::pattern::test::refAllowed;
using stc::pattern::test::refCount;

namespace {

Pattern parseOrDie(std::string_view text) {
  std::string error;
  std::optional<Pattern> p = Pattern::parse(text, &error);
  EXPECT_TRUE(p) << text << ": " << error;
  return p ? *p : Pattern::causal();
}

std::string parseError(std::string_view text) {
  std::string error;
  std::optional<Pattern> p = Pattern::parse(text, &error);
  EXPECT_FALSE(p) << "parsed unexpectedly: " << text << " as " << p->str();
  EXPECT_FALSE(error.empty()) << text;
  return error;
}

Pattern predicatePattern(const char *name, std::string_view sexpr) {
  std::optional<Predicate> pred = Predicate::parse(sexpr, nullptr);
  EXPECT_TRUE(pred) << sexpr;
  return Pattern::predicate(name, pred ? *pred : Predicate());
}

/// A broad set of patterns: every kind, corner parameters, nested unions,
/// unions holding predicates and block layouts.
std::vector<Pattern> samplePatterns() {
  std::vector<Pattern> patterns = {Pattern::causal()};
  for (int64_t size : {1, 2, 3, 5, 8, 16, 37, 64}) {
    patterns.push_back(Pattern::local(size));
    patterns.push_back(Pattern::strided(size));
  }
  for (int64_t l : {1, 2, 3, 8, 13, 32})
    for (int64_t c : {int64_t{1}, (l + 1) / 2, l})
      patterns.push_back(Pattern::fixed(l, c));
  for (int64_t l : {1, 2, 5, 16})
    for (int64_t c : {int64_t{0}, int64_t{1}, (l + 1) / 2, l})
      patterns.push_back(Pattern::gathered(l, c));
  patterns.push_back(
      Pattern::blockLayout(4, {{0, 0}, {1, 0}, {2, 2}, {3, 1}, {5, 0}}));
  patterns.push_back(Pattern::blockLayout(7, {{1, 1}, {2, 0}, {2, 1}}));
  patterns.push_back(Pattern::blockLayout(1, {{0, 0}, {3, 1}, {9, 9}}));
  patterns.push_back(
      Pattern::predicate("lsum", test::localPlusSummaryPredicate(3, 5)));
  patterns.push_back(predicatePattern("sq", "(slt (mul (sub q k) (sub q k)) "
                                            "10)"));
  patterns.push_back(predicatePattern("neg", "(sgt k q)")); // allows nothing
  patterns.push_back(
      Pattern::unionOf({Pattern::local(4), Pattern::strided(4)}));
  patterns.push_back(Pattern::unionOf(
      {Pattern::local(3), Pattern::blockLayout(4, {{2, 0}, {3, 3}}),
       Pattern::predicate("mod", test::localPlusSummaryPredicate(1, 6))}));
  patterns.push_back(Pattern::unionOf(
      {Pattern::unionOf({Pattern::fixed(8, 2), Pattern::local(2)}),
       Pattern::strided(11)}));
  patterns.push_back(Pattern::unionOf({Pattern::strided(3)}));
  // Differences: shift-invariant (what stc-normalize-patterns makes of
  // union(local, strided)), and over a fixed and a predicate.
  patterns.push_back(
      Pattern::difference(Pattern::local(8), Pattern::strided(8)));
  patterns.push_back(
      Pattern::difference(Pattern::local(20), Pattern::strided(6)));
  patterns.push_back(
      Pattern::difference(Pattern::fixed(8, 3), Pattern::strided(5)));
  patterns.push_back(Pattern::difference(
      Pattern::causal(),
      Pattern::predicate("lsum", test::localPlusSummaryPredicate(2, 7))));
  patterns.push_back(
      Pattern::difference(Pattern::strided(4), Pattern::causal()));
  return patterns;
}

} // namespace

//===----------------------------------------------------------------------===//
// Membership
//===----------------------------------------------------------------------===//

TEST(PatternAllowed, BuiltinsMatchTheirDefinitions) {
  // Written out here rather than through refAllowed, to pin the formulas.
  for (int64_t q = -2; q < 70; ++q) {
    for (int64_t k = -2; k < 70; ++k) {
      bool causal = q >= 0 && k >= 0 && k <= q;
      EXPECT_EQ(Pattern::causal().allowed(q, k), causal);
      for (int64_t l : {1, 3, 16}) {
        EXPECT_EQ(Pattern::local(l).allowed(q, k), causal && q - k < l);
        EXPECT_EQ(Pattern::strided(l).allowed(q, k),
                  causal && (q - k) % l == 0);
        for (int64_t c = 1; c <= l; ++c)
          ASSERT_EQ(Pattern::fixed(l, c).allowed(q, k),
                    causal && (q / l == k / l || k % l >= l - c))
              << l << "," << c << " at " << q << "," << k;
      }
    }
  }
}

TEST(PatternAllowed, AllPatternsMatchReference) {
  for (const Pattern &p : samplePatterns())
    for (int64_t q = -3; q < 90; ++q)
      for (int64_t k = -3; k < 90; ++k)
        ASSERT_EQ(p.allowed(q, k), refAllowed(p, q, k))
            << p.str() << " at " << q << "," << k;
}

TEST(PatternAllowed, NeverAboveTheDiagonalOrNegative) {
  Predicate always;
  always.addConst(1);
  std::vector<Pattern> patterns = samplePatterns();
  patterns.push_back(Pattern::predicate("always", always));
  for (const Pattern &p : patterns) {
    for (int64_t q = -5; q < 40; ++q) {
      EXPECT_FALSE(p.allowed(q, q + 1)) << p.str();
      EXPECT_FALSE(p.allowed(q, -1)) << p.str();
      EXPECT_FALSE(p.allowed(-1, q)) << p.str();
    }
  }
}

TEST(PatternAllowed, SpecificPoints) {
  Pattern fixed = Pattern::fixed(128, 32);
  EXPECT_TRUE(fixed.allowed(200, 130)); // same fixed block
  EXPECT_TRUE(fixed.allowed(1000, 96)); // summary column of block 0
  EXPECT_TRUE(fixed.allowed(1000, 127));
  EXPECT_FALSE(fixed.allowed(1000, 95)); // just before the summary columns
  EXPECT_FALSE(fixed.allowed(96, 97));   // k > q
  Pattern local = Pattern::local(128);
  EXPECT_TRUE(local.allowed(500, 373));
  EXPECT_FALSE(local.allowed(500, 372));
  Pattern strided = Pattern::strided(128);
  EXPECT_TRUE(strided.allowed(500, 500 - 3 * 128));
  EXPECT_FALSE(strided.allowed(500, 499));
}

TEST(PatternAllowed, BadParametersAreDefined) {
  // Constructors never fail; out-of-range parameters have these meanings.
  for (int64_t bad : {int64_t{0}, int64_t{-5}}) {
    EXPECT_EQ(Pattern::local(bad).countAllowed(50), 0);
    EXPECT_EQ(Pattern::strided(bad).countAllowed(50), 0);
    EXPECT_EQ(Pattern::fixed(bad, 1).countAllowed(50), 0);
    EXPECT_EQ(Pattern::blockLayout(bad, {{0, 0}}).countAllowed(50), 0);
    EXPECT_FALSE(Pattern::strided(bad).allowed(4, 4));
    EXPECT_EQ(Pattern::local(bad).firstEmptyRow(10), 0);
  }
  // Summary <= 0: block-diagonal; summary >= block: causal.
  for (int64_t q = 0; q < 40; ++q) {
    for (int64_t k = 0; k <= q; ++k) {
      EXPECT_EQ(Pattern::fixed(8, 0).allowed(q, k), q / 8 == k / 8);
      EXPECT_EQ(Pattern::fixed(8, -3).allowed(q, k), q / 8 == k / 8);
      EXPECT_TRUE(Pattern::fixed(8, 9).allowed(q, k));
    }
  }
  EXPECT_EQ(Pattern::fixed(8, 9).countAllowed(100),
            Pattern::causal().countAllowed(100));
  // A huge window is causal.
  EXPECT_EQ(
      Pattern::local(std::numeric_limits<int64_t>::max()).countAllowed(1000),
      1000 * 1001 / 2);
  // Pairs that can never be allowed are dropped.
  Pattern blocks =
      Pattern::blockLayout(4, {{1, 2}, {-1, 0}, {0, -1}, {2, 1}, {2, 1}});
  EXPECT_EQ(blocks.blocks(),
            (std::vector<std::pair<int64_t, int64_t>>{{2, 1}}));
  EXPECT_EQ(Pattern::unionOf({}).countAllowed(10), 0);
  EXPECT_EQ(Pattern::predicate("empty", Predicate()).countAllowed(10), 0);
  EXPECT_EQ(Pattern::unionOf({}).firstEmptyRow(10), 0);
}

//===----------------------------------------------------------------------===//
// Row enumeration and counting
//===----------------------------------------------------------------------===//

TEST(PatternKeys, ForEachAllowedKeyMatchesBruteForce) {
  for (const Pattern &p : samplePatterns()) {
    for (int64_t n : {1, 5, 64, 97}) {
      // Rows past n too: keys are clipped to n - 1.
      for (int64_t q = -1; q < n + 10; ++q) {
        std::vector<int64_t> expected;
        for (int64_t k = 0; k <= std::min(q, n - 1); ++k)
          if (refAllowed(p, q, k))
            expected.push_back(k);
        std::vector<int64_t> got;
        p.forEachAllowedKey(q, n, [&got](int64_t k) { got.push_back(k); });
        ASSERT_EQ(got, expected) << p.str() << " q=" << q << " n=" << n;
      }
    }
  }
}

TEST(PatternKeys, NoKeysForEmptySequences) {
  int calls = 0;
  Pattern::causal().forEachAllowedKey(5, 0, [&calls](int64_t) { ++calls; });
  Pattern::causal().forEachAllowedKey(-1, 10, [&calls](int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(PatternCount, MatchesBruteForce) {
  for (const Pattern &p : samplePatterns())
    for (int64_t n : {0, 1, 2, 3, 7, 16, 63, 64, 65, 100, 129})
      ASSERT_EQ(p.countAllowed(n), refCount(p, n)) << p.str() << " n=" << n;
}

TEST(PatternCount, BuiltinsAtLargeN) {
  // Per-row counts from the definitions (O(n) sums, independent of the
  // closed forms under test).
  for (int64_t n : {2000, 3000, 12288, 16384}) {
    int64_t causal = 0, local = 0, strided = 0, fixed = 0;
    for (int64_t q = 0; q < n; ++q) {
      causal += q + 1;
      local += std::min<int64_t>(q + 1, 128);
      for (int64_t k = q; k >= 0; k -= 128)
        ++strided;
      fixed += (q % 128 + 1) + (q / 128) * 32;
    }
    EXPECT_EQ(Pattern::causal().countAllowed(n), causal);
    EXPECT_EQ(Pattern::local(128).countAllowed(n), local);
    EXPECT_EQ(Pattern::strided(128).countAllowed(n), strided);
    EXPECT_EQ(Pattern::fixed(128, 32).countAllowed(n), fixed);
  }
  // A full brute-force count at a few thousand for odd parameters.
  for (const Pattern &p : {Pattern::local(100), Pattern::strided(100),
                           Pattern::fixed(100, 7), Pattern::fixed(64, 64)})
    EXPECT_EQ(p.countAllowed(2000), refCount(p, 2000)) << p.str();
}

TEST(PatternCount, RandomPatterns) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 150; ++trial) {
    int64_t n = std::uniform_int_distribution<int64_t>(1, 80)(rng);
    Pattern p = test::randomPattern(rng, n, /*depth=*/2);
    ASSERT_EQ(p.countAllowed(n), refCount(p, n)) << p.str() << " n=" << n;
    for (int64_t q = 0; q < n; ++q) {
      std::vector<int64_t> expected, got;
      for (int64_t k = 0; k <= q; ++k)
        if (refAllowed(p, q, k))
          expected.push_back(k);
      p.forEachAllowedKey(q, n, [&got](int64_t k) { got.push_back(k); });
      ASSERT_EQ(got, expected) << p.str() << " q=" << q;
    }
  }
}

TEST(PatternCount, LargePatternBlocks) {
  // blocks(64) over n = 1000 with a ragged last block row, and pairs listed
  // beyond n.
  std::mt19937 rng(3);
  Pattern p = test::randomBlocks(rng, 64, 20);
  EXPECT_EQ(p.countAllowed(1000), refCount(p, 1000));
  EXPECT_EQ(p.countAllowed(999), refCount(p, 999));
}

TEST(PatternDensity, KnownValues) {
  const int64_t n = 16384;
  EXPECT_NEAR(Pattern::causal().density(n), 0.5, 1e-4);
  EXPECT_DOUBLE_EQ(Pattern::causal().density(n),
                   (double(n) * (n + 1) / 2) / (double(n) * n));
  EXPECT_NEAR(Pattern::local(128).density(n), 0.00778, 5e-6);
  EXPECT_NEAR(Pattern::strided(128).density(n), 0.0039, 5e-5);
  EXPECT_NEAR(Pattern::fixed(128, 32).density(n), 0.128, 5e-4);
  EXPECT_EQ(Pattern::causal().density(0), 0);
}

TEST(PatternEmptyRows, FirstEmptyRow) {
  for (const Pattern &p : {Pattern::causal(), Pattern::local(1),
                           Pattern::strided(1000), Pattern::fixed(16, 1)})
    EXPECT_FALSE(p.firstEmptyRow(5000)) << p.str();
  // Block row 1 (positions 4..7) lists nothing.
  Pattern blocks = Pattern::blockLayout(4, {{0, 0}, {2, 0}, {3, 3}});
  EXPECT_EQ(blocks.firstEmptyRow(100), 4);
  EXPECT_FALSE(blocks.firstEmptyRow(4));
  // Rows from 16 on list nothing.
  Pattern prefix = Pattern::blockLayout(4, {{0, 0}, {1, 1}, {2, 0}, {3, 3}});
  EXPECT_EQ(prefix.firstEmptyRow(17), 16);
  EXPECT_FALSE(prefix.firstEmptyRow(16));
  EXPECT_EQ(predicatePattern("late", "(sge k 3)").firstEmptyRow(10), 0);
  EXPECT_EQ(predicatePattern("even", "(eq (rems q 2) 0)").firstEmptyRow(10), 1);
  EXPECT_FALSE(predicatePattern("even", "(eq (rems q 2) 0)").firstEmptyRow(1));
  EXPECT_EQ(Pattern::unionOf({blocks, predicatePattern("q5", "(eq q 5)")})
                .firstEmptyRow(100),
            4);
  EXPECT_EQ(Pattern::unionOf({blocks, predicatePattern("q4", "(eq q 4)")})
                .firstEmptyRow(100),
            5);
  // Brute force over every sample pattern.
  for (const Pattern &p : samplePatterns()) {
    std::optional<int64_t> expected;
    for (int64_t q = 0; q < 60 && !expected; ++q) {
      bool any = false;
      for (int64_t k = 0; k <= q; ++k)
        any |= refAllowed(p, q, k);
      if (!any)
        expected = q;
    }
    EXPECT_EQ(p.firstEmptyRow(60), expected) << p.str();
  }
}

//===----------------------------------------------------------------------===//
// Accessors
//===----------------------------------------------------------------------===//

TEST(PatternAccessors, Fields) {
  EXPECT_EQ(Pattern::causal().kind(), Pattern::Kind::Causal);
  EXPECT_EQ(Pattern::local(7).kind(), Pattern::Kind::Local);
  EXPECT_EQ(Pattern::local(7).size(), 7);
  EXPECT_EQ(Pattern::strided(9).size(), 9);
  Pattern fixed = Pattern::fixed(128, 32);
  EXPECT_EQ(fixed.kind(), Pattern::Kind::Fixed);
  EXPECT_EQ(fixed.size(), 128);
  EXPECT_EQ(fixed.summary(), 32);
  Pattern u = Pattern::unionOf({Pattern::local(2), Pattern::causal()});
  EXPECT_EQ(u.kind(), Pattern::Kind::Union);
  ASSERT_EQ(u.children().size(), 2u);
  EXPECT_EQ(u.children()[0], Pattern::local(2));
  EXPECT_TRUE(fixed.children().empty());
  Pattern blocks = Pattern::blockLayout(64, {{1, 1}, {0, 0}, {1, 0}, {1, 0}});
  EXPECT_EQ(blocks.size(), 64);
  EXPECT_EQ(blocks.blocks(),
            (std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {1, 0}, {1, 1}}));
  Pattern pred = Pattern::predicate("near", test::localPredicate(3));
  EXPECT_EQ(pred.kind(), Pattern::Kind::Predicate);
  EXPECT_EQ(pred.predicateName(), "near");
  EXPECT_EQ(pred.predicateExpr().str(), "(slt (sub q k) 3)");
  EXPECT_TRUE(fixed.predicateName().empty());
  EXPECT_TRUE(fixed.predicateExpr().empty());
  EXPECT_TRUE(fixed.blocks().empty());
}

//===----------------------------------------------------------------------===//
// Text form
//===----------------------------------------------------------------------===//

TEST(PatternText, CanonicalForms) {
  EXPECT_EQ(Pattern::causal().str(), "causal");
  EXPECT_EQ(Pattern::local(128).str(), "local(128)");
  EXPECT_EQ(Pattern::strided(128).str(), "strided(128)");
  EXPECT_EQ(Pattern::fixed(128, 32).str(), "fixed(128,32)");
  EXPECT_EQ(Pattern::gathered(128, 32).str(), "gathered(128,32)");
  EXPECT_EQ(parseOrDie("gathered(128, 32)"), Pattern::gathered(128, 32));
  EXPECT_EQ(
      Pattern::unionOf({Pattern::local(128), Pattern::strided(128)}).str(),
      "union(local(128),strided(128))");
  EXPECT_EQ(
      Pattern::difference(Pattern::local(128), Pattern::strided(128)).str(),
      "minus(local(128),strided(128))");
  EXPECT_EQ(Pattern::blockLayout(64, {{1, 1}, {0, 0}, {1, 0}}).str(),
            "blocks(64;0:0,1:0,1:1)");
  EXPECT_EQ(Pattern::blockLayout(64, {}).str(), "blocks(64;)");
  EXPECT_EQ(Pattern::predicate("name", test::localPredicate(3)).str(),
            "predicate(name;(slt (sub q k) 3))");
}

TEST(PatternText, RoundTrips) {
  std::vector<Pattern> patterns = samplePatterns();
  patterns.push_back(Pattern::blockLayout(64, {}));
  patterns.push_back(Pattern::unionOf(
      {Pattern::predicate("a.b-c_1$x:y", test::localPredicate(-2)),
       Pattern::unionOf({Pattern::causal()})}));
  std::mt19937 rng(11);
  for (int i = 0; i < 100; ++i)
    patterns.push_back(test::randomPattern(rng, 40, /*depth=*/3));
  for (const Pattern &p : patterns) {
    std::string text = p.str();
    std::string error;
    std::optional<Pattern> parsed = Pattern::parse(text, &error);
    ASSERT_TRUE(parsed) << text << ": " << error;
    EXPECT_EQ(*parsed, p) << text;
    EXPECT_EQ(parsed->str(), text);
  }
}

TEST(PatternText, LenientSpaces) {
  EXPECT_EQ(parseOrDie("  causal "), Pattern::causal());
  EXPECT_EQ(parseOrDie("causal()"), Pattern::causal());
  EXPECT_EQ(parseOrDie("local ( 128 )"), Pattern::local(128));
  EXPECT_EQ(parseOrDie("fixed( 128 , 32 )"), Pattern::fixed(128, 32));
  EXPECT_EQ(parseOrDie(" union( local(128) ,\n strided(128) ) "),
            Pattern::unionOf({Pattern::local(128), Pattern::strided(128)}));
  EXPECT_EQ(parseOrDie("blocks( 64 ; 0 : 0 , 1:0,1 :1 )"),
            Pattern::blockLayout(64, {{0, 0}, {1, 0}, {1, 1}}));
  EXPECT_EQ(parseOrDie("predicate( name ; (slt (sub q k) 3) )"),
            Pattern::predicate("name", test::localPredicate(3)));
  EXPECT_EQ(
      parseOrDie("union(predicate(a;(slt (sub q k) 3)),predicate(b;(eq q k)))")
          .children()
          .size(),
      2u);
}

TEST(PatternText, ParseErrorsNameTheBadValue) {
  std::string error = parseError("local(0)");
  EXPECT_NE(error.find("local window must be >= 1, got 0"), std::string::npos)
      << error;
  error = parseError("strided(-3)");
  EXPECT_NE(error.find("stride must be >= 1, got -3"), std::string::npos)
      << error;
  error = parseError("fixed(128,200)");
  EXPECT_NE(error.find("got 200"), std::string::npos) << error;
  EXPECT_NE(error.find("[0, 128]"), std::string::npos) << error;
  error = parseError("fixed(128,-1)");
  EXPECT_NE(error.find("got -1"), std::string::npos) << error;
  error = parseError("fixed(0,0)");
  EXPECT_NE(error.find("fixed block size must be >= 1, got 0"),
            std::string::npos)
      << error;
  error = parseError("blocks(0;0:0)");
  EXPECT_NE(error.find("block size must be >= 1, got 0"), std::string::npos)
      << error;
  error = parseError("blocks(64;0:0,1:2)");
  EXPECT_NE(error.find("1:2"), std::string::npos) << error;
  EXPECT_NE(error.find("key block 2 > query block 1"), std::string::npos)
      << error;
  error = parseError("blocks(64;-1:0)");
  EXPECT_NE(error.find("-1:0"), std::string::npos) << error;
  error = parseError("union()");
  EXPECT_NE(error.find("at least one"), std::string::npos) << error;
  error = parseError("minus(local(4))");
  EXPECT_NE(error.find("takes away"), std::string::npos) << error;
  error = parseError("minus(local(4),strided(2),causal)");
  EXPECT_NE(error.find("two patterns"), std::string::npos) << error;
  error = parseError("sliding(3)");
  EXPECT_NE(error.find("'sliding'"), std::string::npos) << error;
  error = parseError("local(128");
  EXPECT_NE(error.find("')'"), std::string::npos) << error;
  error = parseError("local(12x)");
  EXPECT_NE(error.find("'x'"), std::string::npos) << error;
  error = parseError("local()");
  EXPECT_NE(error.find("integer"), std::string::npos) << error;
  error = parseError("local(99999999999999999999)");
  EXPECT_NE(error.find("99999999999999999999"), std::string::npos) << error;
  error = parseError("causal causal");
  EXPECT_NE(error.find("position 7"), std::string::npos) << error;
  error = parseError("");
  EXPECT_NE(error.find("expected a pattern"), std::string::npos) << error;
  error = parseError("union(local(4),)");
  EXPECT_NE(error.find("expected a pattern"), std::string::npos) << error;
  error = parseError("predicate(;q)");
  EXPECT_NE(error.find("predicate name"), std::string::npos) << error;
  error = parseError("predicate(p;(foo q k))");
  EXPECT_NE(error.find("'foo'"), std::string::npos) << error;
  EXPECT_NE(error.find("predicate 'p'"), std::string::npos) << error;
  error = parseError("predicate(p;(slt q k)");
  EXPECT_NE(error.find("')'"), std::string::npos) << error;
  error = parseError("predicate(p;)");
  EXPECT_NE(error.find("expected an expression"), std::string::npos) << error;
  EXPECT_FALSE(Pattern::parse("local(", nullptr));
  // Deep nesting is an error, not a stack overflow.
  std::string deep;
  for (int i = 0; i < 2000; ++i)
    deep += "union(";
  deep += "causal";
  for (int i = 0; i < 2000; ++i)
    deep += ")";
  error = parseError(deep);
  EXPECT_NE(error.find("nested"), std::string::npos) << error;
}

TEST(PatternEquality, Structural) {
  EXPECT_EQ(Pattern::local(3), Pattern::local(3));
  EXPECT_NE(Pattern::local(3), Pattern::local(4));
  EXPECT_NE(Pattern::local(3), Pattern::strided(3));
  EXPECT_NE(Pattern::fixed(8, 2), Pattern::fixed(8, 3));
  EXPECT_EQ(Pattern::blockLayout(4, {{1, 0}, {0, 0}, {1, 0}}),
            Pattern::blockLayout(4, {{0, 0}, {1, 0}}));
  EXPECT_NE(Pattern::blockLayout(4, {{0, 0}}),
            Pattern::blockLayout(8, {{0, 0}}));
  EXPECT_NE(Pattern::blockLayout(4, {{0, 0}}),
            Pattern::blockLayout(4, {{1, 0}}));
  EXPECT_NE(Pattern::blockLayout(4, {{0, 0}}),
            Pattern::blockLayout(4, {{0, 0}, {1, 1}}));
  EXPECT_NE(Pattern::unionOf({Pattern::local(3), Pattern::causal()}),
            Pattern::unionOf({Pattern::causal(), Pattern::local(3)}));
  EXPECT_NE(Pattern::unionOf({Pattern::local(3)}), Pattern::local(3));
  EXPECT_EQ(Pattern::predicate("a", test::localPredicate(3)),
            Pattern::predicate("a", test::localPredicate(3)));
  EXPECT_NE(Pattern::predicate("a", test::localPredicate(3)),
            Pattern::predicate("b", test::localPredicate(3)));
  EXPECT_NE(Pattern::predicate("a", test::localPredicate(3)),
            Pattern::predicate("a", test::localPredicate(4)));
  Pattern p = Pattern::fixed(8, 2);
  Pattern copy = p;
  EXPECT_EQ(copy, p);
}

TEST(PatternText, MutatedTextNeverCrashes) {
  // Every successful parse must round-trip; every failure must explain.
  const std::string seeds[] = {
      "union(local(128),strided(128))",
      "fixed(128,32)",
      "blocks(64;0:0,1:0,1:1)",
      "predicate(p;(or (slt (sub q k) 3) (eq (rems k 16) 15)))",
      "union(predicate(a;(select q k -1)),blocks(2;3:1),causal)",
      "minus(union(local(8),fixed(16,4)),strided(8))"};
  const char alphabet[] = "()(),;:-+ 0123456789qkaluniopredsvt";
  std::mt19937 rng(77);
  for (int trial = 0; trial < 5000; ++trial) {
    std::string text = seeds[trial % std::size(seeds)];
    int edits = std::uniform_int_distribution<int>(1, 3)(rng);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      size_t at =
          std::uniform_int_distribution<size_t>(0, text.size() - 1)(rng);
      char ch = alphabet[std::uniform_int_distribution<size_t>(
          0, sizeof(alphabet) - 2)(rng)];
      switch (std::uniform_int_distribution<int>(0, 2)(rng)) {
      case 0:
        text[at] = ch;
        break;
      case 1:
        text.insert(text.begin() + at, ch);
        break;
      default:
        text.erase(at, 1);
        break;
      }
    }
    std::string error;
    std::optional<Pattern> p = Pattern::parse(text, &error);
    if (!p) {
      EXPECT_NE(error.find("at position "), std::string::npos) << text;
      continue;
    }
    std::optional<Pattern> again = Pattern::parse(p->str(), &error);
    ASSERT_TRUE(again) << text << " -> " << p->str() << ": " << error;
    EXPECT_EQ(*again, *p) << text;
  }
}

TEST(PatternCost, ShiftInvariantPatternsAreCheapAtAnyN) {
  auto pred = [](const char *name, const char *s) {
    return Pattern::predicate(name, *Predicate::parse(s, nullptr));
  };
  Pattern dilated =
      pred("dilated", "(or (slt (sub q k) 32) (eq (remu (sub q k) 64) 0))");
  Pattern summary = pred("summary", "(or (slt (sub q k) 8) (eq (rems k 16) 15))");
  EXPECT_TRUE(Pattern::causal().shiftInvariant());
  EXPECT_TRUE(Pattern::unionOf({Pattern::local(8), dilated}).shiftInvariant());
  EXPECT_FALSE(Pattern::fixed(16, 4).shiftInvariant());
  EXPECT_FALSE(summary.shiftInvariant());
  EXPECT_EQ(dilated.elementEvaluations(int64_t(1) << 20), 0);
  EXPECT_EQ(summary.elementEvaluations(100), 5050);
  EXPECT_EQ(Pattern::unionOf({Pattern::local(4), summary}).elementEvaluations(10),
            55);
  EXPECT_EQ(summary.elementEvaluations(int64_t(1) << 40), INT64_MAX);
  // The counts from the d table equal the brute-force counts.
  for (const Pattern &p : {dilated, Pattern::unionOf({Pattern::local(40),
                                                      dilated})})
    for (int64_t n : {1, 7, 200, 1000}) {
      int64_t brute = 0;
      for (int64_t q = 0; q < n; ++q)
        for (int64_t k = 0; k <= q; ++k)
          brute += p.allowed(q, k);
      EXPECT_EQ(p.countAllowed(n), brute) << p.str() << " n=" << n;
    }
  EXPECT_FALSE(dilated.firstEmptyRow(1000));
  EXPECT_EQ(pred("late", "(sgt (sub q k) 2)").firstEmptyRow(1000), 0);
}
