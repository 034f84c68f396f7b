//===- StOps.h - st operations ----------------------------------*- C++ -*-===//

#ifndef STC_DIALECT_ST_STOPS_H
#define STC_DIALECT_ST_STOPS_H

#include "dialect/st/StAttrs.h"
#include "dialect/st/StDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/RegionKindInterface.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "pattern/Predicate.h"

#define GET_OP_CLASSES
#include "dialect/st/StOps.h.inc"

#include <optional>
#include <string>

namespace stc::st {

/// A `score_mods` list in the form the fused kernels take: the temperatures
/// ahead of everything else multiplied into one factor (folded into the
/// score scale), then at most one soft cap (0: none) and one ALiBi base (0:
/// none), the bias before or after the cap.
struct KernelScoreMods {
  double temperature = 1.0, softcap = 0.0, alibi = 0.0;
  bool alibiFirst = false;
};

/// The kernel form of `mods` (null: none), or nullopt with *why saying what
/// has none (a temperature after a cap or bias, two caps, two biases).
std::optional<KernelScoreMods> kernelScoreMods(mlir::ArrayAttr mods,
                                               std::string *why);

/// The unfused attention chain that ends in an st.attention_weighted_sum:
/// st.attention_scores, its st.score_mod ops in application order, and
/// st.masked_softmax over the scores' patterns.
struct AttentionChain {
  AttentionScoresOp scores;
  llvm::SmallVector<ScoreModOp> mods;
  MaskedSoftmaxOp softmax;

  /// The modifications as a score_mods attribute (null: none).
  mlir::ArrayAttr scoreMods() const;
};

/// The chain ending in `sum`, each link read by the next alone (what
/// stc-fuse-softmax fuses and the sample step decodes as one attention),
/// or nullopt with *why saying what breaks it.
std::optional<AttentionChain> attentionChain(AttentionWeightedSumOp sum,
                                             std::string *why);

} // namespace stc::st

#endif // STC_DIALECT_ST_STOPS_H
