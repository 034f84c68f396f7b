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
#include "pattern/Pattern.h"

#include <string>
#include <vector>

namespace stc {

/// One attention layer: its heads split evenly among `groups`.
struct AttentionLayer {
  mlir::Operation *op = nullptr; ///< st.block or st.attention
  std::vector<pattern::Pattern> groups;
  int64_t heads = 1;
  int64_t headDim = 0; ///< q/k width per head

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

} // namespace stc

#endif // STC_PASSES_PATTERNANALYSIS_H
