//===- DropoutHash.h - The dropout keep decision, host and device -*- C++ -*-=//
//
// dropout_fwd and dropout_bwd must make the same keep decision for element i,
// on the CPU and on the GPU, without storing a mask. The decision is a pure
// function of (seed, salt, i): seed is scalars[2] (changes every step), salt
// an op attribute (different for every dropout site), i the element index.
// Specified in docs/artifact-format.md ("Dropout"); CUDA kernels include this
// header, so keep it free of anything but integer arithmetic.
//
//===----------------------------------------------------------------------===//

#ifndef STC_ABI_DROPOUTHASH_H
#define STC_ABI_DROPOUTHASH_H

#ifdef __CUDACC__
#define STC_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define STC_HOST_DEVICE inline
#endif

namespace stc::abi {

// Plain integer types: NVRTC has no <cstdint>.
using dropout_u32 = unsigned int;
using dropout_u64 = unsigned long long;
static_assert(sizeof(dropout_u32) == 4 && sizeof(dropout_u64) == 8,
              "dropout hash needs 32- and 64-bit unsigned integers");

/// The murmur3 32-bit finalizer: a bijective avalanche mix.
STC_HOST_DEVICE dropout_u32 dropoutMix32(dropout_u32 h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

/// Per-op part of the hash; a kernel computes it once.
STC_HOST_DEVICE dropout_u32 dropoutBase(dropout_u32 seed, dropout_u32 salt) {
  return dropoutMix32(dropoutMix32(seed ^ 0x9e3779b9u) ^ salt);
}

/// Per-element part: index split into its low and high 32 bits.
STC_HOST_DEVICE dropout_u32 dropoutHashFromBase(dropout_u32 base,
                                                dropout_u64 index) {
  dropout_u32 h = dropoutMix32(base ^ static_cast<dropout_u32>(index));
  return dropoutMix32(h ^ static_cast<dropout_u32>(index >> 32));
}

STC_HOST_DEVICE dropout_u32 dropoutHash(dropout_u32 seed, dropout_u32 salt,
                                        dropout_u64 index) {
  return dropoutHashFromBase(dropoutBase(seed, salt), index);
}

#ifndef __CUDACC_RTC__
/// keep = hash >= threshold, threshold = floor(rate * 2^32) computed on the
/// host in double from the manifest's rate (0 <= rate < 1); so the kept
/// fraction is 1 - rate up to 2^-32. Host only: kernels get the threshold as
/// a constant.
inline dropout_u32 dropoutThreshold(double rate) {
  double t = rate * 4294967296.0;
  if (!(t > 0.0))
    return 0u;
  if (t >= 4294967295.0)
    return 4294967295u;
  return static_cast<dropout_u32>(t);
}
#endif

STC_HOST_DEVICE bool dropoutKeep(dropout_u32 base, dropout_u64 index,
                                 dropout_u32 threshold) {
  return dropoutHashFromBase(base, index) >= threshold;
}

} // namespace stc::abi

#endif // STC_ABI_DROPOUTHASH_H
