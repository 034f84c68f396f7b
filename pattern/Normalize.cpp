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

} // namespace stc::pattern
