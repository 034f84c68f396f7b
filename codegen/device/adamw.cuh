// adamw.cuh - the AdamW update with global-norm gradient clipping, over a
// group of parameter tensors in one launch.
//
// g = grad * min(1, clip / sqrt(gnorm_sq)) (clip 0 or gnorm_sq 0: no clip);
// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// param -= lr (wd param + (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)),
// lr = scalars[0], t = scalars[1] (less loss_scale[2], the skipped steps,
// with a loss scale), wd = Cfg::weight_decay for tensors
// marked decay, 0 for the others. With a master copy (f32 master weights of
// a bf16 parameter), param in that formula is the master's value: the
// master gets the result, param the result rounded. The bias corrections are computed in
// double once per thread (like the CPU reference), the rest in fp32.
//
// The generated entry maps each CTA to one tile of Cfg::tile elements of one
// tensor (tile_tensor, common.cuh) and calls adamw_tile with
// that tensor's buffers.
//
// With a loss scale (f16 models: loss_scale[0] = S), grad and gnorm_sq are
// S times and S^2 times the true values: g and the clipping norm divide by
// S. A non-finite gnorm_sq then skips the step (loss_scale_update halves S).
//
// The CPU executor reports a non-finite gnorm_sq (without a loss scale) or
// a step < 1 as an error; a kernel cannot, so it leaves param, m and v
// untouched instead (the executor checks gnorm_sq on the host).

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
           const float *__restrict__ loss_scale, const void *scalars) {
  // Adam's step counts the updates taken (loss_scale[2]: skipped steps).
  const int step =
      scalar_step(scalars) - (loss_scale ? static_cast<int>(loss_scale[2]) : 0);
  const float unscale = loss_scale ? 1.f / loss_scale[0] : 1.f;
  const float gn = gnorm_sq[0] * unscale * unscale;
  if (step < 1 || !isfinite(gn))
    return;
  float clip_scale = unscale;
  if (Cfg::clip > 0.0 && gn > 0.f) {
    const float norm = sqrtf(gn);
    if (norm > static_cast<float>(Cfg::clip))
      clip_scale = unscale * (static_cast<float>(Cfg::clip) / norm);
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

// state (4 f32, see abi/Ops.def loss_scale_update): one thread.
template <class Cfg>
__device__ __forceinline__ void
loss_scale_update_kernel(const float *__restrict__ gnorm_sq,
                         float *__restrict__ state) {
  if (blockIdx.x != 0 || threadIdx.x != 0)
    return;
  if (!isfinite(gnorm_sq[0])) {
    state[0] *= 0.5f;
    state[1] = 0.f;
    state[2] += 1.f;
    state[3] = 1.f;
    return;
  }
  const float run = state[1] + 1.f;
  if (run >= static_cast<float>(Cfg::growth_interval)) {
    state[0] *= 2.f;
    state[1] = 0.f;
  } else {
    state[1] = run;
  }
  state[3] = 0.f;
}

} // namespace stc

#endif // STC_DEVICE_ADAMW_CUH
