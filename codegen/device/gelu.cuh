// gelu.cuh - tanh-approximated GELU, forward and backward.
//
// y = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3). Elementwise
// with grid-stride loops; y may alias x and dx may alias dy (each element is
// read before the same thread writes it).

#ifndef STC_DEVICE_GELU_CUH
#define STC_DEVICE_GELU_CUH

namespace stc {

constexpr float kGeluC = 0.7978845608028654f; // sqrt(2 / pi)
constexpr float kGeluA = 0.044715f;

// x (count) -> y (count)
template <class Cfg, typename TX, typename TY>
__device__ __forceinline__ void gelu_fwd_kernel(const TX *x, TY *y) {
  for (long long i = global_thread(); i < Cfg::count; i += global_stride()) {
    const float xi = load(x, i);
    const float u = kGeluC * (xi + kGeluA * xi * xi * xi);
    store(y, i, 0.5f * xi * (1.f + tanhf(u)));
  }
}

// x (count), dy (count) -> dx (count) (+)= dy * gelu'(x)
// gelu'(x) = 0.5 (1 + th) + 0.5 x (1 - th^2) sqrt(2/pi) (1 + 3 a x^2).
template <class Cfg, typename TX, typename TDY, typename TDX>
__device__ __forceinline__ void gelu_bwd_kernel(const TX *x, const TDY *dy,
                                                TDX *dx) {
  for (long long i = global_thread(); i < Cfg::count; i += global_stride()) {
    const float xi = load(x, i);
    const float u = kGeluC * (xi + kGeluA * xi * xi * xi);
    const float th = tanhf(u);
    const float du = kGeluC * (1.f + 3.f * kGeluA * xi * xi);
    const float d = 0.5f * (1.f + th) + 0.5f * xi * (1.f - th * th) * du;
    const float g = load(dy, i) * d;
    store(dx, i, Cfg::accumulate ? load(dx, i) + g : g);
  }
}

} // namespace stc

#endif // STC_DEVICE_GELU_CUH
