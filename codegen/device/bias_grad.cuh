// bias_grad.cuh - column sums of a gradient: db[n] = sum_m dy[m,n].
//
// Grid (ceil(N / cols), chunks): each CTA sums Cfg::cols columns over one
// chunk of rows_per_chunk rows, row_groups threads per column striding over
// the chunk's rows (a warp reads 32 consecutive values of a row), combined
// in shared memory in a fixed order. With one chunk the CTA writes db; with
// more, it writes its column sums to a module-global scratch row and the
// last CTA of its column tile (an atomic ticket, the threadfence-reduction
// pattern of sumsq.cuh) adds the chunks' rows in chunk order, writes db and
// resets the ticket. Deterministic, db overwritten (no zeroing needed); the
// kernel must not run concurrently with itself (the executor launches ops in
// order on one stream).

#ifndef STC_DEVICE_BIAS_GRAD_CUH
#define STC_DEVICE_BIAS_GRAD_CUH

namespace stc {

// dy (M,N) -> db (N); partials: chunks x N floats, tickets: one per column
// tile (both unused with one chunk).
template <class Cfg, typename TDY, typename TDB>
__device__ __forceinline__ void
bias_grad_kernel(const TDY *__restrict__ dy, TDB *__restrict__ db,
                 float *partials, unsigned *tickets) {
  constexpr int COLS = Cfg::cols, GROUPS = Cfg::row_groups;
  __shared__ float red[GROUPS][COLS];
  __shared__ bool last;
  const int col = threadIdx.x % COLS, group = threadIdx.x / COLS;
  const long long n = static_cast<long long>(blockIdx.x) * COLS + col;
  const long long m0 = static_cast<long long>(blockIdx.y) * Cfg::rows_per_chunk;
  const long long m1 =
      m0 + Cfg::rows_per_chunk < Cfg::M ? m0 + Cfg::rows_per_chunk : Cfg::M;
  float s = 0.f;
  if (n < Cfg::N) {
#pragma unroll 4
    for (long long m = m0 + group; m < m1; m += GROUPS)
      s += load(dy, m * Cfg::N + n);
  }
  red[group][col] = s;
  __syncthreads();
  if (group == 0 && n < Cfg::N) {
    float t = 0.f;
    for (int g = 0; g < GROUPS; ++g)
      t += red[g][col];
    if (Cfg::chunks == 1) {
      store(db, n, t);
    } else {
      partials[blockIdx.y * Cfg::N + n] = t;
      __threadfence(); // publish the partial before the ticket
    }
  }
  if (Cfg::chunks == 1)
    return;
  __syncthreads();
  if (threadIdx.x == 0)
    last = atomicAdd(tickets + blockIdx.x, 1u) == Cfg::chunks - 1;
  __syncthreads();
  if (!last)
    return;
  __threadfence();
  if (group == 0 && n < Cfg::N) {
    float t = 0.f;
    for (int c = 0; c < Cfg::chunks; ++c)
      t += __ldcg(partials + c * Cfg::N + n); // L2: skip a stale L1
    store(db, n, t);
  }
  if (threadIdx.x == 0)
    tickets[blockIdx.x] = 0u; // ready for the next launch
}

} // namespace stc

#endif // STC_DEVICE_BIAS_GRAD_CUH
