// adamw.cuh - the AdamW update with global-norm gradient clipping, over a
// group of parameter tensors in one launch.
//
// g = grad * min(1, clip / sqrt(gnorm_sq)) (clip 0 or gnorm_sq 0: no clip);
// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// param -= lr (wd param + (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)),
// lr = scalars[0], t = scalars[1], wd = Cfg::weight_decay for tensors
// marked decay, 0 for the others. With a master copy (f32 master weights of
// a bf16 parameter), param in that formula is the master's value: the
// master gets the result, param the result rounded. The bias corrections are computed in
// double once per thread (like the CPU reference), the rest in fp32.
//
// The generated entry maps each CTA to one tile of Cfg::tile elements of one
// tensor (tile_tensor, common.cuh) and calls adamw_tile with
// that tensor's buffers.
//
// The CPU executor reports a non-finite gnorm_sq or a step < 1 as an error;
// a kernel cannot, so it leaves param, m and v untouched instead (the
// executor checks gnorm_sq on the host).

#ifndef STC_DEVICE_ADAMW_CUH
#define STC_DEVICE_ADAMW_CUH

namespace stc {

// Elements [begin, begin + Cfg::tile) of one tensor of `count` elements:
// param, grad, m f32, v f32 (and master f32, unless null) updated in place.
template <class Cfg, typename TP, typename TG>
__device__ __forceinline__ void
adamw_tile(TP *__restrict__ param, const TG *__restrict__ grad,
           float *__restrict__ m, float *__restrict__ v,
           float *__restrict__ master, long long count, bool decay,
           long long begin, const float *__restrict__ gnorm_sq,
           const void *scalars) {
  const int step = scalar_step(scalars);
  const float gn = gnorm_sq[0];
  if (step < 1 || !isfinite(gn))
    return;
  float clip_scale = 1.f;
  if (Cfg::clip > 0.0 && gn > 0.f) {
    const float norm = sqrtf(gn);
    if (norm > static_cast<float>(Cfg::clip))
      clip_scale = static_cast<float>(Cfg::clip) / norm;
  }
  const float lr = scalar_lr(scalars);
  const float inv_bc1 = static_cast<float>(
      1.0 / (1.0 - pow(Cfg::beta1, static_cast<double>(step))));
  const float inv_bc2 = static_cast<float>(
      1.0 / (1.0 - pow(Cfg::beta2, static_cast<double>(step))));
  constexpr float b1 = static_cast<float>(Cfg::beta1),
                  b2 = static_cast<float>(Cfg::beta2);
  constexpr float eps = static_cast<float>(Cfg::eps);
  const float wd = decay ? static_cast<float>(Cfg::weight_decay) : 0.f;
  const long long end =
      begin + Cfg::tile < count ? begin + Cfg::tile : count;
#pragma unroll 4
  for (long long i = begin + threadIdx.x; i < end; i += Cfg::threads) {
    const float g = load(grad, i) * clip_scale;
    const float mi = b1 * m[i] + (1.f - b1) * g;
    const float vi = b2 * v[i] + (1.f - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float p = master ? master[i] : load(param, i);
    const float update = (mi * inv_bc1) / (sqrtf(vi * inv_bc2) + eps);
    const float next = p - lr * (wd * p + update);
    if (master)
      master[i] = next;
    store(param, i, next);
  }
}

} // namespace stc

#endif // STC_DEVICE_ADAMW_CUH
