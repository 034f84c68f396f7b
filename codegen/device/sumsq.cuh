// sumsq.cuh - out[0] (+)= sum x^2 (for the global gradient norm).
//
// One launch, deterministic, and no zeroed output needed: each CTA reduces a
// grid-stride slice to one float (fixed order), writes it to a module-global
// scratch slot, and the last CTA to finish (an atomic ticket; the standard
// threadfence-reduction pattern) sums the slots in index order in double and
// writes out[0], then resets the ticket for the next launch. The scratch and
// the ticket live in this kernel's own module, so the kernel must not run
// concurrently with itself (the executor launches ops in order on one stream).

#ifndef STC_DEVICE_SUMSQ_CUH
#define STC_DEVICE_SUMSQ_CUH

namespace stc {

// x (count) -> out (1) f32 (+)=. partials has gridDim.x slots.
template <class Cfg, typename TX>
__device__ __forceinline__ void sumsq_kernel(const TX *__restrict__ x,
                                             float *out, float *partials,
                                             unsigned *ticket) {
  constexpr int NT = Cfg::threads;
  __shared__ float red[NT / 32];
  __shared__ bool last;
  __shared__ double dred[NT / 32];
  float s = 0.f;
  for (long long i = global_thread(); i < Cfg::count; i += global_stride()) {
    const float v = load(x, i);
    s += v * v;
  }
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
