//===- Gemm.h - The gemm op through cuBLASLt --------------------*- C++ -*-===//
//
// gemm (docs/artifact-format.md): row-major C[M,N] = alpha op(A) op(B) +
// beta C (+ bias[N]), op(X) = X^T when trans_x, each of A, B, C, bias f32 or
// bf16 independently, computed in f32 (CUBLAS_COMPUTE_32F: no TF32, so the
// result matches the CPU reference to f32 rounding).
//
// cuBLASLt is column-major; a row-major X[r,c] is the column-major X^T with
// leading dimension c. So C^T = op(B)^T op(A)^T + ...: cuBLASLt's "A" is our
// B buffer and its "B" is our A buffer, m = N, n = M, and the bias (one value
// per column n of our C) is one value per row of cuBLASLt's D, which is what
// CUBLASLT_EPILOGUE_BIAS broadcasts.
//
// The epilogues of abi/Ops.def (gelu with or without its argument `pre`,
// dgelu, bias_grad) go into cuBLASLt's (GELU[_AUX][_BIAS], DGELU, BGRADA:
// db sums cuBLASLt's A, our B, over k) when cuBLASLt offers an algorithm for
// them and `pre`, `gelu_x` and `db` have C's dtype; otherwise the product
// runs without them and helper kernels apply them after it
// (STC_GEMM_EPILOGUES=0 forces that, to test it).
//
// Two paths per op, chosen once at plan time:
//  - direct: A and B of one dtype, C f32 or theirs (bf16, f16), the bias
//    (if any) of C's dtype: one cublasLtMatmul with the BIAS epilogue.
//  - widened (any other mix, or when cuBLASLt offers no algorithm): 16-bit
//    operands are widened to f32 into scratch, the product runs in f32 into
//    C (f32) or an f32 scratch copy of C, and a small kernel adds the bias and
//    rounds to C's dtype once. Correct for every combination, slower.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_CUDA_GEMM_H
#define STC_RUNTIME_CUDA_GEMM_H

#include "abi/DType.h"
#include "abi/Limits.h"
#include "runtime/Status.h"
#include "runtime/cuda/CudaDriver.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace stc::rt::cuda {

using abi::DType;
using abi::dtypeName;

struct GemmProblem {
  int64_t M = 0, N = 0, K = 0;
  bool transA = false, transB = false;
  double alpha = 1, beta = 0;
  DType a = DType::F32, b = DType::F32, c = DType::F32;
  bool hasBias = false;
  DType bias = DType::F32;
  // Epilogues (abi/Ops.def's gemm) and their buffers' dtypes.
  bool gelu = false, geluPre = false, dgelu = false, biasGrad = false;
  DType pre = DType::F32, geluX = DType::F32, db = DType::F32;
};

/// A gemm_group run as one strided-batched call: `count` problems, member
/// m's B, C and bias (or bias gradient) `m * stride` elements after member
/// 0's, A shared.
struct GemmBatch {
  int count = 1;
  int64_t strideB = 0, strideC = 0, strideBias = 0;
};

/// One gemm op's device pointers (0 for an argument it does not have).
struct GemmPtrs {
  CUdeviceptr A = 0, B = 0, C = 0, bias = 0, pre = 0, geluX = 0, db = 0;
};

/// The helper kernels (GemmEngine::helperSource), once loaded.
struct GemmHelpers {
  CUfunction widen = nullptr, finish = nullptr, gelu = nullptr,
             dgelu = nullptr, colsum = nullptr;
};

class GemmEngine {
public:
  /// cuBLASLt's workspace (device memory the executor allocates).
  static constexpr size_t kWorkspaceBytes =
      static_cast<size_t>(abi::kGemmWorkspaceBytes);

  /// The helper kernels (widen bf16/f16 -> f32; add bias and round), compiled
  /// by the executor with the artifact's kernels.
  static const char *helperSource();
  static constexpr const char *kHelperName = "stc_rt_gemm_helpers";
  static constexpr const char *kWidenEntry = "stc_rt_widen";
  static constexpr const char *kFinishEntry = "stc_rt_gemm_finish";
  static constexpr const char *kGeluEntry = "stc_rt_gemm_gelu";
  static constexpr const char *kDgeluEntry = "stc_rt_gemm_dgelu";
  static constexpr const char *kColsumEntry = "stc_rt_gemm_colsum";
  /// In the same helper module: gradient accumulation's two kernels.
  static constexpr const char *kGradAccumulateEntry = "stc_rt_grad_accumulate";
  static constexpr const char *kGradAverageEntry = "stc_rt_grad_average";

  /// Creates the cuBLASLt handle; the device's context must be current.
  /// Reads STC_GEMM_EPILOGUES ("0": epilogues in helper kernels only) and
  /// STC_GEMM_BATCHED ("0": gemm_groups member by member).
  static Expected<std::unique_ptr<GemmEngine>> create(const DriverApi &drv);
  ~GemmEngine();
  GemmEngine(const GemmEngine &) = delete;
  GemmEngine &operator=(const GemmEngine &) = delete;

  /// Chooses the path and the cuBLASLt algorithm; returns the plan index.
  /// `label` names the op in messages.
  Expected<int> plan(const GemmProblem &p, const std::string &label);

  /// The strided-batched plan of a gemm_group whose members have problem
  /// `p` (cuBLASLt's direct path, its epilogues included); -1 (no error)
  /// when that path has no algorithm: plan the members one by one then.
  Expected<int> planBatched(const GemmProblem &p, const GemmBatch &batch,
                            const std::string &label);

  /// f32 scratch bytes the widened plans need at most (0 if none).
  size_t scratchBytes() const { return scratchBytes_; }
  /// How many plans took the widened path, and how many run an epilogue in
  /// helper kernels (a line for --verbose).
  int widenedPlans() const;
  int helperEpiloguePlans() const;
  /// How many plans run a gemm_group as one strided-batched call.
  int batchedPlans() const;

  /// Device memory, helper kernels (once allocated and compiled) and the
  /// stream every run() enqueues on.
  void bind(CUdeviceptr workspace, CUdeviceptr scratch,
            const GemmHelpers &helpers, CUstream stream);

  /// Enqueues plan `plan` on the bound stream (capturable: no host sync, no
  /// allocation).
  Status run(int plan, const GemmPtrs &ptrs, const std::string &label);

private:
  struct Plan;
  explicit GemmEngine(const DriverApi &drv);
  Status launchWiden(CUdeviceptr in, abi::DType dtype, CUdeviceptr out,
                     int64_t n, const std::string &label);
  Status launchHelper(CUfunction fn, const char *entry, int64_t n,
                      void **params, const std::string &label);
  Status runHelperEpilogues(const Plan &pl, const GemmPtrs &ptrs,
                            const std::string &label);

  const DriverApi &drv_;
  void *handle_ = nullptr; ///< cublasLtHandle_t
  bool fusedEpilogues_ = true; ///< STC_GEMM_EPILOGUES unset or not "0"
  bool batched_ = true;        ///< STC_GEMM_BATCHED unset or not "0"
  std::vector<std::unique_ptr<Plan>> plans_;
  size_t scratchBytes_ = 0;
  CUdeviceptr workspace_ = 0, scratch_ = 0;
  GemmHelpers helpers_;
  CUstream stream_ = nullptr;
};

} // namespace stc::rt::cuda

#endif // STC_RUNTIME_CUDA_GEMM_H
