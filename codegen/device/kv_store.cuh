// kv_store.cuh - append one position's keys or values to a decode cache.
//
// cache[pos, :] = src[0, :], pos = scalars[3]. A position outside [0, T)
// (the CPU executor reports it as an error; the executor should check it on
// the host) writes nothing.

#ifndef STC_DEVICE_KV_STORE_CUH
#define STC_DEVICE_KV_STORE_CUH

namespace stc {

// src (D) -> cache (T,D) row pos
template <class Cfg, typename TS, typename TC>
__device__ __forceinline__ void kv_store_kernel(const TS *__restrict__ src,
                                                TC *__restrict__ cache,
                                                const void *scalars) {
  const int pos = scalar_pos(scalars);
  if (pos < 0 || pos >= Cfg::T)
    return;
  for (long long d = global_thread(); d < Cfg::D; d += global_stride())
    store(cache, static_cast<long long>(pos) * Cfg::D + d, load(src, d));
}

} // namespace stc

#endif // STC_DEVICE_KV_STORE_CUH
