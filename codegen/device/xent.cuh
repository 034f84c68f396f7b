// xent.cuh - softmax cross-entropy in bits, with or without its gradient.
//
// One CTA per row of logits (three passes over the row: max, sum of exp,
// then the gradient), block reductions in a fixed order (deterministic).
//   lse = max + log(sum exp(x - max))
//   losses[m] = (lse - x[target]) / ln 2
//   dlogits[m,:] = (exp(x - lse) - onehot(target)) * scale / ln 2
//                  (* loss_scale[0], the dynamic loss scale, when given)
// A target outside [0, V) (the executor checks targets on the host) must not
// fault: its loss and gradient row become NaN.

#ifndef STC_DEVICE_XENT_CUH
#define STC_DEVICE_XENT_CUH

namespace stc {

constexpr float kLn2 = 0.693147180559945309417f;

// logits (M,V), targets (M) i32 -> losses (M) f32 [, dlogits (M,V)]
template <class Cfg, bool kGrad, typename TL, typename TD>
__device__ __forceinline__ void
xent_kernel(const TL *__restrict__ logits, const int *__restrict__ targets,
            float *__restrict__ losses, TD *__restrict__ dlogits,
            const float *__restrict__ loss_scale) {
  constexpr int NT = Cfg::threads;
  constexpr long long V = Cfg::V;
  __shared__ float red[NT / 32];
  const long long row = blockIdx.x;
  const TL *x = logits + row * V;
  float mx = neg_inf();
  for (long long j = threadIdx.x; j < V; j += NT)
    mx = fmaxf(mx, load(x, j));
  mx = block_max<NT>(mx, red);
  float s = 0.f;
  for (long long j = threadIdx.x; j < V; j += NT)
    s += expf(load(x, j) - mx);
  s = block_sum<NT>(s, red);
  const float lse = mx + logf(s);
  const int tgt = targets[row];
  const bool valid = tgt >= 0 && tgt < V;
  if (threadIdx.x == 0)
    losses[row] = valid ? (lse - load(x, tgt)) / kLn2 : quiet_nan();
  if (kGrad) {
    const float gs =
        loss_scale ? Cfg::grad_scale * loss_scale[0] : Cfg::grad_scale;
    TD *dx = dlogits + row * V;
    for (long long j = threadIdx.x; j < V; j += NT) {
      float p = expf(load(x, j) - lse);
      if (j == tgt)
        p -= 1.f;
      store(dx, j, valid ? p * gs : quiet_nan());
    }
  }
}

} // namespace stc

#endif // STC_DEVICE_XENT_CUH
