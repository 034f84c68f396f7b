// bias_grad.cuh - column sums of a gradient: db[n] = sum_m dy[m,n].
//
// Each CTA owns Cfg::cols columns; Cfg::row_groups threads per column stride
// over the rows (a warp reads cols consecutive values of several rows, whole
// 32-byte sectors) and the partial sums are combined in shared memory in a
// fixed order. Deterministic, and no atomics: one CTA owns each column.

#ifndef STC_DEVICE_BIAS_GRAD_CUH
#define STC_DEVICE_BIAS_GRAD_CUH

namespace stc {

// dy (M,N) -> db (N)
template <class Cfg, typename TDY, typename TDB>
__device__ __forceinline__ void bias_grad_kernel(const TDY *__restrict__ dy,
                                                 TDB *__restrict__ db) {
  constexpr int COLS = Cfg::cols, GROUPS = Cfg::row_groups;
  __shared__ float red[GROUPS][COLS];
  const int col = threadIdx.x % COLS, group = threadIdx.x / COLS;
  const long long n = static_cast<long long>(blockIdx.x) * COLS + col;
  float s = 0.f;
  if (n < Cfg::N) {
#pragma unroll 4
    for (long long m = group; m < Cfg::M; m += GROUPS)
      s += load(dy, m * Cfg::N + n);
  }
  red[group][col] = s;
  __syncthreads();
  if (group == 0 && n < Cfg::N) {
    float t = 0.f;
    for (int g = 0; g < GROUPS; ++g)
      t += red[g][col];
    store(db, n, t);
  }
}

} // namespace stc

#endif // STC_DEVICE_BIAS_GRAD_CUH
