//===- Normalize.cpp - Equivalent cheaper forms of patterns ---------------===//

#include "pattern/Normalize.h"

namespace stc::pattern {

std::optional<PermutedPattern> strideNormalization(const Pattern &p,
                                                   int64_t n) {
  if (p.kind() != Pattern::Kind::Strided || n < 1)
    return std::nullopt;
  int64_t l = p.size();
  if (l < 2 || l > n || n % l != 0)
    return std::nullopt;
  StridePermutation perm{n, l};
  return PermutedPattern{perm, Pattern::fixed(perm.segment(), 0)};
}

std::optional<SplitPattern> summarySplit(const Pattern &p, int64_t n) {
  if (p.kind() != Pattern::Kind::Fixed)
    return std::nullopt;
  int64_t l = p.size(), c = p.summary();
  if (l < 2 || c < 1 || c >= l || n <= l)
    return std::nullopt;
  return SplitPattern{SummaryGather{n, l, c}, Pattern::fixed(l, 0),
                      Pattern::gathered(l, c)};
}

} // namespace stc::pattern
