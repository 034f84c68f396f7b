//===- Pipeline.cpp - The compile pipeline --------------------------------===//

#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

void stc::buildCompilePipeline(OpPassManager &pm,
                               const CompilePipelineOptions &options) {
  pm.addPass(createVerifyPatternsPass(
      VerifyPatternsPassOptions{options.unreachableIsError, 2048}));
  pm.addPass(createExpandModelPass(ExpandModelPassOptions{options.batch}));
  if (options.fuseSoftmax)
    pm.addPass(createFuseSoftmaxPass());
  // By default the sample step draws the batch's sequences at once: its
  // caches (keys and values of every layer) fit in the bytes the training
  // step's activations take. Recomputation shrinks those, so then it draws
  // one, unless asked.
  AutodiffPassOptions autodiff;
  autodiff.sampleBatch = options.sampleBatch ? options.sampleBatch
                         : options.recompute == "none" ? options.batch
                                                       : 1;
  pm.addPass(createAutodiffPass(autodiff));
  pm.addPass(createScheduleRecomputePass(ScheduleRecomputePassOptions{
      options.recompute, options.recomputeBlocks, options.recomputeRest}));
  if (options.normalizePatterns)
    pm.addPass(createNormalizePatternsPass(
        NormalizePatternsPassOptions{options.blockSize}));
  pm.addPass(createTileAttentionPass(TileAttentionPassOptions{options.blockSize}));
  pm.addPass(createEliminateUpperTrianglePass());
  pm.addPass(createLowerToKernelsPass(
      LowerToKernelsPassOptions{options.deterministic, options.decodeSplits}));
  pm.addPass(createFuseAccumulatePass());
  pm.addPass(createFoldSummaryGathersPass());
  pm.addPass(createFuseLayerNormDropoutPass());
  pm.addPass(createFuseGemmEpiloguesPass());
  pm.addPass(createGroupGemmsPass());
  pm.addPass(createPlanMemoryPass(PlanMemoryPassOptions{options.memoryBudget}));
}

namespace {
struct PipelineOptions : public PassPipelineOptions<PipelineOptions> {
  Option<int64_t> batch{*this, "batch", llvm::cl::desc("Sequences per step"),
                        llvm::cl::init(4)};
  Option<int64_t> blockSize{*this, "block-size",
                            llvm::cl::desc("Attention block size"),
                            llvm::cl::init(stc::abi::kDefaultAttentionBlockSize)};
  Option<int64_t> budget{*this, "memory-budget",
                         llvm::cl::desc("Largest arena in bytes (0: none)"),
                         llvm::cl::init(0)};
  Option<bool> normalize{*this, "normalize-patterns",
                         llvm::cl::desc("Run stc-normalize-patterns"),
                         llvm::cl::init(true)};
  Option<bool> fuseSoftmax{*this, "fuse-softmax",
                           llvm::cl::desc("Run stc-fuse-softmax"),
                           llvm::cl::init(true)};
  Option<std::string> recompute{
      *this, "recompute",
      llvm::cl::desc("stc-schedule-recompute policy: none, cheap, gemm or "
                     "paper"),
      llvm::cl::init("none")};
  Option<int64_t> recomputeBlocks{
      *this, "recompute-blocks",
      llvm::cl::desc("paper: recompute only the first N blocks (-1: all)"),
      llvm::cl::init(-1)};
  Option<std::string> recomputeRest{
      *this, "recompute-rest",
      llvm::cl::desc("with recompute-blocks: the other blocks' policy (none, "
                     "cheap or gemm)"),
      llvm::cl::init("none")};
  Option<bool> deterministic{
      *this, "deterministic",
      llvm::cl::desc("Attention backward without atomics"),
      llvm::cl::init(false)};
  Option<int64_t> decodeSplits{
      *this, "decode-splits",
      llvm::cl::desc("Key splits of the sampling attention (0: chosen)"),
      llvm::cl::init(0)};
  Option<int64_t> sampleBatch{
      *this, "sample-batch",
      llvm::cl::desc("Sequences per sample step (0: the batch, or 1 with "
                     "recompute)"),
      llvm::cl::init(0)};
};
} // namespace

void stc::registerCompilePipeline() {
  PassPipelineRegistration<PipelineOptions>(
      "stc-compile", "Model spec -> planned stk kernel program",
      [](OpPassManager &pm, const PipelineOptions &o) {
        CompilePipelineOptions c;
        c.batch = o.batch;
        c.blockSize = o.blockSize;
        c.memoryBudget = o.budget;
        c.normalizePatterns = o.normalize;
        c.fuseSoftmax = o.fuseSoftmax;
        c.recompute = o.recompute;
        c.recomputeBlocks = o.recomputeBlocks;
        c.recomputeRest = o.recomputeRest;
        c.deterministic = o.deterministic;
        c.sampleBatch = o.sampleBatch;
        c.decodeSplits = o.decodeSplits;
        buildCompilePipeline(pm, c);
      });
}
