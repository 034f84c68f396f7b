//===- BlockLayout.cpp - Block layouts and attention cost
//-------------------===//
//
// Tiles a pattern with square blocks and classifies each lower-triangle block
// as empty, partial or full. Built-in patterns are classified from their
// structure without touching elements; the result must equal the brute-force
// oracle exactly (the unit tests compare the two over many sizes).
//
//===----------------------------------------------------------------------===//

#include "pattern/Pattern.h"

#include <algorithm>
#include <limits>
#include <map>

namespace stc::pattern {

const char *blockClassName(BlockClass c) {
  switch (c) {
  case BlockClass::Empty:
    return "empty";
  case BlockClass::Partial:
    return "partial";
  case BlockClass::Full:
    return "full";
  }
  return "<invalid>";
}

int64_t BlockLayout::numFull() const {
  return std::count(classes.begin(), classes.end(), BlockClass::Full);
}

int64_t BlockLayout::numPartial() const {
  return std::count(classes.begin(), classes.end(), BlockClass::Partial);
}

int64_t BlockLayout::denseCausalBlocks() const {
  return numBlockRows * (numBlockRows + 1) / 2;
}

BlockClass BlockLayout::classOf(int64_t row, int64_t col) const {
  if (row < 0 || row >= numBlockRows ||
      static_cast<size_t>(row + 1) >= rowPtr.size())
    return BlockClass::Empty;
  auto begin = colIdx.begin() + rowPtr[row];
  auto end = colIdx.begin() + rowPtr[row + 1];
  auto it = std::lower_bound(begin, end, col);
  if (it == end || *it != col)
    return BlockClass::Empty;
  return classes[it - colIdx.begin()];
}

namespace {

/// Block geometry of a sequence of n positions tiled by blockSize.
struct Tiling {
  int64_t n;
  int64_t blockSize;
  int64_t numRows;

  // A block larger than n tiles the same single block as one of size n, and
  // keeps the block arithmetic below in range.
  Tiling(int64_t n, int64_t blockSize)
      : n(n), blockSize(std::min(blockSize, n)),
        numRows(n / this->blockSize + (n % this->blockSize != 0)) {}

  /// Per shift-invariant predicate or difference: prefix[d] = allowed
  /// values among q - k in [0, d), filled on first use (n evaluations).
  mutable std::map<const void *, std::vector<int64_t>> prefixes;
  const std::vector<int64_t> &differencePrefix(const Pattern &p) const {
    // The key identifies the pattern's node (its expression or children).
    const void *key = p.kind() == Pattern::Kind::Predicate
                          ? static_cast<const void *>(&p.predicateExpr())
                          : static_cast<const void *>(&p.children());
    auto [it, fresh] = prefixes.try_emplace(key);
    if (fresh) {
      it->second.assign(static_cast<size_t>(n + 1), 0);
      for (int64_t d = 0; d < n; ++d)
        it->second[d + 1] = it->second[d] + (p.allowed(d, 0) ? 1 : 0);
    }
    return it->second;
  }

  int64_t first(int64_t block) const { return block * blockSize; }
  /// Last in-range position of a block (inclusive; the last block may be
  /// ragged).
  int64_t last(int64_t block) const {
    int64_t start = first(block);
    return start + std::min(blockSize, n - start) - 1;
  }
};

using RowEntry = std::pair<int64_t, BlockClass>; // (key block, class)

/// The class of a diagonal block for a pattern that allows (q, q): a block
/// holding more than one in-range element also holds k > q elements, which
/// are never allowed, so only a 1 x 1 block can be full.
BlockClass diagonalClass(const Tiling &tiling, int64_t row) {
  return tiling.first(row) == tiling.last(row) ? BlockClass::Full
                                               : BlockClass::Partial;
}

/// Classifies block (row, col) by evaluating its elements, stopping as soon as
/// both an allowed and a disallowed element have been seen.
BlockClass classifyByElements(const Pattern &p, const Tiling &tiling,
                              int64_t row, int64_t col) {
  int64_t qFirst = tiling.first(row), qLast = tiling.last(row);
  int64_t kFirst = tiling.first(col), kLast = tiling.last(col);
  bool seenAllowed = false;
  // A diagonal block of more than one element holds k > q elements.
  bool seenDisallowed = row == col && qFirst != qLast;
  for (int64_t q = qFirst; q <= qLast; ++q) {
    int64_t kEnd = std::min(kLast, q);
    for (int64_t k = kFirst; k <= kEnd; ++k) {
      if (p.allowed(q, k))
        seenAllowed = true;
      else
        seenDisallowed = true;
      if (seenAllowed && seenDisallowed)
        return BlockClass::Partial;
    }
  }
  return seenAllowed ? BlockClass::Full : BlockClass::Empty;
}

void appendRow(const Pattern &p, const Tiling &tiling, int64_t row,
               std::vector<RowEntry> &out);

void appendCausalRow(const Tiling &tiling, int64_t row,
                     std::vector<RowEntry> &out) {
  for (int64_t col = 0; col < row; ++col)
    out.emplace_back(col, BlockClass::Full);
  out.emplace_back(row, diagonalClass(tiling, row));
}

// local, strided and off-diagonal blocks: allowed(q, k) depends on d = q - k
// only, and every d in [dMin, dMax] = [qFirst - kLast, qLast - kFirst] occurs
// in the block, with d >= 1 below the diagonal.

void appendLocalRow(int64_t window, const Tiling &tiling, int64_t row,
                    std::vector<RowEntry> &out) {
  if (window < 1)
    return;
  // A window beyond n behaves like n and keeps the arithmetic in range.
  window = std::min(window, tiling.n);
  int64_t b = tiling.blockSize;
  int64_t qFirst = tiling.first(row), qLast = tiling.last(row);
  // Key blocks with dMin = qFirst - (col * b + b - 1) < window, i.e. col * b >
  // bound.
  int64_t bound = qFirst - b + 1 - window;
  int64_t firstCol = bound < 0 ? 0 : bound / b + 1;
  for (int64_t col = firstCol; col < row; ++col) {
    int64_t dMin = qFirst - tiling.last(col);
    int64_t dMax = qLast - tiling.first(col);
    if (dMin >= window)
      continue;
    out.emplace_back(col,
                     dMax < window ? BlockClass::Full : BlockClass::Partial);
  }
  out.emplace_back(row, diagonalClass(tiling, row));
}

void appendStridedRow(int64_t stride, const Tiling &tiling, int64_t row,
                      std::vector<RowEntry> &out) {
  if (stride < 1)
    return;
  int64_t qFirst = tiling.first(row), qLast = tiling.last(row);
  auto classify = [&](int64_t col) {
    int64_t dMin = qFirst - tiling.last(col);
    int64_t dMax = qLast - tiling.first(col);
    // Allowed iff some multiple of the stride lies in [dMin, dMax]; full iff
    // every d there is one.
    if (dMax / stride * stride < dMin)
      return;
    bool full = stride == 1 || (dMin == dMax && dMin % stride == 0);
    out.emplace_back(col, full ? BlockClass::Full : BlockClass::Partial);
  };
  const int64_t b = tiling.blockSize;
  if (qLast / stride >= row) {
    // Most blocks hold a multiple: visit every column.
    for (int64_t col = 0; col < row; ++col)
      classify(col);
  } else {
    // Few multiples d = m * stride: each lies in the blocks col with
    // qFirst - d - b + 1 <= col * b <= qLast - d (at most two). Descending
    // d gives ascending columns, so the work is proportional to the blocks.
    int64_t last = -1;
    for (int64_t d = qLast / stride * stride; d >= 1; d -= stride) {
      int64_t lo = qFirst - d - b + 1;
      int64_t cLo = lo <= 0 ? 0 : (lo + b - 1) / b;
      int64_t cHi = std::min(row - 1, (qLast - d) / b);
      // Such a block holds d, so it is non-empty; it is full only when it is
      // a single element (stride 1 takes the branch above).
      const BlockClass cls = b == 1 ? BlockClass::Full : BlockClass::Partial;
      for (int64_t col = std::max(cLo, last + 1); col <= cHi; ++col) {
        out.emplace_back(col, cls);
        last = col;
      }
    }
  }
  out.emplace_back(row, diagonalClass(tiling, row));
}

/// fixed(l, c): a key column k is either a summary column (k mod l >= l - c,
/// allowed for every q >= k) or allowed only for q in k's own fixed block.
/// Off-diagonal blocks have every k < every q, so a block is
///   - non-empty iff it holds a summary column or shares a fixed block with
///     the query rows,
///   - full iff every non-summary column lies in the one fixed block that
///     holds all of the block's query rows.
/// Both are counted in O(1) per block.
void appendFixedRow(int64_t l, int64_t summary, const Tiling &tiling,
                    int64_t row, std::vector<RowEntry> &out) {
  if (l < 1)
    return;
  int64_t c = std::clamp<int64_t>(summary, 0, l);
  // Summary columns among keys [0, x).
  auto summaryBefore = [l, c](int64_t x) {
    return x / l * c + std::max<int64_t>(0, x % l - (l - c));
  };
  // Non-summary columns among keys [lo, hi] (inclusive; 0 if empty).
  auto nonSummaryIn = [&](int64_t lo, int64_t hi) -> int64_t {
    if (lo > hi)
      return 0;
    return (hi - lo + 1) - (summaryBefore(hi + 1) - summaryBefore(lo));
  };
  int64_t qFirst = tiling.first(row), qLast = tiling.last(row);
  int64_t qFixedFirst = qFirst / l, qFixedLast = qLast / l;
  // Without summary columns only blocks that share the query rows' first
  // fixed block are non-empty: start there, so that a block-diagonal
  // pattern (what stc-normalize-patterns makes of strided ones) is built in
  // time proportional to its blocks, not to the causal triangle.
  int64_t firstCol = c == 0 ? qFixedFirst * l / tiling.blockSize : 0;
  for (int64_t col = firstCol; col < row; ++col) {
    int64_t kFirst = tiling.first(col), kLast = tiling.last(col);
    int64_t nonSummary = nonSummaryIn(kFirst, kLast);
    bool hasSummary = nonSummary < kLast - kFirst + 1;
    // The key fixed blocks start at or before the query ones (k < q), so they
    // overlap iff the query rows start no later than the last key block.
    bool sharesFixedBlock = qFixedFirst <= kLast / l;
    if (!hasSummary && !sharesFixedBlock)
      continue;
    bool full = nonSummary == 0;
    if (!full && qFixedFirst == qFixedLast) {
      int64_t fixedFirst = qFixedFirst * l;
      int64_t inOwnBlock = nonSummaryIn(std::max(kFirst, fixedFirst),
                                        std::min(kLast, fixedFirst + l - 1));
      full = inOwnBlock == nonSummary;
    }
    out.emplace_back(col, full ? BlockClass::Full : BlockClass::Partial);
  }
  out.emplace_back(row, diagonalClass(tiling, row));
}

/// gathered(l, c): query q sees keys [0, (q / l) * c). Over a block row the
/// bound grows with q, so key block col is non-empty iff it starts below the
/// last query's bound and full iff it ends below the first query's (and is
/// not a diagonal block of more than one element). Only the non-empty
/// columns are visited.
void appendGatheredRow(int64_t l, int64_t summary, const Tiling &tiling,
                       int64_t row, std::vector<RowEntry> &out) {
  if (l < 1)
    return;
  int64_t c = std::clamp<int64_t>(summary, 0, l);
  int64_t qFirst = tiling.first(row), qLast = tiling.last(row);
  int64_t lo = qFirst / l * c, hi = qLast / l * c; // bounds of the first/last query
  if (hi == 0)
    return;
  int64_t lastCol = std::min(row, (hi - 1) / tiling.blockSize);
  for (int64_t col = 0; col <= lastCol; ++col) {
    bool full = tiling.last(col) < lo &&
                (col < row || tiling.first(row) == tiling.last(row));
    out.emplace_back(col, full ? BlockClass::Full : BlockClass::Partial);
  }
}

/// blocks(bp; pairs) tiled by b: a layout block covers a product of pattern
/// block rows x pattern block columns, each part of which holds at least one
/// in-range element. Off-diagonal, it is full iff every part is listed and
/// empty iff none is. On the diagonal every listed part holds a k <= q element
/// (listed pairs have key block <= query block).
void appendBlockLayoutRow(const Pattern &p, const Tiling &tiling, int64_t row,
                          std::vector<RowEntry> &out) {
  int64_t bp = p.size();
  if (bp < 1)
    return;
  const auto &pairs = p.blocks();
  int64_t b = tiling.blockSize;
  int64_t qFirst = tiling.first(row), qLast = tiling.last(row);
  int64_t patternRowFirst = qFirst / bp, patternRowLast = qLast / bp;
  auto rowBegin = [&pairs](int64_t patternRow) {
    return std::lower_bound(
        pairs.begin(), pairs.end(),
        std::make_pair(patternRow, std::numeric_limits<int64_t>::min()));
  };

  // Candidate key blocks: those touched by a listed pair of these rows.
  std::vector<int64_t> cols;
  for (auto it = rowBegin(patternRowFirst);
       it != pairs.end() && it->first <= patternRowLast; ++it) {
    int64_t kFirst = it->second * bp;
    int64_t kLast = std::min(kFirst + bp - 1, qLast);
    for (int64_t col = kFirst / b; col <= kLast / b; ++col)
      cols.push_back(col);
  }
  std::sort(cols.begin(), cols.end());
  cols.erase(std::unique(cols.begin(), cols.end()), cols.end());

  for (int64_t col : cols) {
    int64_t patternColFirst = tiling.first(col) / bp;
    int64_t patternColLast = tiling.last(col) / bp;
    int64_t listed = 0;
    for (int64_t patternRow = patternRowFirst; patternRow <= patternRowLast;
         ++patternRow) {
      auto lo = std::lower_bound(pairs.begin(), pairs.end(),
                                 std::make_pair(patternRow, patternColFirst));
      auto hi = std::upper_bound(lo, pairs.end(),
                                 std::make_pair(patternRow, patternColLast));
      listed += hi - lo;
    }
    if (listed == 0)
      continue;
    if (col == row) {
      out.emplace_back(col, diagonalClass(tiling, row));
      continue;
    }
    int64_t parts = (patternRowLast - patternRowFirst + 1) *
                    (patternColLast - patternColFirst + 1);
    out.emplace_back(col,
                     listed == parts ? BlockClass::Full : BlockClass::Partial);
  }
}

/// A union block is full if a child is full there, empty if every child is,
/// partial if exactly one child is partial and the rest empty; only blocks
/// where several children are partial need their elements evaluated.
void appendUnionRow(const Pattern &p, const Tiling &tiling, int64_t row,
                    std::vector<RowEntry> &out) {
  std::vector<RowEntry> entries;
  for (const Pattern &child : p.children())
    appendRow(child, tiling, row, entries);
  std::sort(entries.begin(), entries.end());
  for (size_t i = 0; i < entries.size();) {
    int64_t col = entries[i].first;
    int partial = 0;
    bool full = false;
    for (; i < entries.size() && entries[i].first == col; ++i) {
      full |= entries[i].second == BlockClass::Full;
      partial += entries[i].second == BlockClass::Partial;
    }
    BlockClass cls;
    if (full)
      cls = BlockClass::Full;
    else if (partial == 1 ||
             (col == row && tiling.first(row) != tiling.last(row)))
      cls = BlockClass::Partial;
    else
      cls = classifyByElements(p, tiling, row, col);
    if (cls != BlockClass::Empty)
      out.emplace_back(col, cls);
  }
}

/// A pattern that depends on q - k only: every d in [dMin, dMax] occurs in a
/// block, so counts over d from a prefix table classify it in O(1), as for
/// local and strided.
void appendShiftInvariantRow(const Pattern &p, const Tiling &tiling,
                             int64_t row, std::vector<RowEntry> &out) {
  const std::vector<int64_t> &prefix = tiling.differencePrefix(p);
  auto allowedIn = [&prefix](int64_t lo, int64_t hi) {
    return prefix[hi + 1] - prefix[lo];
  };
  int64_t qFirst = tiling.first(row), qLast = tiling.last(row);
  for (int64_t col = 0; col < row; ++col) {
    int64_t dMin = qFirst - tiling.last(col), dMax = qLast - tiling.first(col);
    int64_t c = allowedIn(dMin, dMax);
    if (c != 0)
      out.emplace_back(col, c == dMax - dMin + 1 ? BlockClass::Full
                                                 : BlockClass::Partial);
  }
  if (allowedIn(0, qLast - qFirst) != 0)
    out.emplace_back(row, diagonalClass(tiling, row));
}

void appendPredicateRow(const Pattern &p, const Tiling &tiling, int64_t row,
                        std::vector<RowEntry> &out) {
  if (p.predicateExpr().empty())
    return;
  if (p.predicateExpr().dependsOnlyOnDifference())
    return appendShiftInvariantRow(p, tiling, row, out);
  for (int64_t col = 0; col <= row; ++col) {
    BlockClass cls = classifyByElements(p, tiling, row, col);
    if (cls != BlockClass::Empty)
      out.emplace_back(col, cls);
  }
}

/// minus(a, b): a's blocks, less those b fills; where b is partial the
/// elements decide.
void appendDifferenceRow(const Pattern &p, const Tiling &tiling, int64_t row,
                         std::vector<RowEntry> &out) {
  if (p.shiftInvariant())
    return appendShiftInvariantRow(p, tiling, row, out);
  std::vector<RowEntry> from, without;
  appendRow(p.children()[0], tiling, row, from);
  appendRow(p.children()[1], tiling, row, without);
  size_t j = 0;
  for (const auto &[col, cls] : from) {
    while (j < without.size() && without[j].first < col)
      ++j;
    if (j == without.size() || without[j].first != col)
      out.emplace_back(col, cls);
    else if (without[j].second != BlockClass::Full)
      if (BlockClass c = classifyByElements(p, tiling, row, col);
          c != BlockClass::Empty)
        out.emplace_back(col, c);
  }
}

/// Appends the non-empty blocks of layout row `row`, by ascending key block.
void appendRow(const Pattern &p, const Tiling &tiling, int64_t row,
               std::vector<RowEntry> &out) {
  switch (p.kind()) {
  case Pattern::Kind::Causal:
    return appendCausalRow(tiling, row, out);
  case Pattern::Kind::Local:
    return appendLocalRow(p.size(), tiling, row, out);
  case Pattern::Kind::Strided:
    return appendStridedRow(p.size(), tiling, row, out);
  case Pattern::Kind::Fixed:
    return appendFixedRow(p.size(), p.summary(), tiling, row, out);
  case Pattern::Kind::Gathered:
    return appendGatheredRow(p.size(), p.summary(), tiling, row, out);
  case Pattern::Kind::Union:
    return appendUnionRow(p, tiling, row, out);
  case Pattern::Kind::Difference:
    return appendDifferenceRow(p, tiling, row, out);
  case Pattern::Kind::BlockLayout:
    return appendBlockLayoutRow(p, tiling, row, out);
  case Pattern::Kind::Predicate:
    return appendPredicateRow(p, tiling, row, out);
  }
}

/// Whether classifying the pattern evaluates elements (a predicate, alone or
/// in a union, or a difference that is not shift-invariant), rather than
/// using its structure.
bool evaluatesElements(const Pattern &p) {
  if (p.kind() == Pattern::Kind::Predicate ||
      (p.kind() == Pattern::Kind::Difference && !p.shiftInvariant()))
    return true;
  for (const Pattern &c : p.children())
    if (evaluatesElements(c))
      return true;
  return false;
}

/// An empty layout for a degenerate size (n < 1 or blockSize < 1).
BlockLayout emptyLayout(int64_t n, int64_t blockSize) {
  BlockLayout layout;
  layout.n = n;
  layout.blockSize = blockSize;
  layout.rowPtr = {0};
  return layout;
}

} // namespace

std::optional<BlockLayout> buildBlockLayoutBounded(const Pattern &p, int64_t n,
                                                   int64_t blockSize,
                                                   int64_t maxBlocks) {
  if (n < 1 || blockSize < 1)
    return emptyLayout(n, blockSize);
  Tiling tiling(n, blockSize);
  BlockLayout layout = emptyLayout(n, blockSize);
  layout.numBlockRows = tiling.numRows;
  layout.rowPtr.reserve(tiling.numRows + 1);
  std::vector<RowEntry> entries;
  // Patterns classified by structure are cheap to classify twice: count
  // first, so the tables are allocated once at their size (growing them
  // would copy and fault in every page several times over millions of
  // blocks). Predicates, classified element by element, take one pass.
  if (!evaluatesElements(p)) {
    int64_t total = 0;
    for (int64_t row = 0; row < tiling.numRows; ++row) {
      entries.clear();
      appendRow(p, tiling, row, entries);
      total += static_cast<int64_t>(entries.size());
      if (total > maxBlocks)
        return std::nullopt;
    }
    layout.colIdx.reserve(static_cast<size_t>(total));
    layout.classes.reserve(static_cast<size_t>(total));
  }
  for (int64_t row = 0; row < tiling.numRows; ++row) {
    entries.clear();
    appendRow(p, tiling, row, entries);
    if (static_cast<int64_t>(entries.size()) > maxBlocks - layout.numBlocks())
      return std::nullopt;
    for (const auto &[col, cls] : entries) {
      layout.colIdx.push_back(col);
      layout.classes.push_back(cls);
    }
    layout.rowPtr.push_back(layout.numBlocks());
  }
  return layout;
}

BlockLayout buildBlockLayout(const Pattern &p, int64_t n, int64_t blockSize) {
  return *buildBlockLayoutBounded(p, n, blockSize, INT64_MAX);
}

BlockLayout buildBlockLayoutBruteForce(const Pattern &p, int64_t n,
                                       int64_t blockSize) {
  if (n < 1 || blockSize < 1)
    return emptyLayout(n, blockSize);
  Tiling tiling(n, blockSize);
  BlockLayout layout = emptyLayout(n, blockSize);
  layout.numBlockRows = tiling.numRows;
  for (int64_t row = 0; row < tiling.numRows; ++row) {
    for (int64_t col = 0; col <= row; ++col) {
      int64_t allowed = 0, inRange = 0;
      for (int64_t q = tiling.first(row); q <= tiling.last(row); ++q) {
        for (int64_t k = tiling.first(col); k <= tiling.last(col); ++k) {
          ++inRange;
          allowed += p.allowed(q, k);
        }
      }
      if (allowed == 0)
        continue;
      layout.colIdx.push_back(col);
      layout.classes.push_back(allowed == inRange ? BlockClass::Full
                                                  : BlockClass::Partial);
    }
    layout.rowPtr.push_back(layout.numBlocks());
  }
  return layout;
}

AttentionCost attentionCost(const Pattern &p, int64_t n, int64_t blockSize,
                            int64_t headDim) {
  return attentionCost(p, buildBlockLayout(p, n, blockSize), headDim);
}

AttentionCost attentionCost(const Pattern &p, const BlockLayout &layout,
                            int64_t headDim) {
  AttentionCost cost;
  const int64_t blockSize = layout.blockSize;
  cost.allowedPairs = p.countAllowed(layout.n);
  cost.computedBlocks = layout.numBlocks();
  cost.denseCausalBlocks = layout.denseCausalBlocks();
  double dim = static_cast<double>(headDim);
  cost.usefulFlops = 4.0 * static_cast<double>(cost.allowedPairs) * dim;
  // The kernel computes whole blocks, ragged or not.
  cost.computedFlops = 4.0 * static_cast<double>(cost.computedBlocks) *
                       static_cast<double>(blockSize) *
                       static_cast<double>(blockSize) * dim;
  return cost;
}

} // namespace stc::pattern
