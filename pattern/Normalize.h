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
// Summary split. fixed(l, c) gives every query the c summary columns of every
// earlier fixed block, and those sit in every key block: as written it
// computes every causal block. Split in two: fixed(l, 0) over the sequence's
// own keys (the query's own fixed block, block-diagonal) and gathered(l, c)
// over the summary columns gathered into a dense sequence of (n / l) * c rows
// (a staircase: query q sees the first (q / l) * c). One softmax over both
// (the two partial results merged by their log-sum-exps) is the original
// attention; the split computes about (1 + c / l) / (n / l) of the causal
// blocks' worth instead of all of them.
//
// Stride split. A union with a member strided(l) (a merged head, as the
// paper's strided attention with local(l)) computes every causal block as
// written, because strided(l) has a key in each. Split in two: strided(l)
// attended over the stride permutation (fixed(n / l, 0), block-diagonal) and
// the other members less strided(l) over the sequence, so that no pair is
// in both; one softmax over both (merged by log-sum-exps) is the original.
//
//===----------------------------------------------------------------------===//

#ifndef STC_PATTERN_NORMALIZE_H
#define STC_PATTERN_NORMALIZE_H

#include "pattern/Pattern.h"

#include <algorithm>
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

/// The summary columns of fixed(l, c) over n positions, in order: the s-th
/// is the (s mod c)-th of fixed block s / c.
struct SummaryGather {
  int64_t n = 0;
  int64_t block = 1;   ///< l
  int64_t summary = 0; ///< c, 0 <= c <= l

  /// Summary columns among positions [0, n).
  int64_t count() const {
    return n / block * summary +
           std::max<int64_t>(0, n % block - (block - summary));
  }
  /// Position of the s-th summary column (s < count()).
  int64_t position(int64_t s) const {
    return s / summary * block + (block - summary) + s % summary;
  }
};

/// A head group's pattern split into two sources attended with one softmax:
/// `local` over the sequence's own keys and `second` over the keys
/// gathered by `gather` (zero rows after gather.count()). Every allowed
/// (q, k) of the original is in exactly one of the two.
struct SplitPattern {
  SummaryGather gather;
  Pattern local;     ///< fixed(l, 0)
  Pattern summaries; ///< gathered(l, c)
};

/// A union split in two sources attended with one softmax: `rest` over the
/// sequence's own keys and `strided` over the stride permutation (queries
/// and keys reordered). Every allowed (q, k) of the original is in exactly
/// one of the two.
struct StrideSplit {
  StridePermutation permutation;
  Pattern rest;    ///< minus(the other members, strided(l))
  Pattern strided; ///< fixed(n / l, 0): strided(l) over the permutation
};

/// A union with a member strided(l), 2 <= l, l dividing n, and at least one
/// other member splits into minus(the others, strided(l)) and strided(l)
/// permuted (the first such member, if several); nullopt for every other
/// pattern and n.
std::optional<StrideSplit> strideSplit(const Pattern &p, int64_t n);

/// fixed(l, c) with 1 <= c < l and n > l (some query has an earlier fixed
/// block) splits into fixed(l, 0) over the keys and gathered(l, c) over the
/// gathered summary columns; nullopt for every other pattern and n.
std::optional<SplitPattern> summarySplit(const Pattern &p, int64_t n);

/// strided(l) with 2 <= l, l dividing n and n / l >= 1 becomes fixed(n / l, 0)
/// over the stride permutation; nullopt for every other pattern and n (the
/// caller keeps the original).
std::optional<PermutedPattern> strideNormalization(const Pattern &p, int64_t n);

} // namespace stc::pattern

#endif // STC_PATTERN_NORMALIZE_H
