// kv_store.cuh - append one position's keys or values to decode caches.
//
// cache[b, pos, :] = src[b, :] for each of the B sequences, pos = scalars[3].
// A position outside [0, T)
// (the CPU executor reports it as an error; the executor should check it on
// the host) writes nothing.

#ifndef STC_DEVICE_KV_STORE_CUH
#define STC_DEVICE_KV_STORE_CUH

namespace stc {

// src (B,D) -> cache (B,T,D) row pos of each sequence
template <class Cfg, typename TS, typename TC>
__device__ __forceinline__ void kv_store_kernel(const TS *__restrict__ src,
                                                TC *__restrict__ cache,
                                                const void *scalars) {
  const int pos = scalar_pos(scalars);
  if (pos < 0 || pos >= Cfg::T)
    return;
  for (long long i = global_thread(); i < Cfg::B * Cfg::D;
       i += global_stride()) {
    const long long b = i / Cfg::D, d = i % Cfg::D;
    store(cache, (b * Cfg::T + pos) * Cfg::D + d, load(src, i));
  }
}

} // namespace stc

#endif // STC_DEVICE_KV_STORE_CUH
