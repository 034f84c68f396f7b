//===- PredicateTest.cpp - Predicate evaluation, text form and C ----------===//

#include "pattern/Predicate.h"

#include "PatternTestUtil.h"

#include <gtest/gtest.h>

#include <limits>

using namespace stc::pattern;

namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

/// (op a b) over constants, evaluated.
int64_t evalBinary(ExprOp op, int64_t a, int64_t b) {
  Predicate p;
  int32_t x = p.addConst(a), y = p.addConst(b);
  p.add(op, x, y);
  return p.eval(0, 0);
}

Predicate parseOrDie(std::string_view text) {
  std::string error;
  std::optional<Predicate> p = Predicate::parse(text, &error);
  EXPECT_TRUE(p) << text << ": " << error;
  return p ? *p : Predicate();
}

std::string parseError(std::string_view text) {
  std::string error;
  std::optional<Predicate> p = Predicate::parse(text, &error);
  EXPECT_FALSE(p) << "parsed unexpectedly: " << text;
  EXPECT_FALSE(error.empty()) << text;
  return error;
}

const ExprOp kAllOps[] = {
    ExprOp::Q,    ExprOp::K,    ExprOp::Const,     ExprOp::Add,
    ExprOp::Sub,  ExprOp::Mul,  ExprOp::DivS,      ExprOp::RemS,
    ExprOp::DivU, ExprOp::RemU, ExprOp::FloorDivS, ExprOp::MinS,
    ExprOp::MaxS, ExprOp::MinU, ExprOp::MaxU,      ExprOp::And,
    ExprOp::Or,   ExprOp::Xor,  ExprOp::Shl,       ExprOp::ShrS,
    ExprOp::ShrU, ExprOp::Eq,   ExprOp::Ne,        ExprOp::Slt,
    ExprOp::Sle,  ExprOp::Sgt,  ExprOp::Sge,       ExprOp::Ult,
    ExprOp::Ule,  ExprOp::Ugt,  ExprOp::Uge,       ExprOp::Select,
};

} // namespace

TEST(PredicateOps, NamesMatchTheGrammar) {
  const char *expected[] = {
      "q",    "k",    "const",     "add",  "sub",  "mul",  "divs", "rems",
      "divu", "remu", "floordivs", "mins", "maxs", "minu", "maxu", "and",
      "or",   "xor",  "shl",       "shrs", "shru", "eq",   "ne",   "slt",
      "sle",  "sgt",  "sge",       "ult",  "ule",  "ugt",  "uge",  "select"};
  ASSERT_EQ(std::size(expected), std::size(kAllOps));
  for (size_t i = 0; i < std::size(kAllOps); ++i) {
    EXPECT_STREQ(exprOpName(kAllOps[i]), expected[i]);
    EXPECT_EQ(exprOpFromName(expected[i]), kAllOps[i]);
  }
  EXPECT_FALSE(exprOpFromName("Add"));
  EXPECT_FALSE(exprOpFromName(""));
  EXPECT_FALSE(exprOpFromName("div"));
}

TEST(PredicateOps, Arity) {
  for (ExprOp op : kAllOps) {
    int expected = 2;
    if (op == ExprOp::Q || op == ExprOp::K || op == ExprOp::Const)
      expected = 0;
    if (op == ExprOp::Select)
      expected = 3;
    EXPECT_EQ(exprOpArity(op), expected) << exprOpName(op);
  }
}

TEST(PredicateEval, LocalWindow) {
  Predicate p = test::localPredicate(3);
  for (int64_t q = 0; q < 20; ++q)
    for (int64_t k = 0; k < 20; ++k)
      EXPECT_EQ(p.eval(q, k), q - k < 3 ? 1 : 0) << q << "," << k;
}

TEST(PredicateEval, EmptyPredicateAllowsNothing) {
  Predicate p;
  EXPECT_TRUE(p.empty());
  EXPECT_EQ(p.eval(3, 1), 0);
  EXPECT_EQ(p.str(), "0");
  EXPECT_EQ(p.toC("q", "k"), "0LL");
}

TEST(PredicateEval, Arithmetic) {
  EXPECT_EQ(evalBinary(ExprOp::Add, 7, -9), -2);
  EXPECT_EQ(evalBinary(ExprOp::Sub, 7, -9), 16);
  EXPECT_EQ(evalBinary(ExprOp::Mul, -7, 6), -42);
  // Overflow wraps instead of being undefined.
  EXPECT_EQ(evalBinary(ExprOp::Add, kMax, 1), kMin);
  EXPECT_EQ(evalBinary(ExprOp::Sub, kMin, 1), kMax);
  EXPECT_EQ(evalBinary(ExprOp::Mul, kMax, 2), -2);
}

TEST(PredicateEval, SignedDivision) {
  // Truncating division and remainder (C semantics).
  EXPECT_EQ(evalBinary(ExprOp::DivS, 7, 2), 3);
  EXPECT_EQ(evalBinary(ExprOp::DivS, -7, 2), -3);
  EXPECT_EQ(evalBinary(ExprOp::DivS, 7, -2), -3);
  EXPECT_EQ(evalBinary(ExprOp::RemS, -7, 2), -1);
  EXPECT_EQ(evalBinary(ExprOp::RemS, 7, -2), 1);
  // Flooring division.
  EXPECT_EQ(evalBinary(ExprOp::FloorDivS, 7, 2), 3);
  EXPECT_EQ(evalBinary(ExprOp::FloorDivS, -7, 2), -4);
  EXPECT_EQ(evalBinary(ExprOp::FloorDivS, 7, -2), -4);
  EXPECT_EQ(evalBinary(ExprOp::FloorDivS, -7, -2), 3);
  EXPECT_EQ(evalBinary(ExprOp::FloorDivS, -8, 2), -4);
  EXPECT_EQ(evalBinary(ExprOp::FloorDivS, 0, -5), 0);
}

TEST(PredicateEval, DivisionByZeroGivesZero) {
  for (ExprOp op : {ExprOp::DivS, ExprOp::RemS, ExprOp::DivU, ExprOp::RemU,
                    ExprOp::FloorDivS})
    for (int64_t a : {int64_t{0}, int64_t{5}, int64_t{-5}, kMin, kMax})
      EXPECT_EQ(evalBinary(op, a, 0), 0) << exprOpName(op) << " " << a;
  // Through q and k, too.
  Predicate p = parseOrDie("(add (divs q k) (rems q k))");
  EXPECT_EQ(p.eval(9, 0), 0);
  EXPECT_EQ(p.eval(9, 4), 2 + 1);
}

TEST(PredicateEval, MinDividedByMinusOneIsDefined) {
  EXPECT_EQ(evalBinary(ExprOp::DivS, kMin, -1), kMin);
  EXPECT_EQ(evalBinary(ExprOp::RemS, kMin, -1), 0);
  EXPECT_EQ(evalBinary(ExprOp::FloorDivS, kMin, -1), kMin);
  EXPECT_EQ(evalBinary(ExprOp::DivS, 9, -1), -9);
  EXPECT_EQ(evalBinary(ExprOp::RemS, 9, -1), 0);
}

TEST(PredicateEval, UnsignedOpsReinterpretBits) {
  // -1 is 2^64 - 1 unsigned.
  EXPECT_EQ(evalBinary(ExprOp::DivU, -1, 2), kMax);
  EXPECT_EQ(evalBinary(ExprOp::RemU, -1, 10), 5); // 18446744073709551615 % 10
  EXPECT_EQ(evalBinary(ExprOp::DivU, 7, -1), 0);
  EXPECT_EQ(evalBinary(ExprOp::RemU, 7, -1), 7);
  EXPECT_EQ(evalBinary(ExprOp::MinU, -1, 5), 5);
  EXPECT_EQ(evalBinary(ExprOp::MaxU, -1, 5), -1);
  EXPECT_EQ(evalBinary(ExprOp::MinS, -1, 5), -1);
  EXPECT_EQ(evalBinary(ExprOp::MaxS, -1, 5), 5);
  EXPECT_EQ(evalBinary(ExprOp::Ult, -1, 0), 0);
  EXPECT_EQ(evalBinary(ExprOp::Ugt, -1, 0), 1);
  EXPECT_EQ(evalBinary(ExprOp::Ule, 0, -1), 1);
  EXPECT_EQ(evalBinary(ExprOp::Uge, 0, -1), 0);
  EXPECT_EQ(evalBinary(ExprOp::Slt, -1, 0), 1);
  EXPECT_EQ(evalBinary(ExprOp::Sgt, -1, 0), 0);
}

TEST(PredicateEval, Comparisons) {
  for (int64_t a = -2; a <= 2; ++a) {
    for (int64_t b = -2; b <= 2; ++b) {
      EXPECT_EQ(evalBinary(ExprOp::Eq, a, b), a == b ? 1 : 0);
      EXPECT_EQ(evalBinary(ExprOp::Ne, a, b), a != b ? 1 : 0);
      EXPECT_EQ(evalBinary(ExprOp::Slt, a, b), a < b ? 1 : 0);
      EXPECT_EQ(evalBinary(ExprOp::Sle, a, b), a <= b ? 1 : 0);
      EXPECT_EQ(evalBinary(ExprOp::Sgt, a, b), a > b ? 1 : 0);
      EXPECT_EQ(evalBinary(ExprOp::Sge, a, b), a >= b ? 1 : 0);
    }
  }
}

TEST(PredicateEval, BitwiseAndShifts) {
  EXPECT_EQ(evalBinary(ExprOp::And, 12, 10), 8);
  EXPECT_EQ(evalBinary(ExprOp::Or, 12, 10), 14);
  EXPECT_EQ(evalBinary(ExprOp::Xor, 12, 10), 6);
  EXPECT_EQ(evalBinary(ExprOp::Shl, 1, 3), 8);
  // Shift amounts are taken mod 64.
  EXPECT_EQ(evalBinary(ExprOp::Shl, 1, 65), 2);
  EXPECT_EQ(evalBinary(ExprOp::Shl, 1, 64), 1);
  EXPECT_EQ(evalBinary(ExprOp::Shl, 1, -1), kMin); // -1 mod 64 = 63
  EXPECT_EQ(evalBinary(ExprOp::Shl, 3, 63), kMin);
  EXPECT_EQ(evalBinary(ExprOp::ShrS, -8, 1), -4);
  EXPECT_EQ(evalBinary(ExprOp::ShrS, -1, 200), -1);
  EXPECT_EQ(evalBinary(ExprOp::ShrS, 256, 68), 16);
  EXPECT_EQ(evalBinary(ExprOp::ShrU, -1, 63), 1);
  EXPECT_EQ(evalBinary(ExprOp::ShrU, -8, 1), kMax - 3);
}

TEST(PredicateEval, Select) {
  Predicate p = parseOrDie("(select (slt q k) 10 (sub q k))");
  EXPECT_EQ(p.eval(1, 5), 10);
  EXPECT_EQ(p.eval(5, 1), 4);
  EXPECT_EQ(p.eval(5, 5), 0);
}

TEST(PredicateEval, InvalidOperandsReadAsZero) {
  Predicate p;
  int32_t q = p.addQ();
  p.add(ExprOp::Add, q, 7); // operand 7 does not exist
  EXPECT_EQ(p.eval(5, 0), 5);
  Predicate forward;
  forward.add(ExprOp::Sub, 3, -1); // forward reference
  forward.addQ();
  forward.add(ExprOp::Sub, 1, 0);
  EXPECT_EQ(forward.eval(5, 0), 5);
}

TEST(PredicateText, PrintsSharedSubexpressionsPerUse) {
  Predicate p;
  int32_t q = p.addQ(), k = p.addK();
  int32_t d = p.add(ExprOp::Sub, q, k);
  p.add(ExprOp::Or, p.add(ExprOp::Slt, d, p.addConst(3)),
        p.add(ExprOp::Eq, p.add(ExprOp::RemS, k, p.addConst(16)),
              p.addConst(15)));
  EXPECT_EQ(p.str(), "(or (slt (sub q k) 3) (eq (rems k 16) 15))");
  Predicate twice;
  int32_t tq = twice.addQ(), tk = twice.addK();
  int32_t td = twice.add(ExprOp::Sub, tq, tk);
  twice.add(ExprOp::Mul, td, td);
  EXPECT_EQ(twice.str(), "(mul (sub q k) (sub q k))");
  EXPECT_EQ(test::localPredicate(-4).str(), "(slt (sub q k) -4)");
}

TEST(PredicateText, RoundTrips) {
  const char *texts[] = {
      "q",
      "k",
      "-42",
      "(or (slt (sub q k) 3) (eq (rems k 16) 15))",
      "(select (ult q k) (floordivs q -3) (shl 1 (and k 63)))",
      "(eq (divu (mul q 3) 7) (remu (xor q k) 5))",
      "(mins (maxs q k) (minu (maxu q 1) (shrs k (shru q 2))))",
      "(ne (sle q k) (sge (sgt q 1) (uge (ugt q k) (ule k 2))))",
      "-9223372036854775808",
      "(add 9223372036854775807 (divs q 0))",
  };
  for (const char *text : texts) {
    Predicate p = parseOrDie(text);
    EXPECT_EQ(p.str(), text);
    std::optional<Predicate> again = Predicate::parse(p.str(), nullptr);
    ASSERT_TRUE(again) << text;
    EXPECT_TRUE(*again == p) << text;
  }
}

TEST(PredicateText, RandomRoundTripsKeepValues) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 200; ++trial) {
    Predicate p = test::randomPredicate(rng, 1 + trial % 12);
    std::string error;
    std::optional<Predicate> parsed = Predicate::parse(p.str(), &error);
    ASSERT_TRUE(parsed) << p.str() << ": " << error;
    EXPECT_TRUE(*parsed == p) << p.str();
    EXPECT_EQ(parsed->str(), p.str());
    for (int64_t q = -3; q < 12; ++q)
      for (int64_t k = -3; k < 12; ++k)
        ASSERT_EQ(parsed->eval(q, k), p.eval(q, k)) << p.str();
  }
}

TEST(PredicateText, LenientSpaces) {
  Predicate p =
      parseOrDie("  ( or\t( slt (sub q k)3 )\n(eq(rems k 16) 15 ) ) ");
  EXPECT_EQ(p.str(), "(or (slt (sub q k) 3) (eq (rems k 16) 15))");
  EXPECT_EQ(parseOrDie("+7").eval(0, 0), 7);
}

TEST(PredicateText, ParseSharesIdenticalSubexpressions) {
  Predicate p = parseOrDie("(mul (sub q k) (sub q k))");
  // q, k, sub, mul.
  EXPECT_EQ(p.nodes().size(), 4u);
  EXPECT_EQ(p.eval(7, 2), 25);
}

TEST(PredicateText, ParseErrors) {
  std::string error = parseError("(foo q k)");
  EXPECT_NE(error.find("'foo'"), std::string::npos) << error;
  EXPECT_NE(error.find("position 1"), std::string::npos) << error;

  error = parseError("(add q)");
  EXPECT_NE(error.find("'add' takes 2"), std::string::npos) << error;
  error = parseError("(select q k)");
  EXPECT_NE(error.find("'select' takes 3"), std::string::npos) << error;
  error = parseError("(add q k 1)");
  EXPECT_NE(error.find("expected ')'"), std::string::npos) << error;

  error = parseError("(add q k");
  EXPECT_NE(error.find("end of input"), std::string::npos) << error;
  error = parseError("");
  EXPECT_NE(error.find("expected an expression"), std::string::npos) << error;
  error = parseError("q k");
  EXPECT_NE(error.find("position 2"), std::string::npos) << error;
  error = parseError("(add q x)");
  EXPECT_NE(error.find("'x'"), std::string::npos) << error;
  error = parseError("99999999999999999999");
  EXPECT_NE(error.find("99999999999999999999"), std::string::npos) << error;
  error = parseError("9223372036854775808");
  EXPECT_NE(error.find("int64"), std::string::npos) << error;
  error = parseError("(q)");
  EXPECT_NE(error.find("'q'"), std::string::npos) << error;
  error = parseError("(const 3)");
  EXPECT_NE(error.find("'const'"), std::string::npos) << error;
  error = parseError("()");
  EXPECT_NE(error.find("operator name"), std::string::npos) << error;
  error = parseError("(add - 1)");
  EXPECT_NE(error.find("digit"), std::string::npos) << error;
  error = parseError("(add 3q 1)");
  EXPECT_NE(error.find("position 6"), std::string::npos) << error;

  // Deep nesting is an error, not a stack overflow.
  std::string deep;
  for (int i = 0; i < 5000; ++i)
    deep += "(add 1 ";
  deep += "q";
  for (int i = 0; i < 5000; ++i)
    deep += ")";
  error = parseError(deep);
  EXPECT_NE(error.find("nested"), std::string::npos) << error;

  // A null error pointer is fine.
  EXPECT_FALSE(Predicate::parse("(", nullptr));
}

TEST(PredicateEquality, Structural) {
  Predicate shared;
  int32_t q = shared.addQ(), k = shared.addK();
  int32_t d = shared.add(ExprOp::Sub, q, k);
  shared.add(ExprOp::Mul, d, d);
  Predicate tree;
  int32_t d1 = tree.add(ExprOp::Sub, tree.addQ(), tree.addK());
  int32_t d2 = tree.add(ExprOp::Sub, tree.addQ(), tree.addK());
  tree.addConst(99); // dead node
  tree.add(ExprOp::Mul, d1, d2);
  EXPECT_TRUE(shared == tree);
  EXPECT_TRUE(shared == parseOrDie("(mul (sub q k) (sub q k))"));
  EXPECT_FALSE(shared == parseOrDie("(mul (sub k q) (sub q k))"));
  EXPECT_FALSE(shared == parseOrDie("(add (sub q k) (sub q k))"));
  EXPECT_FALSE(parseOrDie("3") == parseOrDie("4"));
  EXPECT_FALSE(parseOrDie("q") == parseOrDie("k"));
  EXPECT_TRUE(Predicate() == Predicate());
  EXPECT_TRUE(Predicate() == parseOrDie("0"));
  EXPECT_FALSE(Predicate() == parseOrDie("q"));
}

TEST(PredicateC, StructureOfSimpleExpressions) {
  Predicate p = parseOrDie("(slt (sub q k) 3)");
  std::string c = p.toC("qi", "ki");
  EXPECT_EQ(c, "((long long)(((long long)((unsigned long long)((long long)(qi))"
               " - (unsigned long long)((long long)(ki)))) < 3LL))");
}

TEST(PredicateC, Snapshot) {
  // The exact text is part of the contract with CUDA codegen; changing it
  // should be deliberate.
  EXPECT_EQ(parseOrDie("q").toC("q", "k"), "((long long)(q))");
  EXPECT_EQ(parseOrDie("-5").toC("q", "k"), "(-5LL)");
  EXPECT_EQ(parseOrDie("-9223372036854775808").toC("q", "k"),
            "(-9223372036854775807LL - 1LL)");
  EXPECT_EQ(parseOrDie("(add q 1)").toC("q", "k"),
            "((long long)((unsigned long long)((long long)(q)) + "
            "(unsigned long long)1LL))");
  EXPECT_EQ(parseOrDie("(rems k 16)").toC("q", "k"),
            "(((long long)(k)) % 16LL)");
  EXPECT_EQ(parseOrDie("(select q 1 2)").toC("q", "k"),
            "(((long long)(q)) != 0LL ? 1LL : 2LL)");
}

TEST(PredicateC, GuardsDivisionByAVariable) {
  for (const char *op : {"divs", "rems", "divu", "remu", "floordivs"}) {
    Predicate p = parseOrDie(std::string("(") + op + " q k)");
    std::string c = p.toC("q", "k");
    EXPECT_NE(c.find("((long long)(k)) == 0LL"), std::string::npos)
        << op << ": " << c;
  }
  // divs / rems / floordivs also guard INT64_MIN / -1.
  for (const char *op : {"divs", "rems", "floordivs"}) {
    std::string c = parseOrDie(std::string("(") + op + " q k)").toC("q", "k");
    EXPECT_NE(c.find("== -1LL"), std::string::npos) << op << ": " << c;
  }
  // A constant divisor other than 0 and -1 needs no guard.
  EXPECT_EQ(parseOrDie("(divs q 7)").toC("q", "k").find('?'),
            std::string::npos);
  // Dividing by a constant 0 is still guarded.
  EXPECT_NE(parseOrDie("(divs q 0)").toC("q", "k").find("0LL == 0LL"),
            std::string::npos);
}

TEST(PredicateC, UsesUnsignedCastsAndNoLibraryCalls) {
  Predicate p = parseOrDie("(and (ult q k) (shl (divu q 3) (shru k 70)))");
  std::string c = p.toC("q", "k");
  EXPECT_NE(c.find("(unsigned long long)"), std::string::npos) << c;
  EXPECT_NE(c.find("& 63ULL"), std::string::npos) << c;
  EXPECT_EQ(c.find("std::"), std::string::npos) << c;
  std::mt19937 rng(99);
  for (int trial = 0; trial < 100; ++trial) {
    std::string text = test::randomPredicate(rng, 8).toC("q", "k");
    EXPECT_EQ(text.find("std::"), std::string::npos) << text;
    // Balanced parentheses: the expression is self-contained.
    int depth = 0;
    for (char ch : text) {
      depth += ch == '(';
      depth -= ch == ')';
      ASSERT_GE(depth, 0) << text;
    }
    EXPECT_EQ(depth, 0) << text;
  }
}

// ---- shift invariance --------------------------------------------------------

TEST(PredicateShape, DependsOnlyOnDifference) {
  auto parse = [](const char *s) { return *Predicate::parse(s, nullptr); };
  EXPECT_TRUE(parse("(slt (sub q k) 3)").dependsOnlyOnDifference());
  EXPECT_TRUE(parse("(or (slt (sub q k) 32) (eq (remu (sub q k) 64) 0))")
                  .dependsOnlyOnDifference());
  EXPECT_TRUE(parse("1").dependsOnlyOnDifference());
  // The causal guard users write compares q with k: a function of d's sign.
  EXPECT_TRUE(parse("(and (ule k q) (slt (sub q k) 3))").dependsOnlyOnDifference());
  EXPECT_TRUE(parse("(ne q k)").dependsOnlyOnDifference());
  EXPECT_TRUE(Predicate().dependsOnlyOnDifference());
  // q or k on their own, or the difference the other way round.
  EXPECT_FALSE(parse("(eq (rems k 16) 15)").dependsOnlyOnDifference());
  EXPECT_FALSE(parse("(slt (sub k q) 3)").dependsOnlyOnDifference());
  EXPECT_FALSE(parse("(or (slt (sub q k) 3) (eq q 7))").dependsOnlyOnDifference());
  EXPECT_FALSE(parse("q").dependsOnlyOnDifference());
  // When it holds, eval(d, 0) is the value at any (q, k) with q - k = d.
  Predicate p = parse(
      "(and (sle k q) (or (slt (sub q k) 5) (eq (rems (sub q k) 9) 0)))");
  for (int64_t q = 0; q < 60; ++q)
    for (int64_t k = 0; k <= q; ++k)
      EXPECT_EQ(p.eval(q, k), p.eval(q - k, 0)) << q << " " << k;
}
