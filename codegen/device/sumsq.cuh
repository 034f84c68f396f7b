// sumsq.cuh - out[0] (+)= sum of x_i^2 over a group of tensors (the global
// gradient norm), in one launch.
//
// The generated entry maps each CTA to one tile of Cfg::tile elements of one
// tensor (tile_tensor, common.cuh) and calls sumsq_tile, then sumsq_finish.
// Deterministic, and no zeroed output needed: each CTA reduces its tile to
// one float (fixed order), writes it to a module-global scratch slot, and
// the last CTA to finish (an atomic ticket; the standard threadfence-
// reduction pattern) sums the slots in index order in double and writes
// out[0], then resets the ticket for the next launch. The scratch and the
// ticket live in this kernel's own module, so the kernel must not run
// concurrently with itself (the executor launches ops in order on one
// stream).

#ifndef STC_DEVICE_SUMSQ_CUH
#define STC_DEVICE_SUMSQ_CUH

namespace stc {

// This thread's share of the squares of x[begin, begin + Cfg::tile).
template <class Cfg, typename TX>
__device__ __forceinline__ float sumsq_tile(const TX *__restrict__ x,
                                            long long count, long long begin) {
  const long long end =
      begin + Cfg::tile < count ? begin + Cfg::tile : count;
  float s = 0.f;
#pragma unroll 4
  for (long long i = begin + threadIdx.x; i < end; i += Cfg::threads) {
    const float v = load(x, i);
    s += v * v;
  }
  return s;
}

// Combines every thread's share: out (1) f32 (+)=. partials has gridDim.x
// slots.
template <class Cfg>
__device__ __forceinline__ void sumsq_finish(float s, float *out,
                                             float *partials,
                                             unsigned *ticket) {
  constexpr int NT = Cfg::threads;
  __shared__ float red[NT / 32];
  __shared__ bool last;
  __shared__ double dred[NT / 32];
  s = block_sum<NT>(s, red);
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = s;
    __threadfence(); // publish the partial before taking a ticket
    last = atomicAdd(ticket, 1u) == gridDim.x - 1;
  }
  __syncthreads();
  if (!last)
    return;
  __threadfence();
  // Fixed assignment of partials to threads and a fixed combination order.
  double t = 0.0;
  for (unsigned b = threadIdx.x; b < gridDim.x; b += NT)
    t += static_cast<double>(__ldcg(partials + b)); // L2: skip a stale L1
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    t += __shfl_xor_sync(kFullMask, t, o);
  if ((threadIdx.x & 31) == 0)
    dred[threadIdx.x >> 5] = t;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0.0;
    for (int w = 0; w < NT / 32; ++w)
      total += dred[w];
    out[0] = Cfg::accumulate ? static_cast<float>(out[0] + total)
                             : static_cast<float>(total);
    *ticket = 0u; // ready for the next launch
  }
}

} // namespace stc

#endif // STC_DEVICE_SUMSQ_CUH
