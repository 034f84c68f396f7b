// elementwise.cuh - zero, add, accumulate, cast.
//
// Grid-stride loops: the emitter caps the grid, so any count fits one launch.
// `out` may alias `a` or `b` (and `dst` may equal `src`): every element is
// read before it is written by the same thread, so no __restrict__ here.

#ifndef STC_DEVICE_ELEMENTWISE_CUH
#define STC_DEVICE_ELEMENTWISE_CUH

namespace stc {

// out (Cfg::bytes bytes: count elements of any dtype) -> 0.
// Works on 32-bit words; a buffer of an odd number of 16-bit elements has one
// 16-bit tail. Buffers start at 256-byte aligned arena offsets.
template <class Cfg> __device__ __forceinline__ void zero_kernel(void *out) {
  unsigned *w = static_cast<unsigned *>(out);
  constexpr long long words = Cfg::bytes / 4;
  for (long long i = global_thread(); i < words; i += global_stride())
    w[i] = 0u;
  if (Cfg::bytes % 4 != 0 && global_thread() == 0)
    static_cast<unsigned short *>(out)[Cfg::bytes / 2 - 1] = 0;
}

// a (count), b (count) -> out (count) = a + b
template <class Cfg, typename TA, typename TB, typename TO>
__device__ __forceinline__ void add_kernel(const TA *a, const TB *b, TO *out) {
  for (long long i = global_thread(); i < Cfg::count; i += global_stride())
    store(out, i, load(a, i) + load(b, i));
}

// dst (count), src (count) -> dst (count) += src
template <class Cfg, typename TD, typename TS>
__device__ __forceinline__ void accumulate_kernel(TD *dst, const TS *src) {
  for (long long i = global_thread(); i < Cfg::count; i += global_stride())
    store(dst, i, load(dst, i) + load(src, i));
}

// x (count, f32) -> y (count): y = x, rounded to y's type
template <class Cfg, typename TY>
__device__ __forceinline__ void cast_kernel(const float *__restrict__ x,
                                            TY *__restrict__ y) {
  for (long long i = global_thread(); i < Cfg::count; i += global_stride())
    store(y, i, x[i]);
}

} // namespace stc

#endif // STC_DEVICE_ELEMENTWISE_CUH
