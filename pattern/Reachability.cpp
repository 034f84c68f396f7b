//===- Reachability.cpp - Information flow through attention layers
//---------===//
//
// R[i] is the set of positions whose information has reached position i.
// Initially R[i] = {i}; a layer with pattern P maps it to
//   R'[i] = R[i] ∪ ⋃_{k allowed at i by P} R[k],
// reading only the previous layer's sets (a layer is one hop, not a chain).
//
// Sets are bitsets of uint64 words. R[i] only ever holds positions <= i, so
// row i stores i / 64 + 1 words (triangular storage), and two facts keep a
// layer cheap:
//   - a row that holds all of [0, i] ("full") stays full; full rows are only
//     flagged, never stored or re-derived;
//   - OR-ing a full R[k] sets the prefix [0, k], which contains every R[k']
//     with k' <= k, so per row only keys above the largest full key need
//     their words merged, and only from their lowest non-zero word.
//
//===----------------------------------------------------------------------===//

#include "pattern/Pattern.h"

#include <algorithm>

namespace stc::pattern {

namespace {

constexpr int64_t kWordBits = 64;

class ReachSets {
public:
  explicit ReachSets(int64_t n) : offsets_(n + 1), full_(n, 0), lowWord_(n, 0) {
    for (int64_t i = 0; i < n; ++i)
      offsets_[i + 1] = offsets_[i] + numWords(i);
    words_.assign(offsets_[n], 0);
  }

  static int64_t numWords(int64_t row) { return row / kWordBits + 1; }

  uint64_t *row(int64_t i) { return words_.data() + offsets_[i]; }
  const uint64_t *row(int64_t i) const { return words_.data() + offsets_[i]; }
  bool isFull(int64_t i) const { return full_[i]; }
  int64_t lowWord(int64_t i) const { return lowWord_[i]; }

  void setSingleton(int64_t i) {
    uint64_t *words = row(i);
    std::fill(words, words + numWords(i), 0);
    words[i / kWordBits] = uint64_t{1} << (i % kWordBits);
    finishRow(i);
  }

  void markFull(int64_t i) {
    full_[i] = 1;
    lowWord_[i] = 0;
  }

  /// Recomputes the flags of row i after its words were written.
  void finishRow(int64_t i) {
    const uint64_t *words = row(i);
    int64_t last = i / kWordBits;
    int64_t low = 0;
    while (low < last && words[low] == 0)
      ++low;
    lowWord_[i] = low;
    bool full = true;
    for (int64_t w = 0; w < last && full; ++w)
      full = words[w] == ~uint64_t{0};
    full = full && words[last] == lastWordMask(i);
    full_[i] = full;
  }

  /// The bits of row i's last word that stand for positions <= i.
  static uint64_t lastWordMask(int64_t i) {
    int64_t bits = i % kWordBits + 1;
    return bits == kWordBits ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  }

  /// Positions j <= i missing from row i; a full row misses none.
  int64_t countMissing(int64_t i) const {
    if (full_[i])
      return 0;
    const uint64_t *words = row(i);
    int64_t present = 0;
    for (int64_t w = 0; w < numWords(i); ++w)
      present += __builtin_popcountll(words[w]);
    return i + 1 - present;
  }

  /// The smallest j <= i missing from row i, or -1.
  int64_t firstMissing(int64_t i) const {
    if (full_[i])
      return -1;
    const uint64_t *words = row(i);
    for (int64_t w = 0; w < numWords(i); ++w) {
      uint64_t missing = ~words[w];
      if (w == i / kWordBits)
        missing &= lastWordMask(i);
      if (missing)
        return w * kWordBits + __builtin_ctzll(missing);
    }
    return -1;
  }

private:
  std::vector<int64_t> offsets_;
  std::vector<uint64_t> words_;
  std::vector<uint8_t> full_;
  std::vector<int64_t> lowWord_;
};

/// Sets bits [0, k] of a row's words.
void setPrefix(uint64_t *words, int64_t k) {
  int64_t last = k / kWordBits;
  std::fill(words, words + last, ~uint64_t{0});
  words[last] |= ReachSets::lastWordMask(k);
}

/// One layer: next = prev extended through `layer`. Returns the number of
/// rows that are full afterwards.
int64_t propagate(const Pattern &layer, const ReachSets &prev, ReachSets &next,
                  int64_t n) {
  int64_t fullRows = 0;
  std::vector<int64_t> keys;
  for (int64_t i = 0; i < n; ++i) {
    if (prev.isFull(i)) {
      next.markFull(i);
      ++fullRows;
      continue;
    }
    keys.clear();
    layer.forEachAllowedKey(i, n, [&keys](int64_t k) { keys.push_back(k); });

    uint64_t *out = next.row(i);
    const uint64_t *own = prev.row(i);
    std::copy(own, own + ReachSets::numWords(i), out);

    // Keys come ascending; the largest one with a full set covers all below.
    int64_t fullKey = -1;
    for (auto it = keys.rbegin(); it != keys.rend(); ++it) {
      if (prev.isFull(*it)) {
        fullKey = *it;
        break;
      }
    }
    if (fullKey >= 0)
      setPrefix(out, fullKey);
    for (auto it = std::upper_bound(keys.begin(), keys.end(), fullKey);
         it != keys.end(); ++it) {
      int64_t k = *it;
      if (k == i)
        continue; // already copied
      const uint64_t *in = prev.row(k);
      for (int64_t w = prev.lowWord(k), last = k / kWordBits; w <= last; ++w)
        out[w] |= in[w];
    }
    next.finishRow(i);
    fullRows += next.isFull(i);
  }
  return fullRows;
}

} // namespace

Reachability analyzeReachability(const std::vector<Pattern> &layers,
                                 int64_t n) {
  Reachability result;
  result.n = std::max<int64_t>(n, 0);
  result.layers = static_cast<int64_t>(layers.size());
  n = result.n;
  // With at most one position, everything is reachable before any layer.
  if (n <= 1) {
    result.maxHops = 0;
    return result;
  }

  ReachSets current(n), scratch(n);
  for (int64_t i = 0; i < n; ++i)
    current.setSingleton(i);

  for (size_t l = 0; l < layers.size(); ++l) {
    int64_t fullRows = propagate(layers[l], current, scratch, n);
    std::swap(current, scratch);
    if (fullRows == n) {
      result.maxHops = static_cast<int64_t>(l) + 1;
      return result;
    }
  }

  for (int64_t i = 0; i < n; ++i) {
    int64_t missing = current.countMissing(i);
    result.unreachablePairs += missing;
    if (missing && !result.exampleUnreachable)
      result.exampleUnreachable = std::make_pair(i, current.firstMissing(i));
  }
  return result;
}

} // namespace stc::pattern
