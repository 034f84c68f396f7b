//===- CpuLayerNorm.cpp - Layer norm forward and backward -----------------===//

#include "runtime/cpu/CpuOps.h"

#include <cmath>
#include <vector>

namespace stc::rt::cpu {

template <typename T>
void layerNormFwd(const T *x, const T *gamma, const T *beta, T *y, T *mean,
                  T *rstd, int64_t M, int64_t C, double eps) {
  for (int64_t m = 0; m < M; ++m) {
    const T *xr = x + m * C;
    double mu = 0;
    for (int64_t c = 0; c < C; ++c)
      mu += xr[c];
    mu /= static_cast<double>(C);
    // Two passes: the variance of a row far from zero stays accurate.
    double var = 0;
    for (int64_t c = 0; c < C; ++c)
      var += (xr[c] - mu) * (xr[c] - mu);
    var /= static_cast<double>(C);
    double rs = 1.0 / std::sqrt(var + eps);
    for (int64_t c = 0; c < C; ++c)
      y[m * C + c] = static_cast<T>((xr[c] - mu) * rs * gamma[c] + beta[c]);
    mean[m] = static_cast<T>(mu);
    rstd[m] = static_cast<T>(rs);
  }
}

template <typename T>
void layerNormBwd(const T *dy, const T *x, const T *mean, const T *rstd,
                  const T *gamma, T *dx, T *dgamma, T *dbeta, int64_t M,
                  int64_t C, bool accumulate) {
  // With xhat = (x - mean) rstd and g = dy * gamma:
  //   dx = rstd (g - mean(g) - xhat mean(g xhat)),
  //   dgamma = sum_m dy xhat, dbeta = sum_m dy (overwritten, summed in
  //   double).
  std::vector<double> sumG(static_cast<size_t>(C), 0.0),
      sumB(static_cast<size_t>(C), 0.0);
  for (int64_t m = 0; m < M; ++m) {
    const T *xr = x + m * C;
    const T *dyr = dy + m * C;
    double mu = mean[m], rs = rstd[m];
    double meanG = 0, meanGX = 0;
    for (int64_t c = 0; c < C; ++c) {
      double xhat = (xr[c] - mu) * rs;
      double g = static_cast<double>(dyr[c]) * gamma[c];
      meanG += g;
      meanGX += g * xhat;
      sumG[c] += dyr[c] * xhat;
      sumB[c] += dyr[c];
    }
    meanG /= static_cast<double>(C);
    meanGX /= static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c) {
      double xhat = (xr[c] - mu) * rs;
      double g = static_cast<double>(dyr[c]) * gamma[c];
      // Accumulating: rounded to T, then added in T, like a separate add.
      T d = static_cast<T>(rs * (g - meanG - xhat * meanGX));
      dx[m * C + c] = accumulate ? static_cast<T>(dx[m * C + c] + d) : d;
    }
  }
  for (int64_t c = 0; c < C; ++c) {
    dgamma[c] = static_cast<T>(sumG[c]);
    dbeta[c] = static_cast<T>(sumB[c]);
  }
}

template void layerNormFwd<float>(const float *, const float *, const float *,
                                  float *, float *, float *, int64_t, int64_t,
                                  double);
template void layerNormFwd<double>(const double *, const double *,
                                   const double *, double *, double *, double *,
                                   int64_t, int64_t, double);
template void layerNormBwd<float>(const float *, const float *, const float *,
                                  const float *, const float *, float *,
                                  float *, float *, int64_t, int64_t, bool);
template void layerNormBwd<double>(const double *, const double *,
                                   const double *, const double *,
                                   const double *, double *, double *, double *,
                                   int64_t, int64_t, bool);

} // namespace stc::rt::cpu
