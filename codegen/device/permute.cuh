// permute.cuh - stride_permute: a sequence reordered by residue class.
//
// x, y: [B, T, D]. Columns [c0, c1) of position i move to position
// (i mod stride) * (T / stride) + i / stride (inverse: back); the other
// columns are copied. The same maps as pattern/Normalize.h.
// Each thread writes one output element: consecutive threads take
// consecutive columns of one row, so loads and stores stay coalesced; the
// grid-stride loop covers any size in one launch. y never aliases x.

#ifndef STC_DEVICE_PERMUTE_CUH
#define STC_DEVICE_PERMUTE_CUH

namespace stc {

template <class Cfg, typename TX, typename TY>
__device__ __forceinline__ void stride_permute_kernel(const TX *__restrict__ x,
                                                      TY *__restrict__ y) {
  constexpr long long total = Cfg::B * Cfg::T * Cfg::D;
  constexpr long long segment = Cfg::T / Cfg::stride;
  for (long long e = global_thread(); e < total; e += global_stride()) {
    const long long c = e % Cfg::D;
    const long long row = e / Cfg::D; // b * T + i
    long long from = row;
    if (c >= Cfg::c0 && c < Cfg::c1) {
      const long long i = row % Cfg::T;
      const long long base = row - i;
      const long long src =
          Cfg::inverse ? (i % Cfg::stride) * segment + i / Cfg::stride
                       : (i % segment) * Cfg::stride + i / segment;
      from = base + src;
    }
    store(y, e, load(x, from * Cfg::D + c));
  }
}

} // namespace stc

#endif // STC_DEVICE_PERMUTE_CUH
