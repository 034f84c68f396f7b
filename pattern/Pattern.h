//===- Pattern.h - Sparse attention patterns, exactly -----------*- C++ -*-===//
//
// The one source of truth for what an attention pattern means. A pattern is an
// element predicate allowed(q, k) over query position q and key position k, and
// always implies k <= q (causality is part of every pattern's meaning). Block
// layouts, block classes, densities, FLOP counts and reachability are derived
// from it here, and tested against brute-force evaluation.
//
// This library needs no LLVM/MLIR: the compiler, the CLI and the runtime share
// it. Errors are reported through return values (no exceptions).
//
//===----------------------------------------------------------------------===//

#ifndef STC_PATTERN_PATTERN_H
#define STC_PATTERN_PATTERN_H

#include "pattern/Predicate.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stc::pattern {

/// An attention pattern. Cheap to copy (children are shared, immutable).
class Pattern {
public:
  enum class Kind {
    Causal,     ///< every k <= q
    Local,      ///< q - k < window
    Strided,    ///< (q - k) mod stride == 0
    Fixed,      ///< q / block == k / block, or k mod block >= block - summary
    Gathered,   ///< k < (q / block) * summary: fixed's summary columns gathered
    Union,      ///< any child allows (q, k)
    Difference, ///< the first child allows (q, k) and the second does not
    BlockLayout, ///< (q / block, k / block) is a listed block
    Predicate,   ///< a user-defined element predicate
  };

  /// Constructors never fail (the verifier rejects bad parameters first);
  /// out-of-range values keep a defined meaning: a window, stride or block
  /// size < 1 allows nothing; fixed's summary is clamped to [0, block]; block
  /// pairs with a negative index or key block > query block are dropped; an
  /// empty union or predicate allows nothing. parse() rejects all of these.
  static Pattern causal();
  static Pattern local(int64_t window);
  static Pattern strided(int64_t stride);
  static Pattern fixed(int64_t block, int64_t summary);
  /// Over the summary columns of fixed(block, summary) gathered in order
  /// (key k is the (k mod summary)-th summary column of fixed block k /
  /// summary): query q sees those of the fixed blocks before its own. What
  /// stc-normalize-patterns attends fixed's summaries with
  /// (pattern/Normalize.h). The summary is clamped to [0, block].
  static Pattern gathered(int64_t block, int64_t summary);
  static Pattern unionOf(std::vector<Pattern> children);
  /// What `from` allows and `without` does not: what stc-normalize-patterns
  /// attends a union's other members with once a strided member runs apart
  /// (pattern/Normalize.h). children() is {from, without}.
  static Pattern difference(Pattern from, Pattern without);
  /// `blocks` lists (query block, key block) pairs; order and duplicates do not
  /// matter.
  static Pattern blockLayout(int64_t blockSize,
                             std::vector<std::pair<int64_t, int64_t>> blocks);
  static Pattern predicate(std::string name, Predicate pred);

  Kind kind() const;
  /// Local window, stride, or fixed / gathered / block-layout block size.
  int64_t size() const;
  /// Fixed (or gathered) summary width c.
  int64_t summary() const;
  const std::vector<Pattern> &children() const;
  const std::vector<std::pair<int64_t, int64_t>> &blocks() const;
  const std::string &predicateName() const;
  const Predicate &predicateExpr() const;

  /// Exact membership; false whenever k > q or either is negative.
  bool allowed(int64_t q, int64_t k) const;

  /// Whether allowed(q, k) depends on q - k only (causal, local, strided,
  /// predicates of (sub q k), unions of those): such a pattern is known from
  /// the n values allowed(d, 0).
  bool shiftInvariant() const;

  /// Predicate evaluations that classifying this pattern's blocks, counting
  /// its pairs or finding an empty row at n may take in the worst case: 0
  /// unless it holds a predicate or a difference that is not
  /// shift-invariant, then n (n + 1) / 2 (saturating).
  int64_t elementEvaluations(int64_t n) const;

  /// Calls fn(k) for every allowed k in [0, min(q, n-1)], ascending. Fast for
  /// the built-in patterns (no scan of disallowed keys).
  void forEachAllowedKey(int64_t q, int64_t n,
                         const std::function<void(int64_t)> &fn) const;

  /// Number of allowed (q, k) pairs with 0 <= k <= q < n. Closed forms or
  /// O(n) loops for the built-in patterns.
  int64_t countAllowed(int64_t n) const;

  /// Allowed pairs over n * n (dense causal is ~0.5).
  double density(int64_t n) const;

  /// First query q < n with no allowed key, if any.
  std::optional<int64_t> firstEmptyRow(int64_t n) const;

  /// Canonical text form, parsed back by parse(): `causal`, `local(128)`,
  /// `strided(128)`, `fixed(128,32)`, `gathered(128,32)`,
  /// `union(local(128),strided(128))`, `minus(local(128),strided(128))`,
  /// `blocks(64;0:0,1:0,1:1)`, `predicate(name;<s-expression>)`.
  std::string str() const;
  static std::optional<Pattern> parse(std::string_view text,
                                      std::string *error);

  /// Structural equality.
  bool operator==(const Pattern &other) const;
  bool operator!=(const Pattern &other) const { return !(*this == other); }

private:
  struct Node;
  explicit Pattern(std::shared_ptr<const Node> node);
  std::shared_ptr<const Node> node_;
};

//===----------------------------------------------------------------------===//
// Block layouts
//===----------------------------------------------------------------------===//

enum class BlockClass : uint8_t { Empty = 0, Partial = 1, Full = 2 };

const char *blockClassName(BlockClass c);

/// A pattern tiled with square blocks of `blockSize` over a sequence of `n`.
/// Rows are query blocks. Only blocks with key block <= query block are ever
/// listed (the upper triangle is dropped, not masked), and only non-empty ones.
/// Full: every in-range (q, k) of the block is allowed (needs no mask).
/// Partial: some but not all are (the kernel evaluates the predicate inline).
/// Ragged last blocks (n not a multiple of blockSize) consider in-range
/// elements only.
struct BlockLayout {
  int64_t n = 0;
  int64_t blockSize = 0;
  int64_t numBlockRows = 0; ///< ceil(n / blockSize)
  /// CSR: keys of row r are colIdx[rowPtr[r] .. rowPtr[r+1]), ascending.
  std::vector<int64_t> rowPtr;
  std::vector<int64_t> colIdx;
  std::vector<BlockClass> classes; ///< parallel to colIdx; never Empty

  int64_t numBlocks() const { return static_cast<int64_t>(colIdx.size()); }
  int64_t numFull() const;
  int64_t numPartial() const;
  /// Blocks a dense causal layout of the same n and block size computes:
  /// numBlockRows * (numBlockRows + 1) / 2.
  int64_t denseCausalBlocks() const;
  /// Class of block (row, col); Empty if not listed.
  BlockClass classOf(int64_t row, int64_t col) const;
};

/// Exact classification. Built-in patterns use their structure; unions combine
/// children and fall back to element evaluation only where children disagree;
/// predicates evaluate every element of every lower-triangle block.
BlockLayout buildBlockLayout(const Pattern &p, int64_t n, int64_t blockSize);

/// buildBlockLayout that gives up (nullopt) as soon as the layout would list
/// more than maxBlocks blocks, so its memory stays bounded.
std::optional<BlockLayout> buildBlockLayoutBounded(const Pattern &p, int64_t n,
                                                   int64_t blockSize,
                                                   int64_t maxBlocks);

/// Same result by evaluating every element (the test oracle).
BlockLayout buildBlockLayoutBruteForce(const Pattern &p, int64_t n,
                                       int64_t blockSize);

//===----------------------------------------------------------------------===//
// Cost
//===----------------------------------------------------------------------===//

struct AttentionCost {
  int64_t allowedPairs = 0;  ///< per (batch, head)
  int64_t computedBlocks = 0;
  int64_t denseCausalBlocks = 0;
  /// Forward FLOPs per (batch, head) for QK^T and PV: 4 * pairs * headDim.
  double usefulFlops = 0;
  /// What the block-sparse kernel does: 4 * blocks * block^2 * headDim.
  double computedFlops = 0;
};

AttentionCost attentionCost(const Pattern &p, int64_t n, int64_t blockSize,
                            int64_t headDim);
/// The same from a layout already built for p.
AttentionCost attentionCost(const Pattern &p, const BlockLayout &layout,
                            int64_t headDim);

//===----------------------------------------------------------------------===//
// Reachability through a stack of attention layers
//===----------------------------------------------------------------------===//

/// Information flows from key j to query i through layers 1..L in order; at
/// each layer a position keeps what it had (the residual) and gains what every
/// position it attends to had. A layer's pattern is the union of its heads'
/// patterns (pass a union for multi-head layers).
struct Reachability {
  int64_t n = 0;             ///< positions analysed (a prefix of the context)
  int64_t layers = 0;        ///< layers in the stack
  /// Smallest number of leading layers after which every j <= i < n is
  /// reachable from i (the paper's p+1 hops); -1 if never within the stack.
  int64_t maxHops = -1;
  int64_t unreachablePairs = 0; ///< pairs j <= i < n unreachable after all layers
  /// One unreachable pair (i, j) to show the user, if any: the smallest i,
  /// then the smallest j.
  std::optional<std::pair<int64_t, int64_t>> exampleUnreachable;
};

/// Bitset propagation; cost ~ sum over rows of allowed keys * n / 64 per layer,
/// and stops as soon as everything is reachable. Holds two triangular bitsets
/// (about n * n / 8 bytes in all), so pass a prefix n of a long context.
Reachability analyzeReachability(const std::vector<Pattern> &layers, int64_t n);

} // namespace stc::pattern

#endif // STC_PATTERN_PATTERN_H
