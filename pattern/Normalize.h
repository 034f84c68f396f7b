//===- Normalize.h - Equivalent cheaper forms of patterns -------*- C++ -*-===//
//
// Exact rewrites of attention that make a pattern's computed blocks match its
// density. stc-normalize-patterns applies them; stc inspect shows them; the
// runtime's permutation kernels use the same index maps.
//
// Stride permutation. strided(l) over n positions, with l dividing n: a query
// q sees exactly the earlier keys of its residue class q mod l. Reordering the
// sequence by class, position i -> (i mod l) * (n / l) + i / l, puts each class
// into one contiguous segment of m = n / l positions, in its original order,
// and the pattern becomes "same segment and causal", which is fixed(m, 0).
// Each query keeps its keys and their order, so attention in the permuted
// order, permuted back, is the original attention term for term.
//
//===----------------------------------------------------------------------===//

#ifndef STC_PATTERN_NORMALIZE_H
#define STC_PATTERN_NORMALIZE_H

#include "pattern/Pattern.h"

#include <cstdint>
#include <optional>

namespace stc::pattern {

/// The position map of the stride permutation over n positions (n % stride
/// == 0, stride >= 1).
struct StridePermutation {
  int64_t n = 0;
  int64_t stride = 1;

  int64_t segment() const { return n / stride; }
  /// Where position i goes.
  int64_t forward(int64_t i) const {
    return (i % stride) * segment() + i / stride;
  }
  /// Which position lands at p (forward(backward(p)) == p).
  int64_t backward(int64_t p) const {
    return (p % segment()) * stride + p / segment();
  }
};

/// A head group's pattern rewritten over a permuted sequence.
struct PermutedPattern {
  StridePermutation permutation;
  Pattern pattern; ///< allowed(forward(q), forward(k)) == original.allowed(q, k)
};

/// strided(l) with 2 <= l, l dividing n and n / l >= 1 becomes fixed(n / l, 0)
/// over the stride permutation; nullopt for every other pattern and n (the
/// caller keeps the original).
std::optional<PermutedPattern> strideNormalization(const Pattern &p, int64_t n);

} // namespace stc::pattern

#endif // STC_PATTERN_NORMALIZE_H
