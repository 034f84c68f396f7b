//===- CpuGemm.cpp - GEMM through BLAS, and the bias gradient -------------===//
//
// With STC_HAVE_CBLAS the product goes through cblas_sgemm / cblas_dgemm;
// without (a machine with no BLAS) through a plain loop with double
// accumulation. Both compute C = alpha op(A) op(B) + beta C (+ bias).
//
//===----------------------------------------------------------------------===//

#include "runtime/cpu/CpuOps.h"

#include <vector>

#if STC_HAVE_CBLAS
#include <cblas.h>
#endif

namespace stc::rt::cpu {

namespace {

#if STC_HAVE_CBLAS
void blasGemm(const float *A, const float *B, float *C, int64_t M, int64_t N,
              int64_t K, bool transA, bool transB, double alpha, double beta) {
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
              transB ? CblasTrans : CblasNoTrans, M, N, K,
              static_cast<float>(alpha), A, transA ? M : K, B, transB ? K : N,
              static_cast<float>(beta), C, N);
}
void blasGemm(const double *A, const double *B, double *C, int64_t M, int64_t N,
              int64_t K, bool transA, bool transB, double alpha, double beta) {
  cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
              transB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
              transA ? M : K, B, transB ? K : N, beta, C, N);
}
#endif

/// The definition, for machines without BLAS (and as documentation).
template <typename T>
[[maybe_unused]] void loopGemm(const T *A, const T *B, T *C, int64_t M,
                               int64_t N, int64_t K, bool transA, bool transB,
                               double alpha, double beta) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        double a = transA ? A[k * M + m] : A[m * K + k];
        double b = transB ? B[n * K + k] : B[k * N + n];
        acc += a * b;
      }
      double old = beta != 0 ? beta * C[m * N + n] : 0.0;
      C[m * N + n] = static_cast<T>(alpha * acc + old);
    }
}

} // namespace

template <typename T>
void gemm(const T *A, const T *B, T *C, const T *bias, int64_t M, int64_t N,
          int64_t K, bool transA, bool transB, double alpha, double beta) {
  if (beta != 0) {
    // The product (and bias) rounded to T first, then beta C added in T: a
    // gemm that accumulates (stc-fuse-accumulate) gives exactly what the
    // gemm and a separate add gave, whatever order BLAS sums in.
    std::vector<T> product(static_cast<size_t>(M * N));
    gemm(A, B, product.data(), bias, M, N, K, transA, transB, alpha, 0.0);
    for (int64_t i = 0; i < M * N; ++i)
      C[i] = beta == 1 ? static_cast<T>(C[i] + product[i])
                       : static_cast<T>(beta * C[i] + product[i]);
    return;
  }
  // BLAS promises to ignore C when beta is 0, but be explicit: the arena
  // may hold another buffer's bytes here, including NaN patterns.
  for (int64_t i = 0; i < M * N; ++i)
    C[i] = T(0);
#if STC_HAVE_CBLAS
  blasGemm(A, B, C, M, N, K, transA, transB, alpha, 0.0);
#else
  loopGemm(A, B, C, M, N, K, transA, transB, alpha, 0.0);
#endif
  if (bias)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n)
        C[m * N + n] += bias[n];
}

template <typename T> void biasGrad(const T *dy, T *db, int64_t M, int64_t N) {
  std::vector<double> acc(static_cast<size_t>(N), 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n)
      acc[n] += dy[m * N + n];
  for (int64_t n = 0; n < N; ++n)
    db[n] = static_cast<T>(acc[n]);
}

template void gemm<float>(const float *, const float *, float *, const float *,
                          int64_t, int64_t, int64_t, bool, bool, double,
                          double);
template void gemm<double>(const double *, const double *, double *,
                           const double *, int64_t, int64_t, int64_t, bool,
                           bool, double, double);
template void biasGrad<float>(const float *, float *, int64_t, int64_t);
template void biasGrad<double>(const double *, double *, int64_t, int64_t);

} // namespace stc::rt::cpu
