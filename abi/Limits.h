//===- Limits.h - Sizes the compiler and the runtime both accept -*- C++ -*-===//
//
// One set of limits for the whole contract: the stk verifier, the kernel
// emitter, the pattern passes and the runtime's artifact validator all take
// them from here, so a model the compiler accepts is one the runtime loads.
//
//===----------------------------------------------------------------------===//

#ifndef STC_ABI_LIMITS_H
#define STC_ABI_LIMITS_H

#include <cstdint>
#include <cstdio>
#include <string>

namespace stc::abi {

/// The artifact format version this build writes and reads
/// (docs/artifact-format.md).
constexpr int64_t kArtifactVersion = 3;

/// Every buffer's offset in the arena is a multiple of this.
constexpr int64_t kBufferAlignment = 256;
/// The `scalars` buffer: 16 slots of 4 bytes (runtime/Executor.h, Scalars).
constexpr int64_t kScalarSlots = 16;

/// Sizes (rows, widths, sequence lengths): kernels index them with int.
constexpr int64_t kMaxDim = int64_t(1) << 30;
/// Element counts of a buffer or an op (kernels index them with 64 bits).
constexpr int64_t kMaxCount = int64_t(1) << 46;
/// Tensors of one multi-tensor optimizer op (adamw, sumsq): each adds its
/// buffers to one kernel launch's parameters (4 pointers for adamw), which
/// must fit CUDA's 4 KB of kernel parameters.
constexpr int64_t kMaxGroupTensors = 64;

/// Dynamic loss scaling (f16 models; abi/Ops.def loss_scale_update): the
/// initial scale, and how many finite steps in a row double it (the values
/// PyTorch's GradScaler starts from). A non-finite step halves it.
constexpr double kLossScaleInit = 65536.0;
constexpr int64_t kLossScaleGrowthInterval = 2000;
/// A step skipped at a loss scale below this (2^-24, f16's smallest
/// subnormal) ends training with an error: no scale makes the gradients fit.
constexpr double kLossScaleMin = 5.9604644775390625e-08;
/// gemms in one gemm_group (a layer's Q, K and V: 3).
constexpr int64_t kMaxGemmGroup = 8;
constexpr int64_t kMaxArenaBytes = int64_t(1) << 48;
/// Batch and heads: CUDA grid dimensions y and z.
constexpr int64_t kMaxGridYZ = 65535;

/// Attention head sizes the kernels support: multiples of 8 in this range.
constexpr int64_t kMinHeadDim = 8, kMaxHeadDim = 256, kHeadDimMultiple = 8;

/// The longest sequence (context) a model or a layout may have: 2^20 =
/// 1,048,576.
constexpr int64_t kMaxContext = int64_t(1) << 20;

/// The most parts a sampling attention's keys are split into
/// (attention_decode_split).
constexpr int64_t kMaxDecodeSplits = 64;

/// Score modifications (st score_mods): a soft cap or temperature up to
/// kMaxScoreModValue (larger ones overflow float scores for nothing), an
/// ALiBi base up to kMaxAlibiBase (slopes 2^-64 and smaller are no bias).
constexpr double kMaxScoreModValue = 1e6;
constexpr double kMaxAlibiBase = 64;

/// The longest context an unfused attention chain (stc-fuse-softmax left it
/// as written) runs at: its ops hold [B, H, T, T] scores.
constexpr int64_t kMaxUnfusedContext = 8192;
/// Model sizes the compiler accepts (st.model's verifier, stc-expand-model).
constexpr int64_t kMaxVocab = int64_t(1) << 24;
constexpr int64_t kMaxWidth = int64_t(1) << 16;
constexpr int64_t kMaxLayers = int64_t(1) << 12;
/// Sequences per step: a CUDA grid dimension; batch x context must stay
/// within kMaxDim (the rows of every activation).
constexpr int64_t kMaxBatch = kMaxGridYZ;
/// Positions the reachability analysis may cover: it holds two triangular
/// bitsets, n^2 / 8 bytes (512 MiB at this n).
constexpr int64_t kMaxReachPrefix = int64_t(1) << 16;
/// Blocks one layout may list. Below 2^31, so device-side layout tables use
/// 32-bit indices; the layout builder stops at this budget instead of
/// running out of memory.
constexpr int64_t kMaxLayoutBlocks = int64_t(1) << 26;
static_assert(kMaxLayoutBlocks < (int64_t(1) << 31),
              "layout tables are uploaded as int32");
/// Predicate patterns are limited to this n. Those that depend on q - k only
/// are classified from a table of n values; the others by evaluating
/// elements, at most kMaxPredicateEvaluations of them (n (n + 1) / 2 in the
/// worst case: n <= 23170), a few seconds.
constexpr int64_t kMaxPredicateContext = int64_t(1) << 16;
constexpr int64_t kMaxPredicateEvaluations = int64_t(1) << 28;

/// The attention block sizes stc-tile-attention can tile with, and its
/// default; `stc inspect`, `stc compile` and `stc train` share them. A
/// sequence shorter than the block is one block. 64 is the tensor-core
/// kernels' tile: with it a listed block is never empty, and the paper's
/// patterns (l = 128) skip whole empty half-blocks (bench/attention/LOG.md:
/// fixed(128, 32) forward 3.4x faster at block 64 than at 128 on the H200).
constexpr int64_t kAttentionBlockSizes[] = {16, 32, 64, 128};
constexpr int64_t kDefaultAttentionBlockSize = 64;

inline bool isAttentionBlockSize(int64_t b) {
  for (int64_t v : kAttentionBlockSizes)
    if (v == b)
      return true;
  return false;
}

/// Whether attention of these head sizes over layouts of these blocks runs
/// on the tensor-core kernels (codegen/device/attention_*_mma.cuh) when its
/// tensors are bf16 or f16: head sizes equal and 32, 64 or 128, every block a
/// multiple of their 64-row tiles. Everything else runs the fp32 kernels.
/// The kernel emitter picks kernels by it; stc-lower-to-kernels lowers the
/// fast (atomic) backward only where it holds.
inline bool attentionOnTensorCores(int64_t dk, int64_t dv,
                                   const int64_t *blocks, size_t numBlocks) {
  bool ok = dk == dv && (dk == 32 || dk == 64 || dk == 128);
  for (size_t i = 0; i < numBlocks; ++i)
    ok &= blocks[i] % 64 == 0;
  return ok;
}

/// "16, 32, 64, 128", for messages.
inline std::string attentionBlockSizesText() {
  std::string s;
  for (int64_t v : kAttentionBlockSizes)
    s += (s.empty() ? "" : ", ") + std::to_string(v);
  return s;
}

/// Device memory an executor takes besides the arena, known at compile time
/// (stc inspect predicts it, the CUDA executor allocates exactly this):
/// the cuBLASLt workspace, and per attention layout its six int32 block
/// tables: row_ptr (a block row count plus one entries), col_idx and
/// classes (one per computed block), and for a layout a backward reads
/// (`columns`) the same by key-block column: col_ptr, row_idx, col_classes
/// (empty otherwise). Each array starts at an offset aligned to
/// kBufferAlignment; all layouts share one allocation of at least
/// kBufferAlignment bytes.
constexpr int64_t kGemmWorkspaceBytes = int64_t(32) << 20;
inline int64_t layoutTableBytes(int64_t blockRows, int64_t blocks,
                                bool columns) {
  auto aligned = [](int64_t entries) {
    int64_t bytes = entries > 0 ? entries * 4 : 4;
    return (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
  };
  const int64_t side = aligned(blockRows + 1) + 2 * aligned(blocks);
  return side + (columns ? side : 3 * aligned(0));
}

/// What the device gives an allocation: whole 2 MiB pages (cuMemAlloc on
/// current NVIDIA GPUs).
constexpr int64_t kDeviceAllocationGranularity = int64_t(2) << 20;
/// The device memory one allocation of `bytes` takes: whole pages.
inline int64_t devicePages(int64_t bytes) {
  return (bytes + kDeviceAllocationGranularity - 1) /
         kDeviceAllocationGranularity * kDeviceAllocationGranularity;
}
/// An estimate, not a plan: device memory the kernels' code and module
/// globals and the cuBLASLt kernels a run loads take. Measured 6 to 14 MiB
/// on an H200 for the examples (bench/results/2026-12-02-h200-memory).
constexpr int64_t kKernelCodeAllowance = int64_t(8) << 20;

/// The device memory an executor takes for an artifact whose arena and
/// layout tables (summed layoutTableBytes) are given: three allocations
/// (arena; tables; cuBLASLt workspace), each whole pages, and the kernel
/// code allowance. stc inspect predicts it, stc train compares it with what
/// the CUDA executor measures.
inline int64_t plannedDeviceBytes(int64_t arenaBytes, int64_t tableBytes) {
  auto pages = [](int64_t bytes) {
    return devicePages(bytes > kBufferAlignment ? bytes : kBufferAlignment);
  };
  return pages(arenaBytes) + pages(tableBytes) + pages(kGemmWorkspaceBytes) +
         kKernelCodeAllowance;
}

/// "1280 bytes", "4.34 MiB", "12.50 GiB": sizes in messages and reports
/// (the memory plan, stc inspect, stc train's progress line).
inline std::string bytesText(int64_t bytes) {
  char buf[48];
  if (bytes < 10 * 1024)
    std::snprintf(buf, sizeof buf, "%lld bytes", static_cast<long long>(bytes));
  else if (bytes < (int64_t(1) << 30))
    std::snprintf(buf, sizeof buf, "%.2f MiB", bytes / 1048576.0);
  else
    std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / 1073741824.0);
  return buf;
}

} // namespace stc::abi

#endif // STC_ABI_LIMITS_H
