// attention_unfused.cuh - the attention chain as written (abi/Ops.def,
// attention_scores .. weighted_sum_bwd), for the chains stc-fuse-softmax
// leaves alone: direct loops over [B, H, T, T] scores and probabilities,
// meant for small contexts (T up to abi::kMaxUnfusedContext). Grid-stride
// loops, one output element per thread, except the softmax rows (a warp
// per row). Layouts: q, k (B,T,H,dk); v, o (B,T,H,dv); s, p (B,H,T,T).

#ifndef STC_DEVICE_ATTENTION_UNFUSED_CUH
#define STC_DEVICE_ATTENTION_UNFUSED_CUH

namespace stc {

// x_i . y_j for element e = ((b H + h) T + i) T + j of a (B,H,T,T) tensor,
// x and y (B,T,H,D).
template <long long T, long long H, long long D, typename TX, typename TY>
__device__ __forceinline__ float pair_dot(const TX *__restrict__ x,
                                          const TY *__restrict__ y,
                                          long long e) {
  const long long j = e % T, i = e / T % T, h = e / (T * T) % H,
                  b = e / (H * T * T);
  const long long xi = ((b * T + i) * H + h) * D, yj = ((b * T + j) * H + h) * D;
  float acc = 0.f;
  for (long long d = 0; d < D; ++d)
    acc += load(x, xi + d) * load(y, yj + d);
  return acc;
}

// s[b,h,i,j] = scale q_i.k_j.
template <class Cfg, typename TQ, typename TS>
__device__ __forceinline__ void attention_scores_kernel(
    const TQ *__restrict__ q, const TQ *__restrict__ k, TS *__restrict__ s) {
  const long long n = Cfg::B * Cfg::H * Cfg::T * Cfg::T;
  for (long long e = global_thread(); e < n; e += global_stride())
    store(s, e, Cfg::scale * pair_dot<Cfg::T, Cfg::H, Cfg::DK>(q, k, e));
}

// dq_i = scale sum_j ds_ij k_j; dk_j = scale sum_i ds_ij q_i (per b, h).
template <class Cfg, typename TS, typename TQ>
__device__ __forceinline__ void attention_scores_bwd_kernel(
    const TS *__restrict__ ds, const TQ *__restrict__ q,
    const TQ *__restrict__ k, TQ *__restrict__ dq, TQ *__restrict__ dk) {
  constexpr long long T = Cfg::T, H = Cfg::H, D = Cfg::DK;
  const long long n = Cfg::B * T * H * D; // elements of dq (and of dk)
  for (long long e = global_thread(); e < 2 * n; e += global_stride()) {
    const bool isK = e >= n;
    const long long x = isK ? e - n : e;
    const long long d = x % D, h = x / D % H, t = x / (D * H) % T,
                    b = x / (D * H * T);
    const TQ *other = isK ? q : k; // dq reads k, dk reads q
    float acc = 0.f;
    for (long long u = 0; u < T; ++u) {
      // dq: row t of ds; dk: column t.
      const long long sIdx = ((b * H + h) * T + (isK ? u : t)) * T + (isK ? t : u);
      acc += load(ds, sIdx) * load(other, ((b * T + u) * H + h) * D + d);
    }
    store(isK ? dk : dq, x, Cfg::scale * acc);
  }
}

// out = score_mod(scale s) (attention_common.cuh); with dout, the gradient
// ds = dout scale score_mod'(scale s) instead.
template <class Cfg, bool GRAD, typename T>
__device__ __forceinline__ void score_mod_kernel(const T *__restrict__ dout,
                                                 const T *__restrict__ s,
                                                 T *__restrict__ out) {
  constexpr long long TT = Cfg::T, H = Cfg::H;
  const long long n = Cfg::B * H * TT * TT;
  for (long long e = global_thread(); e < n; e += global_stride()) {
    const int j = static_cast<int>(e % TT), i = static_cast<int>(e / TT % TT),
              h = static_cast<int>(e / (TT * TT) % H);
    float d = 1.f;
    const float y = score_mod<Cfg>(Cfg::scale * load(s, e), i, j, h, &d);
    if constexpr (GRAD)
      store(out, e, load(dout, e) * Cfg::scale * d);
    else
      store(out, e, y);
  }
}

// p = softmax over the allowed keys of each row; a warp per (b, h, i) row.
// L is head h's layout (the pattern's predicate; k <= q added here).
template <class Cfg, class L, typename T>
__device__ __forceinline__ void masked_softmax_kernel(const T *__restrict__ s,
                                                      T *__restrict__ p) {
  constexpr long long TT = Cfg::T;
  const int lane = threadIdx.x & 31, h = blockIdx.y, b = blockIdx.z;
  const int warps = blockDim.x >> 5;
  for (int i = blockIdx.x * warps + (threadIdx.x >> 5); i < TT;
       i += gridDim.x * warps) {
    const long long row = ((static_cast<long long>(b) * Cfg::H + h) * TT + i) * TT;
    float m = neg_inf();
    for (int j = lane; j <= i; j += 32)
      if (L::allowed(i, j))
        m = fmaxf(m, load(s, row + j));
    m = warp_max(m);
    float l = 0.f;
    if (m != neg_inf())
      for (int j = lane; j <= i; j += 32)
        if (L::allowed(i, j))
          l += expf(load(s, row + j) - m);
    l = warp_sum(l);
    for (int j = lane; j < TT; j += 32) {
      const bool ok = j <= i && l > 0.f && L::allowed(i, j);
      store(p, row + j, ok ? expf(load(s, row + j) - m) / l : 0.f);
    }
  }
}

// ds = p (dp - sum_j dp_j p_j); a warp per row.
template <class Cfg, typename T>
__device__ __forceinline__ void masked_softmax_bwd_kernel(
    const T *__restrict__ dp, const T *__restrict__ p, T *__restrict__ ds) {
  constexpr long long TT = Cfg::T, ROWS = Cfg::B * Cfg::H * Cfg::T;
  const int lane = threadIdx.x & 31;
  const long long warps = global_stride() >> 5;
  for (long long r = global_thread() >> 5; r < ROWS; r += warps) {
    const long long row = r * TT;
    float dot = 0.f;
    for (long long j = lane; j < TT; j += 32)
      dot += load(dp, row + j) * load(p, row + j);
    dot = warp_sum(dot);
    for (long long j = lane; j < TT; j += 32)
      store(ds, row + j, load(p, row + j) * (load(dp, row + j) - dot));
  }
}

// o_i = sum_j p_ij v_j (per b, h).
template <class Cfg, typename TP, typename TV>
__device__ __forceinline__ void weighted_sum_kernel(const TP *__restrict__ p,
                                                    const TV *__restrict__ v,
                                                    TV *__restrict__ o) {
  constexpr long long T = Cfg::T, H = Cfg::H, D = Cfg::DV;
  const long long n = Cfg::B * T * H * D;
  for (long long e = global_thread(); e < n; e += global_stride()) {
    const long long d = e % D, h = e / D % H, i = e / (D * H) % T,
                    b = e / (D * H * T);
    const long long prow = ((b * H + h) * T + i) * T;
    float acc = 0.f;
    for (long long j = 0; j < T; ++j)
      acc += load(p, prow + j) * load(v, ((b * T + j) * H + h) * D + d);
    store(o, e, acc);
  }
}

// dp_ij = dout_i . v_j; dv_j = sum_i p_ij dout_i (per b, h).
template <class Cfg, typename TV, typename TP>
__device__ __forceinline__ void weighted_sum_bwd_kernel(
    const TV *__restrict__ dout, const TP *__restrict__ p,
    const TV *__restrict__ v, TP *__restrict__ dp, TV *__restrict__ dv) {
  constexpr long long T = Cfg::T, H = Cfg::H, D = Cfg::DV;
  const long long np = Cfg::B * H * T * T, nv = Cfg::B * T * H * D;
  for (long long e = global_thread(); e < np + nv; e += global_stride()) {
    if (e < np) {
      store(dp, e, pair_dot<T, H, D>(dout, v, e));
    } else {
      const long long x = e - np;
      const long long d = x % D, h = x / D % H, j = x / (D * H) % T,
                      b = x / (D * H * T);
      float acc = 0.f;
      for (long long i = 0; i < T; ++i)
        acc += load(p, ((b * H + h) * T + i) * T + j) *
               load(dout, ((b * T + i) * H + h) * D + d);
      store(dv, x, acc);
    }
  }
}

} // namespace stc

#endif // STC_DEVICE_ATTENTION_UNFUSED_CUH
