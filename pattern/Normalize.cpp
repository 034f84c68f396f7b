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

std::optional<StrideSplit> strideSplit(const Pattern &p, int64_t n) {
  if (p.kind() != Pattern::Kind::Union || p.children().size() < 2)
    return std::nullopt;
  const std::vector<Pattern> &members = p.children();
  for (size_t i = 0; i < members.size(); ++i) {
    std::optional<PermutedPattern> permuted =
        strideNormalization(members[i], n);
    if (!permuted)
      continue;
    std::vector<Pattern> others;
    for (size_t j = 0; j < members.size(); ++j)
      if (j != i)
        others.push_back(members[j]);
    Pattern rest = others.size() == 1 ? others.front()
                                      : Pattern::unionOf(std::move(others));
    return StrideSplit{permuted->permutation,
                       Pattern::difference(std::move(rest), members[i]),
                       permuted->pattern};
  }
  return std::nullopt;
}

} // namespace stc::pattern
