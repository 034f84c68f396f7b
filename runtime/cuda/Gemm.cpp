//===- Gemm.cpp - The gemm op through cuBLASLt ----------------------------===//

#include "runtime/cuda/Gemm.h"

#include <cublasLt.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace stc::rt::cuda {

namespace {

constexpr size_t kAlign = 256;
size_t alignUp(size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

std::string cublasMessage(cublasStatus_t s) {
  const char *name = cublasLtGetStatusName(s);
  const char *text = cublasLtGetStatusString(s);
  std::string m = name ? name : "cuBLAS status " + std::to_string(int(s));
  if (text)
    m += std::string(" (") + text + ")";
  return m;
}

Status checkLt(cublasStatus_t s, const char *call, const std::string &label) {
  if (s == CUBLAS_STATUS_SUCCESS)
    return Status::ok();
  return Status::error(std::string(call) + "(" + label +
                       "): " + cublasMessage(s));
}

#define STC_LT(call, label)                                                    \
  STC_RETURN_IF_ERROR(checkLt((call), #call, label))

cudaDataType_t cudaType(DType d) {
  switch (d) {
  case DType::BF16:
    return CUDA_R_16BF;
  case DType::F16:
    return CUDA_R_16F;
  default:
    return CUDA_R_32F;
  }
}

/// A buffer's dtype as the helper kernels take it (abi::DType's code).
int dtypeCode(DType d) { return static_cast<int>(d); }

std::string problemText(const GemmProblem &p) {
  std::string s = "M=" + std::to_string(p.M) + " N=" + std::to_string(p.N) +
                  " K=" + std::to_string(p.K);
  s += std::string(" A ") + dtypeName(p.a) + (p.transA ? "^T" : "");
  s += std::string(" B ") + dtypeName(p.b) + (p.transB ? "^T" : "");
  s += std::string(" C ") + dtypeName(p.c);
  if (p.hasBias)
    s += std::string(" bias ") + dtypeName(p.bias);
  if (p.gelu)
    s += p.geluPre ? std::string(" gelu, pre ") + dtypeName(p.pre)
                   : std::string(" gelu");
  if (p.dgelu)
    s += std::string(" dgelu of ") + dtypeName(p.geluX);
  if (p.biasGrad)
    s += std::string(" bias_grad ") + dtypeName(p.db);
  return s;
}

bool usesBiasPointer(cublasLtEpilogue_t e) {
  return e == CUBLASLT_EPILOGUE_BIAS || e == CUBLASLT_EPILOGUE_GELU_BIAS ||
         e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS || e == CUBLASLT_EPILOGUE_BGRADA;
}
bool usesAuxPointer(cublasLtEpilogue_t e) {
  return e == CUBLASLT_EPILOGUE_GELU_AUX ||
         e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS || e == CUBLASLT_EPILOGUE_DGELU;
}

/// One cuBLASLt call takes p's dtypes as they are: A and B of one dtype,
/// C f32 or theirs, a bias of C's dtype.
bool directDtypes(const GemmProblem &p) {
  return p.a == p.b && (p.c == DType::F32 || p.c == p.a) &&
         (!p.hasBias || p.bias == p.c);
}

/// An on/off environment switch: unset or empty keeps `value`; "0" or "1"
/// sets it; anything else is an error naming both meanings.
Status readSwitch(const char *name, const char *on, const char *off,
                  bool &value) {
  const char *v = std::getenv(name);
  if (!v || !*v)
    return Status::ok();
  if (std::strcmp(v, "0") != 0 && std::strcmp(v, "1") != 0)
    return Status::error(std::string(name) + " is '" + v + "'; valid: 1 (" +
                         on + ", the default) or 0 (" + off + ")");
  value = std::strcmp(v, "1") == 0;
  return Status::ok();
}

/// The cuBLASLt epilogue doing all of p's epilogues.
cublasLtEpilogue_t fullEpilogue(const GemmProblem &p) {
  if (p.gelu) {
    if (p.geluPre)
      return p.hasBias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS
                       : CUBLASLT_EPILOGUE_GELU_AUX;
    return p.hasBias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
  }
  if (p.dgelu)
    return CUBLASLT_EPILOGUE_DGELU;
  if (p.biasGrad)
    return CUBLASLT_EPILOGUE_BGRADA;
  return p.hasBias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
}

// Grid-stride launch shape of the helper kernels.
constexpr unsigned kHelperThreads = 256;
unsigned helperBlocks(int64_t n) {
  int64_t b = (n + kHelperThreads - 1) / kHelperThreads;
  return static_cast<unsigned>(std::clamp<int64_t>(b, 1, 4096));
}

} // namespace

/// One op's matmul: descriptors and algorithm, and for the widened path the
/// scratch offsets.
struct GemmEngine::Plan {
  GemmProblem p;
  bool widened = false;
  /// cuBLASLt's epilogue (direct path); the ones it leaves run in helpers.
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  bool helperEpilogue = false; ///< gelu / dgelu / bias_grad in helpers
  int batch = 1;                ///< > 1: a gemm_group as one call
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t aDesc = nullptr; ///< cuBLASLt's A: our B buffer
  cublasLtMatrixLayout_t bDesc = nullptr; ///< cuBLASLt's B: our A buffer
  cublasLtMatrixLayout_t cDesc = nullptr; ///< C and D
  cublasLtMatmulAlgo_t algo{};
  size_t offA = 0, offB = 0, offC = 0; ///< widened: scratch offsets

  void destroy() {
    if (desc)
      cublasLtMatmulDescDestroy(desc);
    if (aDesc)
      cublasLtMatrixLayoutDestroy(aDesc);
    if (bDesc)
      cublasLtMatrixLayoutDestroy(bDesc);
    if (cDesc)
      cublasLtMatrixLayoutDestroy(cDesc);
    desc = nullptr;
    aDesc = bDesc = cDesc = nullptr;
  }
  ~Plan() { destroy(); }
};

const char *GemmEngine::helperSource() {
  // No includes: 16-bit floats handled as raw bits. A pointer's dtype comes
  // as its abi::DType code (0 f32, 1 bf16, 3 f16); rounding is to nearest
  // even, exactly like the host's floatToHalf (abi/DType.h).
  return R"CUDA(// stc runtime: helper kernels of the gemm op (widened path).
__device__ __forceinline__ float stc_bf16_to_f32(unsigned short b) {
  return __uint_as_float(static_cast<unsigned>(b) << 16);
}
__device__ __forceinline__ unsigned short stc_f32_to_bf16(float f) {
  unsigned bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return static_cast<unsigned short>((bits >> 16) | 0x0040u);
  unsigned rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<unsigned short>((bits + rounding) >> 16);
}
__device__ __forceinline__ float stc_f16_to_f32(unsigned short h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}
__device__ __forceinline__ unsigned short stc_f32_to_f16(float f) {
  unsigned short h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
}
// Element i of p, whose dtype code is dt, widened; and stored rounded.
__device__ __forceinline__ float stc_ld(const void *p, int dt, long long i) {
  if (dt == 1)
    return stc_bf16_to_f32(static_cast<const unsigned short *>(p)[i]);
  if (dt == 3)
    return stc_f16_to_f32(static_cast<const unsigned short *>(p)[i]);
  return static_cast<const float *>(p)[i];
}
__device__ __forceinline__ void stc_st(void *p, int dt, long long i, float v) {
  if (dt == 1)
    static_cast<unsigned short *>(p)[i] = stc_f32_to_bf16(v);
  else if (dt == 3)
    static_cast<unsigned short *>(p)[i] = stc_f32_to_f16(v);
  else
    static_cast<float *>(p)[i] = v;
}
#define STC_GRID_LOOP(i, n)                                                    \
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; \
       i < (n); i += static_cast<long long>(gridDim.x) * blockDim.x)
// out[i] = in[i] (dtype in_dt) widened, i < n.
extern "C" __global__ void stc_rt_widen(const void *__restrict__ in, int in_dt,
                                        float *__restrict__ out, long long n) {
  STC_GRID_LOOP(i, n) out[i] = stc_ld(in, in_dt, i);
}
// c[m,n] = d[m,n] (+ bias[n]) stored in c's dtype; c may be d.
// bias_dt: -1 no bias, else the bias's dtype code.
extern "C" __global__ void stc_rt_gemm_finish(const float *d, void *c, int c_dt,
                                              const void *bias, int bias_dt,
                                              long long M, long long N) {
  STC_GRID_LOOP(i, M * N) {
    float v = d[i];
    if (bias_dt >= 0)
      v += stc_ld(bias, bias_dt, i % N);
    stc_st(c, c_dt, i, v);
  }
}
// The gemm epilogues when cuBLASLt does not run them (tanh GELU, as
// codegen/device/gelu.cuh). gelu: v = c[i] as stored, pre[i] = v (if pre),
// c[i] = gelu(v).
extern "C" __global__ void stc_rt_gemm_gelu(void *c, int c_dt, void *pre, int pre_dt,
                                            long long n) {
  STC_GRID_LOOP(i, n) {
    const float v = stc_ld(c, c_dt, i);
    if (pre)
      stc_st(pre, pre_dt, i, v);
    const float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
    stc_st(c, c_dt, i, 0.5f * v * (1.f + tanhf(u)));
  }
}
// dgelu: c[i] = c[i] * gelu'(x[i]).
extern "C" __global__ void stc_rt_gemm_dgelu(void *c, int c_dt, const void *x, int x_dt,
                                             long long n) {
  STC_GRID_LOOP(i, n) {
    const float xi = stc_ld(x, x_dt, i);
    const float u = 0.7978845608028654f * (xi + 0.044715f * xi * xi * xi);
    const float th = tanhf(u);
    const float du = 0.7978845608028654f * (1.f + 3.f * 0.044715f * xi * xi);
    const float d = 0.5f * (1.f + th) + 0.5f * xi * (1.f - th * th) * du;
    stc_st(c, c_dt, i, stc_ld(c, c_dt, i) * d);
  }
}
// bias_grad: db[n] = sum over k of b[k, n], b [K, N] row-major; one thread
// per column (consecutive threads read consecutive bytes of a row).
extern "C" __global__ void stc_rt_gemm_colsum(const void *b, int b_dt, void *db, int db_dt,
                                              long long K, long long N) {
  STC_GRID_LOOP(n, N) {
    float acc = 0.f;
    for (long long k = 0; k < K; ++k)
      acc += stc_ld(b, b_dt, k * N + n);
    stc_st(db, db_dt, n, acc);
  }
}
// Gradient accumulation (stc train --accumulate): sum[i] = (first ? 0 :
// sum[i]) + g[i], g of dtype code g_dt.
extern "C" __global__ void stc_rt_grad_accumulate(float *sum, const void *g, int g_dt,
                                                  int first, long long n) {
  STC_GRID_LOOP(i, n) {
    const float v = stc_ld(g, g_dt, i);
    sum[i] = first ? v : sum[i] + v;
  }
}
// g[i] = sum[i] * scale (the product in double, like the host's), rounded
// to g's dtype.
extern "C" __global__ void stc_rt_grad_average(const float *sum, void *g, int g_dt,
                                               double scale, long long n) {
  STC_GRID_LOOP(i, n) {
    stc_st(g, g_dt, i, static_cast<float>(static_cast<double>(sum[i]) * scale));
  }
}
)CUDA";
}

GemmEngine::GemmEngine(const DriverApi &drv) : drv_(drv) {}

Expected<std::unique_ptr<GemmEngine>> GemmEngine::create(const DriverApi &drv) {
  std::unique_ptr<GemmEngine> e(new GemmEngine(drv));
  STC_RETURN_IF_ERROR(readSwitch(
      "STC_GEMM_EPILOGUES", "cuBLASLt runs the gemm epilogues where it can",
      "helper kernels run them", e->fusedEpilogues_));
  STC_RETURN_IF_ERROR(readSwitch(
      "STC_GEMM_BATCHED",
      "a gemm_group runs as one strided-batched call where it can",
      "member by member", e->batched_));
  cublasLtHandle_t h = nullptr;
  STC_LT(cublasLtCreate(&h), "cuBLASLt setup");
  e->handle_ = h;
  return e;
}

GemmEngine::~GemmEngine() {
  plans_.clear();
  if (handle_)
    cublasLtDestroy(static_cast<cublasLtHandle_t>(handle_));
}

int GemmEngine::widenedPlans() const {
  int n = 0;
  for (const auto &p : plans_)
    n += p->widened ? 1 : 0;
  return n;
}

int GemmEngine::batchedPlans() const {
  int n = 0;
  for (const auto &p : plans_)
    n += p->batch > 1 ? 1 : 0;
  return n;
}

int GemmEngine::helperEpiloguePlans() const {
  int n = 0;
  for (const auto &p : plans_)
    n += p->helperEpilogue ? 1 : 0;
  return n;
}

namespace {

/// Builds descriptors for (A, B, C) dtypes and asks for an algorithm.
/// Returns false (no error) when cuBLASLt has none for this combination.
Expected<bool> buildPlan(cublasLtHandle_t handle, const GemmProblem &p,
                         DType ta, DType tb, DType tc, cublasLtEpilogue_t epi,
                         cublasLtMatmulDesc_t &desc,
                         cublasLtMatrixLayout_t &aDesc,
                         cublasLtMatrixLayout_t &bDesc,
                         cublasLtMatrixLayout_t &cDesc,
                         cublasLtMatmulAlgo_t &algo, const std::string &label,
                         const GemmBatch &batch = {}) {
  STC_LT(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F),
         label);
  // cuBLASLt's A is our B (N x K after op), its B our A (K x M after op).
  cublasOperation_t opA = p.transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opB = p.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  STC_LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                        &opA, sizeof opA),
         label);
  STC_LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                        &opB, sizeof opB),
         label);
  if (epi != CUBLASLT_EPILOGUE_DEFAULT)
    STC_LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                          &epi, sizeof epi),
           label);
  // The heuristic reads the pointers' alignment; arena buffers are 256-byte
  // aligned. The real pointers are set before each call.
  const void *aligned = reinterpret_cast<const void *>(uintptr_t(1) << 20);
  if (usesBiasPointer(epi))
    STC_LT(cublasLtMatmulDescSetAttribute(
               desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &aligned,
               sizeof aligned),
           label);
  if (usesAuxPointer(epi)) {
    // The aux matrix is [M, N] row-major like C: column-major N x M, ld N.
    const int64_t ld = p.N;
    STC_LT(cublasLtMatmulDescSetAttribute(
               desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aligned,
               sizeof aligned),
           label);
    STC_LT(cublasLtMatmulDescSetAttribute(
               desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld, sizeof ld),
           label);
  }
  // Column-major views of the row-major buffers (see Gemm.h).
  const uint64_t M = p.M, N = p.N, K = p.K;
  if (!p.transB)
    STC_LT(cublasLtMatrixLayoutCreate(&aDesc, cudaType(tb), N, K, N), label);
  else
    STC_LT(cublasLtMatrixLayoutCreate(&aDesc, cudaType(tb), K, N, K), label);
  if (!p.transA)
    STC_LT(cublasLtMatrixLayoutCreate(&bDesc, cudaType(ta), K, M, K), label);
  else
    STC_LT(cublasLtMatrixLayoutCreate(&bDesc, cudaType(ta), M, K, M), label);
  STC_LT(cublasLtMatrixLayoutCreate(&cDesc, cudaType(tc), N, M, N), label);
  if (batch.count > 1) {
    // cuBLASLt's A is our B, its B our A (shared: stride 0).
    const int32_t count = batch.count;
    const int64_t strides[3] = {batch.strideB, 0, batch.strideC};
    cublasLtMatrixLayout_t layouts[3] = {aDesc, bDesc, cDesc};
    for (int k = 0; k < 3; ++k) {
      STC_LT(cublasLtMatrixLayoutSetAttribute(
                 layouts[k], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                 sizeof count),
             label);
      STC_LT(cublasLtMatrixLayoutSetAttribute(
                 layouts[k], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                 &strides[k], sizeof strides[k]),
             label);
    }
    if (usesBiasPointer(epi))
      STC_LT(cublasLtMatmulDescSetAttribute(
                 desc, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE,
                 &batch.strideBias, sizeof batch.strideBias),
             label);
  }

  cublasLtMatmulPreference_t pref = nullptr;
  STC_LT(cublasLtMatmulPreferenceCreate(&pref), label);
  uint64_t ws = GemmEngine::kWorkspaceBytes;
  cublasStatus_t s = cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
  if (s != CUBLAS_STATUS_SUCCESS) {
    cublasLtMatmulPreferenceDestroy(pref);
    return checkLt(s, "cublasLtMatmulPreferenceSetAttribute", label);
  }
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  s = cublasLtMatmulAlgoGetHeuristic(handle, desc, aDesc, bDesc, cDesc, cDesc,
                                     pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (s == CUBLAS_STATUS_NOT_SUPPORTED || found < 1)
    return false;
  STC_RETURN_IF_ERROR(checkLt(s, "cublasLtMatmulAlgoGetHeuristic", label));
  algo = result.algo;
  return true;
}

} // namespace

Expected<int> GemmEngine::plan(const GemmProblem &p, const std::string &label) {
  auto pl = std::make_unique<Plan>();
  pl->p = p;
  const std::string where = label + ", " + problemText(p);
  cublasLtHandle_t h = static_cast<cublasLtHandle_t>(handle_);

  // Direct: one dtype for A and B, C f32 or all bf16, bias of C's dtype;
  // the other epilogues in cuBLASLt's where their buffers have C's dtype
  // and it has an algorithm, else in helper kernels after it.
  const bool extra = p.gelu || p.dgelu || p.biasGrad;
  const cublasLtEpilogue_t plain =
      p.hasBias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  const bool fusable = fusedEpilogues_ && (!p.geluPre || p.pre == p.c) &&
                       (!p.dgelu || p.geluX == p.c) &&
                       (!p.biasGrad || p.db == p.c);
  if (directDtypes(p)) {
    std::vector<cublasLtEpilogue_t> tries;
    if (extra && fusable)
      tries.push_back(fullEpilogue(p));
    tries.push_back(plain);
    for (cublasLtEpilogue_t epi : tries) {
      auto ok = buildPlan(h, p, p.a, p.b, p.c, epi, pl->desc, pl->aDesc,
                          pl->bDesc, pl->cDesc, pl->algo, where);
      if (!ok)
        return ok.status();
      if (*ok) {
        pl->epilogue = epi;
        pl->helperEpilogue = extra && epi == plain;
        plans_.push_back(std::move(pl));
        return static_cast<int>(plans_.size()) - 1;
      }
      pl->destroy();
    }
  }

  // Widened: everything in f32, bias and rounding in the finish kernel.
  pl->widened = true;
  size_t off = 0;
  if (isHalf(p.a)) {
    pl->offA = off;
    off += alignUp(static_cast<size_t>(p.M * p.K) * 4);
  }
  if (isHalf(p.b)) {
    pl->offB = off;
    off += alignUp(static_cast<size_t>(p.K * p.N) * 4);
  }
  if (isHalf(p.c)) {
    pl->offC = off;
    off += alignUp(static_cast<size_t>(p.M * p.N) * 4);
  }
  scratchBytes_ = std::max(scratchBytes_, off);
  pl->helperEpilogue = extra;
  auto ok = buildPlan(h, p, DType::F32, DType::F32, DType::F32,
                      CUBLASLT_EPILOGUE_DEFAULT, pl->desc, pl->aDesc,
                      pl->bDesc, pl->cDesc, pl->algo, where);
  if (!ok)
    return ok.status();
  if (!*ok)
    return Status::error("cublasLtMatmulAlgoGetHeuristic(" + where +
                         "): cuBLASLt offers no algorithm for this f32 GEMM");
  plans_.push_back(std::move(pl));
  return static_cast<int>(plans_.size()) - 1;
}

Expected<int> GemmEngine::planBatched(const GemmProblem &p,
                                      const GemmBatch &batch,
                                      const std::string &label) {
  // Only what one cuBLASLt call does: the direct path's dtypes and its
  // epilogues (a bias, or a bias gradient).
  if (!batched_ || !directDtypes(p) || p.gelu || p.dgelu ||
      (p.biasGrad && (!fusedEpilogues_ || p.db != p.c)))
    return -1;
  auto pl = std::make_unique<Plan>();
  pl->p = p;
  const std::string where = label + ", " + problemText(p) + ", batch of " +
                            std::to_string(batch.count);
  const cublasLtEpilogue_t epi = fullEpilogue(p);
  auto ok = buildPlan(static_cast<cublasLtHandle_t>(handle_), p, p.a, p.b,
                      p.c, epi, pl->desc, pl->aDesc, pl->bDesc, pl->cDesc,
                      pl->algo, where, batch);
  // A batch layout cuBLASLt refuses (A's stride 0, say) is no error: the
  // members run one by one.
  if (!ok || !*ok)
    return -1;
  pl->epilogue = epi;
  pl->batch = batch.count;
  plans_.push_back(std::move(pl));
  return static_cast<int>(plans_.size()) - 1;
}

void GemmEngine::bind(CUdeviceptr workspace, CUdeviceptr scratch,
                      const GemmHelpers &helpers, CUstream stream) {
  workspace_ = workspace;
  stream_ = stream;
  scratch_ = scratch;
  helpers_ = helpers;
}

Status GemmEngine::launchWiden(CUdeviceptr in, DType dtype, CUdeviceptr out,
                               int64_t n, const std::string &label) {
  long long count = n;
  int dt = dtypeCode(dtype);
  void *params[] = {&in, &dt, &out, &count};
  return launchHelper(helpers_.widen, kWidenEntry, n, params, label);
}

Status GemmEngine::launchHelper(CUfunction fn, const char *entry, int64_t n,
                                void **params, const std::string &label) {
  return drv_.check(drv_.cuLaunchKernel(fn, helperBlocks(n), 1, 1,
                                        kHelperThreads, 1, 1, 0, stream_,
                                        params, nullptr),
                    "cuLaunchKernel", std::string(entry) + ", " + label);
}

Status GemmEngine::runHelperEpilogues(const Plan &pl, const GemmPtrs &ptrs,
                                      const std::string &label) {
  const GemmProblem &p = pl.p;
  CUdeviceptr c = ptrs.C;
  int cDt = dtypeCode(p.c);
  long long count = p.M * p.N;
  if (p.gelu) {
    CUdeviceptr pre = p.geluPre ? ptrs.pre : 0;
    int preDt = dtypeCode(p.pre);
    void *params[] = {&c, &cDt, &pre, &preDt, &count};
    STC_RETURN_IF_ERROR(
        launchHelper(helpers_.gelu, kGeluEntry, count, params, label));
  }
  if (p.dgelu) {
    CUdeviceptr x = ptrs.geluX;
    int xDt = dtypeCode(p.geluX);
    void *params[] = {&c, &cDt, &x, &xDt, &count};
    STC_RETURN_IF_ERROR(
        launchHelper(helpers_.dgelu, kDgeluEntry, count, params, label));
  }
  if (p.biasGrad) {
    CUdeviceptr b = ptrs.B, db = ptrs.db;
    int bDt = dtypeCode(p.b), dbDt = dtypeCode(p.db);
    long long K = p.K, N = p.N;
    void *params[] = {&b, &bDt, &db, &dbDt, &K, &N};
    STC_RETURN_IF_ERROR(
        launchHelper(helpers_.colsum, kColsumEntry, N, params, label));
  }
  return Status::ok();
}

Status GemmEngine::run(int index, const GemmPtrs &ptrs,
                       const std::string &label) {
  Plan &pl = *plans_[static_cast<size_t>(index)];
  const CUdeviceptr A = ptrs.A, B = ptrs.B, C = ptrs.C, bias = ptrs.bias;
  const GemmProblem &p = pl.p;
  cublasLtHandle_t h = static_cast<cublasLtHandle_t>(handle_);
  const float alpha = static_cast<float>(p.alpha);
  const float beta = static_cast<float>(p.beta);
  void *ws = reinterpret_cast<void *>(workspace_);

  if (!pl.widened) {
    if (usesBiasPointer(pl.epilogue)) {
      const void *bp = reinterpret_cast<const void *>(
          pl.epilogue == CUBLASLT_EPILOGUE_BGRADA ? ptrs.db : bias);
      STC_LT(cublasLtMatmulDescSetAttribute(
                 pl.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof bp),
             label);
    }
    if (usesAuxPointer(pl.epilogue)) {
      const void *ap = reinterpret_cast<const void *>(
          pl.epilogue == CUBLASLT_EPILOGUE_DGELU ? ptrs.geluX : ptrs.pre);
      STC_LT(cublasLtMatmulDescSetAttribute(
                 pl.desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &ap,
                 sizeof ap),
             label);
    }
    void *c = reinterpret_cast<void *>(C);
    STC_LT(cublasLtMatmul(h, pl.desc, &alpha, reinterpret_cast<void *>(B),
                          pl.aDesc, reinterpret_cast<void *>(A), pl.bDesc,
                          &beta, c, pl.cDesc, c, pl.cDesc, &pl.algo, ws,
                          kWorkspaceBytes, static_cast<cudaStream_t>(stream_)),
           label);
    return pl.helperEpilogue ? runHelperEpilogues(pl, ptrs, label)
                             : Status::ok();
  }

  CUdeviceptr a32 = A, b32 = B, c32 = C;
  if (isHalf(p.a)) {
    a32 = scratch_ + pl.offA;
    STC_RETURN_IF_ERROR(launchWiden(A, p.a, a32, p.M * p.K, label));
  }
  if (isHalf(p.b)) {
    b32 = scratch_ + pl.offB;
    STC_RETURN_IF_ERROR(launchWiden(B, p.b, b32, p.K * p.N, label));
  }
  if (isHalf(p.c)) {
    c32 = scratch_ + pl.offC;
    if (beta != 0.f)
      STC_RETURN_IF_ERROR(launchWiden(C, p.c, c32, p.M * p.N, label));
  }
  void *c = reinterpret_cast<void *>(c32);
  STC_LT(cublasLtMatmul(h, pl.desc, &alpha, reinterpret_cast<void *>(b32),
                        pl.aDesc, reinterpret_cast<void *>(a32), pl.bDesc,
                        &beta, c, pl.cDesc, c, pl.cDesc, &pl.algo, ws,
                        kWorkspaceBytes, static_cast<cudaStream_t>(stream_)),
         label);
  if (isHalf(p.c) || p.hasBias) {
    CUdeviceptr d = c32, out = C, bp = p.hasBias ? bias : 0;
    int cDt = dtypeCode(p.c);
    int biasDt = p.hasBias ? dtypeCode(p.bias) : -1;
    long long M = p.M, N = p.N;
    void *params[] = {&d, &out, &cDt, &bp, &biasDt, &M, &N};
    STC_RETURN_IF_ERROR(launchHelper(helpers_.finish, kFinishEntry,
                                     p.M * p.N, params, label));
  }
  return pl.helperEpilogue ? runHelperEpilogues(pl, ptrs, label)
                           : Status::ok();
}

} // namespace stc::rt::cuda
