// attention_fwd.cuh - block-sparse causal attention, forward.
//
// Grid (ceil(T / QT), H, B), QT warps per CTA, one query row per warp; the
// emitter makes QT divide every layout's block size, so a CTA's rows share one
// query block row r of the layout. The CTA walks r's listed key blocks
// (row_ptr / col_idx / classes) in chunks of KT keys staged in shared memory;
// lane j scores key j of the chunk, then the warp does the online softmax
// (running max m, running sum l, rescaling the accumulator by exp(m - m'))
// in fp32, and accumulates p_j v_j with lanes over the dv columns.
// Keys past the CTA's last query are never staged (they are above the
// diagonal for every row of the CTA), nor are chunks of partial blocks in
// which no row of the CTA has an allowed key (chunk_has_pair).
//
// Outputs: o_i = sum_j softmax_j(scale q_i.k_j) v_j, lse_i = m + log(l)
// (natural log, of the scaled scores), saved for the backward. A query with no
// allowed key gets o = 0 and lse = -inf, like the CPU reference.
//
// Shared memory (floats): Ks [KT][KSTR], Vs [KT][VSTR], Qs [QT][DK].

#ifndef STC_DEVICE_ATTENTION_FWD_CUH
#define STC_DEVICE_ATTENTION_FWD_CUH

namespace stc {

template <class Cfg>
__host__ __device__ constexpr int attention_fwd_smem_floats() {
  return Cfg::KT * (Cfg::KSTR + Cfg::VSTR) + Cfg::QT * Cfg::DK;
}

// q, k (B,T,H,DK), v (B,T,H,DV) -> o (B,T,H,DV), lse (B,H,T) f32; with
// Cfg::MERGE merged with o_prev, lse_prev (abi/Ops.def, attention_fwd
// `merge`; nullptr without).
// row_ptr (nrows+1), col_idx, classes (nblocks): layout L of this head
template <class Cfg, class L, typename TQ, typename TK, typename TV,
          typename TO, typename TP>
__device__ __forceinline__ void
attention_fwd_kernel(const TQ *__restrict__ q, const TK *__restrict__ k,
                     const TV *__restrict__ v, TO *__restrict__ o,
                     float *__restrict__ lse, const TP *__restrict__ o_prev,
                     const float *__restrict__ lse_prev,
                     const int *__restrict__ row_ptr,
                     const int *__restrict__ col_idx,
                     const int *__restrict__ classes, float *smem) {
  constexpr int T = Cfg::T, H = Cfg::H, DK = Cfg::DK, DV = Cfg::DV;
  constexpr int QT = Cfg::QT, KT = Cfg::KT, KSTR = Cfg::KSTR, VSTR = Cfg::VSTR;
  constexpr int NT = QT * 32, NV = (DV + 31) / 32;
  float *Ks = smem;
  float *Vs = Ks + KT * KSTR;
  float *Qs = Vs + KT * VSTR;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int h = blockIdx.y, b = blockIdx.z;
  const int q0 = blockIdx.x * QT;
  const int qi = q0 + warp;
  const bool active = qi < T; // warp-uniform
  const int qlast = min(q0 + QT, T) - 1;
  const float scale = Cfg::scale;

  float *qs = Qs + warp * DK;
  if (active)
    warp_stage_row<T, H, DK>(qs, q, b, qi, h);
  __syncwarp();

  float m = neg_inf(), l = 0.f;
  float acc[NV];
#pragma unroll
  for (int i = 0; i < NV; ++i)
    acc[i] = 0.f;

  const int r = q0 / L::block;
  const int e1 = row_ptr[r + 1];
  for (int e = row_ptr[r]; e < e1; ++e) {
    const bool full = classes[e] == kBlockFull;
    const int kb0 = col_idx[e] * L::block;
    const int kb1 = min(min(kb0 + L::block, T), qlast + 1);
    for (int kc = kb0; kc < kb1; kc += KT) {
      const int nk = min(KT, kb1 - kc);
      if (full)
        __syncthreads(); // the previous chunk is consumed
      else if (!chunk_has_pair<NT, T, L>(q0, QT, kc, nk)) // also a barrier
        continue;
      stage_rows<NT, T, H, DK, KSTR, KeyRows<Cfg>>(Ks, k, b, kc, h, nk);
      stage_rows<NT, T, H, DV, VSTR, KeyRows<Cfg>>(Vs, v, b, kc, h, nk);
      __syncthreads();
      if (!active)
        continue;
      const int key = kc + lane;
      const bool ok = lane < nk && key <= qi && (full || L::allowed(qi, key));
      float s = neg_inf();
      if (ok) {
        s = scale * smem_dot<DK>(qs, Ks + lane * KSTR);
        if constexpr (has_score_mod<Cfg>()) {
          float unused;
          s = score_mod<Cfg>(s, qi, key, h, &unused);
        }
      }
      const float cm = warp_max(s);
      if (cm == neg_inf())
        continue; // nothing allowed in this chunk (warp-uniform)
      const float mn = fmaxf(m, cm);
      const float corr = expf(m - mn); // 0 while m is still -inf
      const float p = ok ? expf(s - mn) : 0.f;
      l = l * corr + warp_sum(p);
#pragma unroll
      for (int i = 0; i < NV; ++i)
        acc[i] *= corr;
      for (int j = 0; j < nk; ++j) {
        const float pj = __shfl_sync(kFullMask, p, j);
        if (pj == 0.f)
          continue; // warp-uniform: pj is a broadcast
        const float *vr = Vs + j * VSTR;
#pragma unroll
        for (int i = 0; i < NV; ++i) {
          const int d = lane + 32 * i;
          if (d < DV)
            acc[i] += pj * vr[d];
        }
      }
      m = mn;
    }
  }
  if (!active)
    return;
  const long long stat = (static_cast<long long>(b) * H + h) * T + qi;
  float own = l > 0.f ? m + logf(l) : neg_inf();
  float wOwn = l > 0.f ? 1.f / l : 0.f, wPrev = 0.f;
  if constexpr (Cfg::MERGE) { // each key set weighted by its share of the sum
    const float prev = lse_prev[stat], mx = fmaxf(own, prev);
    if (mx != neg_inf()) {
      const float e1 = expf(own - mx), e2 = expf(prev - mx);
      wOwn *= e1 / (e1 + e2);
      wPrev = e2 / (e1 + e2);
      own = mx + logf(e1 + e2);
    }
  }
  const long long ob = bthd<T, H, DV>(b, qi, h);
#pragma unroll
  for (int i = 0; i < NV; ++i) {
    const int d = lane + 32 * i;
    if (d >= DV)
      continue;
    float x = acc[i] * wOwn;
    if constexpr (Cfg::MERGE)
      x += wPrev * load(o_prev, ob + d);
    store(o, ob + d, x);
  }
  if (lane == 0)
    lse[stat] = own;
}

} // namespace stc

#endif // STC_DEVICE_ATTENTION_FWD_CUH
