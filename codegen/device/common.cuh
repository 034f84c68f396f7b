// common.cuh - what every stc kernel shares.
//
// The emitter inlines this file first into every generated NVRTC source, after
// `#define STC_HAS_BF16 1` + `#include <cuda_bf16.h>` when some argument is
// bf16 (STC_HAS_F16 and <cuda_fp16.h> for f16). Storage dtypes are f32
// (float), bf16 (__nv_bfloat16), f16 (__half) and i32 (int); all arithmetic
// is fp32: load() widens, store() rounds to nearest even (the same rounding
// the host's floatToHalf uses, so CPU and GPU agree on ties).
//
// Kernel bodies in the other device files are __device__ templates over a
// `Cfg` struct of compile-time constants (shapes, launch shape) that the
// emitter generates, and over the element types of their pointer arguments;
// the generated extern "C" __global__ entry calls exactly one of them.

#ifndef STC_DEVICE_COMMON_CUH
#define STC_DEVICE_COMMON_CUH

namespace stc {

constexpr unsigned kFullMask = 0xffffffffu;

// Conditional<C, A, B>::type: A if C, else B (NVRTC has no <type_traits>).
template <bool C, class A, class B> struct Conditional { using type = A; };
template <class A, class B> struct Conditional<false, A, B> { using type = B; };

// ---- loads and stores in fp32
// ------------------------------------------------

__device__ __forceinline__ float load(const float *p, long long i) {
  return p[i];
}
__device__ __forceinline__ void store(float *p, long long i, float v) {
  p[i] = v;
}

// store_get: store, and return the value as stored (what a load reads).
__device__ __forceinline__ float store_get(float *p, long long i, float v) {
  p[i] = v;
  return v;
}

// Pairs of 16-bit floats (one 32-bit register): Pair<H>::type, widened by
// widen2 and rounded to nearest even by narrow2.
template <typename H> struct Pair;

#ifdef STC_HAS_BF16
template <> struct Pair<__nv_bfloat16> {
  typedef __nv_bfloat162 type;
};
__device__ __forceinline__ float2 widen2(__nv_bfloat162 v) {
  return __bfloat1622float2(v);
}
__device__ __forceinline__ void narrow2(float lo, float hi,
                                        __nv_bfloat162 *out) {
  *out = __floats2bfloat162_rn(lo, hi);
}
__device__ __forceinline__ float load(const __nv_bfloat16 *p, long long i) {
  return __bfloat162float(p[i]);
}
__device__ __forceinline__ void store(__nv_bfloat16 *p, long long i, float v) {
  p[i] = __float2bfloat16_rn(v);
}
__device__ __forceinline__ float store_get(__nv_bfloat16 *p, long long i,
                                           float v) {
  const __nv_bfloat16 b = __float2bfloat16_rn(v);
  p[i] = b;
  return __bfloat162float(b);
}
#endif

#ifdef STC_HAS_F16
template <> struct Pair<__half> {
  typedef __half2 type;
};
__device__ __forceinline__ float2 widen2(__half2 v) { return __half22float2(v); }
__device__ __forceinline__ void narrow2(float lo, float hi, __half2 *out) {
  *out = __floats2half2_rn(lo, hi);
}
__device__ __forceinline__ float load(const __half *p, long long i) {
  return __half2float(p[i]);
}
__device__ __forceinline__ void store(__half *p, long long i, float v) {
  p[i] = __float2half_rn(v);
}
__device__ __forceinline__ float store_get(__half *p, long long i, float v) {
  const __half h = __float2half_rn(v);
  p[i] = h;
  return __half2float(h);
}
#endif

// ---- special values
// ------------------------------------------------------------

__device__ __forceinline__ float neg_inf() {
  return __int_as_float(0xff800000);
}
__device__ __forceinline__ float quiet_nan() {
  return __int_as_float(0x7fc00000);
}

// ---- the scalars block (docs/artifact-format.md, "Buffers")
// ------------------------ 16 slots of 4 bytes the runtime rewrites before
// every step.

__device__ __forceinline__ float scalar_lr(const void *s) {
  return static_cast<const float *>(s)[0];
}
__device__ __forceinline__ int scalar_step(const void *s) {
  return static_cast<const int *>(s)[1];
}
__device__ __forceinline__ unsigned scalar_seed(const void *s) {
  return static_cast<const unsigned *>(s)[2];
}
__device__ __forceinline__ int scalar_pos(const void *s) {
  return static_cast<const int *>(s)[3];
}

// ---- reductions
// ---------------------------------------------------------------------
// Butterfly (xor) shuffles: every lane ends with the same value, and the
// combination order is fixed, so results are deterministic run to run.

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}

// Sum over a block of NT threads (NT a multiple of 32); `red` holds NT/32
// floats of shared memory. Every thread returns the same value: each sums the
// per-warp partials in the same order. Safe to call repeatedly with one `red`.
template <int NT>
__device__ __forceinline__ float block_sum(float v, float *red) {
  v = warp_sum(v);
  __syncthreads(); // a previous call may still be reading red
  if ((threadIdx.x & 31) == 0)
    red[threadIdx.x >> 5] = v;
  __syncthreads();
  float r = 0.f;
#pragma unroll
  for (int w = 0; w < NT / 32; ++w)
    r += red[w];
  return r;
}

template <int NT>
__device__ __forceinline__ float block_max(float v, float *red) {
  v = warp_max(v);
  __syncthreads();
  if ((threadIdx.x & 31) == 0)
    red[threadIdx.x >> 5] = v;
  __syncthreads();
  float r = red[0];
#pragma unroll
  for (int w = 1; w < NT / 32; ++w)
    r = fmaxf(r, red[w]);
  return r;
}

// ---- grid-stride loops
// ----------------------------------------------------------------

__device__ __forceinline__ long long global_thread() {
  return static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ long long global_stride() {
  return static_cast<long long>(gridDim.x) * blockDim.x;
}

// Multi-tensor ops (adamw, sumsq): the tensor of CTA `tile`, given the
// first tile of each of N tensors (first[N] = the grid): the last t with
// first[t] <= tile.
template <int N>
__device__ __forceinline__ int tile_tensor(const long long *first,
                                           long long tile) {
  int lo = 0, hi = N; // first[lo] <= tile < first[hi]
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (tile >= first[mid])
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

} // namespace stc

#endif // STC_DEVICE_COMMON_CUH
