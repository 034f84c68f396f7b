//===- PatternAnalysis.h - Attention layers of a module ---------*- C++ -*-===//
//
// Gathers the attention layers of a module, in execution order, as pattern
// library objects: what the pattern checks (stc-verify-patterns) and the
// reports (stc inspect) both look at.
//
//===----------------------------------------------------------------------===//

#ifndef STC_PASSES_PATTERNANALYSIS_H
#define STC_PASSES_PATTERNANALYSIS_H

#include "mlir/IR/BuiltinOps.h"
#include "pattern/Normalize.h"
#include "pattern/Pattern.h"

#include <optional>

#include <string>
#include <vector>

namespace stc {

/// One attention layer: its heads split evenly among `groups`.
struct AttentionLayer {
  mlir::Operation *op = nullptr; ///< st.block or st.attention
  std::vector<pattern::Pattern> groups;
  int64_t heads = 1;
  int64_t headDim = 0; ///< q/k width per head
  /// The layer's score modifications, as shown: `softcap(30)`, `alibi(8)`,
  /// `temperature(0.5)`, in order.
  std::vector<std::string> scoreMods;
  /// Whether a modification reads positions (ALiBi): the layer then runs
  /// its patterns as written (stc-normalize-patterns leaves it alone).
  bool positionalMods = false;

  /// All heads together (what reachability follows).
  pattern::Pattern merged() const;
  /// `fixed(128,32)` or `[local(128) x4, strided(128) x4]`.
  std::string describe() const;
};

/// The attention layers of one st.model or one function, in order.
struct AttentionStack {
  mlir::Operation *owner = nullptr; ///< st.model or func-like op
  std::string name;                 ///< its symbol name
  int64_t context = 0;
  std::vector<AttentionLayer> layers;
};

/// A pattern as shown to users: built-ins in their text form, user
/// predicates by name (`@local_dilated`); the full text is in the IR.
std::string displayName(const pattern::Pattern &p);

/// Every st.model, then every function holding st.attention ops. Fails (with
/// diagnostics already emitted) when a pattern cannot be resolved.
mlir::FailureOr<std::vector<AttentionStack>>
collectAttentionStacks(mlir::ModuleOp module);

/// The rewrite stc-normalize-patterns gives one head group, with the blocks
/// per head that the kernels compute before and after.
struct GroupNormalization {
  /// Exactly one is set.
  std::optional<pattern::PermutedPattern> permuted; ///< strided(l)
  std::optional<pattern::SplitPattern> split;       ///< fixed(l, c)
  std::optional<pattern::StrideSplit> strideSplit;  ///< union(..., strided(l))
  int64_t blocksBefore = 0;
  int64_t blocksAfter = 0;

  /// "fixed(8,0) over the sequence permuted by stride 8", "fixed(128,0)
  /// plus gathered(128,32) over the 3072 summary columns" or
  /// "minus(local(128),strided(128)) plus fixed(128,0) over the sequence
  /// permuted by stride 128".
  std::string describe() const;
};

/// The cheaper exact form of pattern p over a sequence of n at blockSize (the
/// layout block is min(blockSize, n), as stc-tile-attention tiles), if one
/// computes fewer blocks; nullopt keeps p. The cost model is the number of
/// blocks in the layouts (for a split, both halves); the permutation,
/// gather and merge passes over memory are not counted (they are O(n)
/// against the blocks' O(n * block)).
/// A split needs every head group of the op to be that same pattern
/// (`allowSplit`): the gathered summaries are shared by all heads, and a
/// stride split permutes every head and the statistics of all of them.
std::optional<GroupNormalization>
chooseNormalization(const pattern::Pattern &p, int64_t n, int64_t blockSize,
                    bool allowSplit = true);

} // namespace stc

#endif // STC_PASSES_PATTERNANALYSIS_H
