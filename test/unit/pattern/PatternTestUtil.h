//===- PatternTestUtil.h - Oracles shared by the pattern tests --*- C++ -*-===//
//
// Reference semantics written independently of the library (straight from the
// pattern definitions), plus random pattern generators.
//
//===----------------------------------------------------------------------===//

#ifndef STC_TEST_UNIT_PATTERN_PATTERNTESTUTIL_H
#define STC_TEST_UNIT_PATTERN_PATTERNTESTUTIL_H

#include "pattern/Pattern.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace stc::pattern::test {

/// The defining formula of every pattern kind, evaluated directly. Predicates
/// defer to Predicate::eval (its semantics are tested on their own).
inline bool refAllowed(const Pattern &p, int64_t q, int64_t k) {
  if (q < 0 || k < 0 || k > q)
    return false;
  int64_t d = q - k;
  switch (p.kind()) {
  case Pattern::Kind::Causal:
    return true;
  case Pattern::Kind::Local:
    return d < p.size();
  case Pattern::Kind::Strided:
    return p.size() >= 1 && d % p.size() == 0;
  case Pattern::Kind::Fixed: {
    int64_t l = p.size();
    if (l < 1)
      return false;
    int64_t c = std::min(std::max<int64_t>(p.summary(), 0), l);
    return q / l == k / l || k % l >= l - c;
  }
  case Pattern::Kind::Gathered: {
    int64_t l = p.size();
    if (l < 1)
      return false;
    int64_t c = std::min(std::max<int64_t>(p.summary(), 0), l);
    return k < (q / l) * c;
  }
  case Pattern::Kind::Union:
    for (const Pattern &child : p.children())
      if (refAllowed(child, q, k))
        return true;
    return false;
  case Pattern::Kind::Difference:
    return refAllowed(p.children()[0], q, k) &&
           !refAllowed(p.children()[1], q, k);
  case Pattern::Kind::BlockLayout: {
    int64_t b = p.size();
    if (b < 1)
      return false;
    for (const auto &[row, col] : p.blocks())
      if (row == q / b && col == k / b)
        return true;
    return false;
  }
  case Pattern::Kind::Predicate:
    return p.predicateExpr().eval(q, k) != 0;
  }
  return false;
}

/// Allowed pairs with 0 <= k <= q < n, by evaluating every pair.
inline int64_t refCount(const Pattern &p, int64_t n) {
  int64_t count = 0;
  for (int64_t q = 0; q < n; ++q)
    for (int64_t k = 0; k <= q; ++k)
      count += refAllowed(p, q, k);
  return count;
}

/// (slt (sub q k) window): a local window as a predicate.
inline Predicate localPredicate(int64_t window) {
  Predicate p;
  int32_t q = p.addQ(), k = p.addK();
  int32_t d = p.add(ExprOp::Sub, q, k);
  p.add(ExprOp::Slt, d, p.addConst(window));
  return p;
}

/// (or (slt (sub q k) w) (eq (rems k period) (sub period 1))): a local window
/// plus one summary column per period.
inline Predicate localPlusSummaryPredicate(int64_t window, int64_t period) {
  Predicate p;
  int32_t q = p.addQ(), k = p.addK();
  int32_t near =
      p.add(ExprOp::Slt, p.add(ExprOp::Sub, q, k), p.addConst(window));
  int32_t col = p.add(ExprOp::RemS, k, p.addConst(period));
  int32_t summary = p.add(ExprOp::Eq, col, p.addConst(period - 1));
  p.add(ExprOp::Or, near, summary);
  return p;
}

/// A random block-layout pattern with pairs drawn near the diagonal.
inline Pattern randomBlocks(std::mt19937 &rng, int64_t blockSize,
                            int64_t numRows) {
  std::vector<std::pair<int64_t, int64_t>> pairs;
  std::uniform_int_distribution<int> coin(0, 2);
  for (int64_t r = 0; r < numRows; ++r)
    for (int64_t c = 0; c <= r; ++c)
      if (coin(rng) == 0 || c == r)
        pairs.emplace_back(r, c);
  std::shuffle(pairs.begin(), pairs.end(), rng);
  return Pattern::blockLayout(blockSize, pairs);
}

/// A random predicate built from a few random operations over q, k and small
/// constants (including 0, to exercise division by zero).
inline Predicate randomPredicate(std::mt19937 &rng, int numOps) {
  Predicate p;
  std::vector<int32_t> values = {p.addQ(), p.addK()};
  std::uniform_int_distribution<int> constant(-3, 9);
  for (int i = 0; i < 3; ++i)
    values.push_back(p.addConst(constant(rng)));
  std::uniform_int_distribution<int> opIndex(static_cast<int>(ExprOp::Add),
                                             static_cast<int>(ExprOp::Select));
  for (int i = 0; i < numOps; ++i) {
    std::uniform_int_distribution<size_t> pick(0, values.size() - 1);
    auto op = static_cast<ExprOp>(opIndex(rng));
    values.push_back(
        p.add(op, values[pick(rng)], values[pick(rng)], values[pick(rng)]));
  }
  return p;
}

/// A random pattern of any kind; `depth` bounds union nesting.
inline Pattern randomPattern(std::mt19937 &rng, int64_t n, int depth = 1) {
  std::uniform_int_distribution<int> kind(0, depth > 0 ? 7 : 5);
  std::uniform_int_distribution<int64_t> size(1, std::max<int64_t>(2, n / 2));
  switch (kind(rng)) {
  case 0:
    return Pattern::causal();
  case 1:
    return Pattern::local(size(rng));
  case 2:
    return Pattern::strided(size(rng));
  case 3: {
    int64_t l = size(rng);
    std::uniform_int_distribution<int64_t> c(1, l);
    if (std::uniform_int_distribution<int>(0, 3)(rng) == 0)
      return Pattern::gathered(l, c(rng));
    return Pattern::fixed(l, c(rng));
  }
  case 4: {
    int64_t b = std::uniform_int_distribution<int64_t>(1, 8)(rng);
    return randomBlocks(rng, b, n / b + 1);
  }
  case 5: {
    std::uniform_int_distribution<int> window(1, 6), period(2, 9);
    return Pattern::predicate(
        "p", localPlusSummaryPredicate(window(rng), period(rng)));
  }
  case 7:
    return Pattern::difference(randomPattern(rng, n, depth - 1),
                               randomPattern(rng, n, depth - 1));
  default: {
    std::vector<Pattern> children;
    int count = std::uniform_int_distribution<int>(1, 3)(rng);
    for (int i = 0; i < count; ++i)
      children.push_back(randomPattern(rng, n, depth - 1));
    return Pattern::unionOf(children);
  }
  }
}

} // namespace stc::pattern::test

#endif // STC_TEST_UNIT_PATTERN_PATTERNTESTUTIL_H
