//===- Passes.h - stc passes ------------------------------------*- C++ -*-===//

#ifndef STC_PASSES_PASSES_H
#define STC_PASSES_PASSES_H

#include "abi/Limits.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace stc {

/// The dialects stc's tools parse: st and the upstream ones it builds on.
void registerStcDialects(mlir::DialectRegistry &registry);

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

/// Options of the whole model -> kernel program pipeline.
struct CompilePipelineOptions {
  int64_t batch = 4;
  int64_t blockSize = abi::kDefaultAttentionBlockSize;
  int64_t memoryBudget = 0; ///< bytes, 0 = none
  bool unreachableIsError = false;
  bool normalizePatterns = true; ///< run stc-normalize-patterns
  /// Run stc-fuse-softmax (off: attention runs as the unfused chain, over
  /// [B, H, T, T] scores: small models, and a reference for the fused
  /// kernels).
  bool fuseSoftmax = true;
  std::string recompute = "none"; ///< stc-schedule-recompute's policy
  int64_t recomputeBlocks = -1;   ///< ... and its blocks (-1: all)
  std::string recomputeRest = "none"; ///< ... the other blocks' policy
  bool deterministic = false; ///< no atomics (stc-lower-to-kernels)
  /// Sequences per sample step; 0: the batch, or 1 when recomputing.
  int64_t sampleBatch = 0;
  /// Key splits of the sampling attention; 0: chosen (stc-lower-to-kernels).
  int64_t decodeSplits = 0;
};

/// stc-verify-patterns, stc-expand-model, stc-autodiff,
/// stc-schedule-recompute, stc-normalize-patterns, stc-tile-attention,
/// stc-lower-to-kernels,
/// stc-plan-memory: what `stc compile` runs before
/// writing the artifact.
void buildCompilePipeline(mlir::OpPassManager &pm,
                          const CompilePipelineOptions &options);

/// Registers the pipeline as `stc-compile` (for stc-opt and lit).
void registerCompilePipeline();

} // namespace stc

#endif // STC_PASSES_PASSES_H
