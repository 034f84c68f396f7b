// dropout.cuh - dropout forward and backward without a stored mask.
//
// The keep decision for element i is a pure function of (seed, salt, i):
// seed = scalars[2] (new every step), salt = the op's attribute. The hash is
// abi/DropoutHash.h, which the emitter inlines before this file, so the
// CPU reference executor and these kernels decide identically. keep =
// hash >= Cfg::threshold (floor(rate * 2^32), computed on the host by
// dropoutThreshold); the scale 1 / (1 - rate) is rounded to float once on the
// host, exactly as the CPU executor does, so f32 results match bit for bit.

#ifndef STC_DEVICE_DROPOUT_CUH
#define STC_DEVICE_DROPOUT_CUH

namespace stc {

// x (count) -> y (count) = keep ? x * scale : 0. Also dropout_bwd with
// (dy, dx): y = mask * x * scale is linear in x. y may alias x.
template <class Cfg, typename TX, typename TY>
__device__ __forceinline__ void dropout_kernel(const TX *x, TY *y,
                                               const void *scalars) {
  const unsigned base = stc::abi::dropoutBase(scalar_seed(scalars), Cfg::salt);
  for (long long i = global_thread(); i < Cfg::count; i += global_stride()) {
    const bool keep = stc::abi::dropoutKeep(
        base, static_cast<unsigned long long>(i), Cfg::threshold);
    store(y, i, keep ? load(x, i) * Cfg::scale : 0.f);
  }
}

// x (count), residual (count) -> y = residual + dropout(x): the residual
// stream's add, folded in by stc-fuse-accumulate.
template <class Cfg, typename TX, typename TY, typename TR>
__device__ __forceinline__ void dropout_residual_kernel(const TX *x, TY *y,
                                                        const TR *residual,
                                                        const void *scalars) {
  const unsigned base = stc::abi::dropoutBase(scalar_seed(scalars), Cfg::salt);
  for (long long i = global_thread(); i < Cfg::count; i += global_stride()) {
    const bool keep = stc::abi::dropoutKeep(
        base, static_cast<unsigned long long>(i), Cfg::threshold);
    store(y, i, load(residual, i) + (keep ? load(x, i) * Cfg::scale : 0.f));
  }
}

} // namespace stc

#endif // STC_DEVICE_DROPOUT_CUH
