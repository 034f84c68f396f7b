// attention_bwd.cuh - block-sparse causal attention, backward.
//
// Gradients of attention_fwd, overwriting dq, dk, dv (no zeroing needed, no
// atomics, deterministic). With P_ij = exp(scale q_i.k_j - lse_i) (lse saved
// by the forward), D_i = rowsum(dO_i * O_i) and dS_ij = P_ij (dO_i.v_j - D_i):
//   dq_i = scale sum_j dS_ij k_j      (walk query block row i: CSR)
//   dk_j = scale sum_i dS_ij q_i      (walk key block column j: CSC)
//   dv_j = sum_i P_ij dO_i
// One launch, grid (2 * ceil(T / QT), H, B): CTAs x < ceil(T / QT) compute dq
// for QT query rows (one per warp), the others dk and dv for QT key rows (one
// per warp). Both halves only read the inputs, so they need no ordering.
// D_i is recomputed where needed (per row in the dq pass, per staged query
// chunk in the dk/dv pass) instead of in a separate pre-kernel.
// Queries with lse = -inf (no allowed key) contribute nothing. As in the
// forward, chunks of partial blocks with no allowed pair for the CTA's rows
// are skipped before staging.
//
// Shared memory (floats), the larger of the two passes:
//   dq:   Ks [KT][KSTR], Vs [KT][VSTR], Qw [QT][DK], dOw [QT][DV]
//   dkdv: Qc [KT][KSTR], dOc [KT][VSTR], Lc [KT], Dc [KT], Kw [QT][DK], Vw
//   [QT][DV]

#ifndef STC_DEVICE_ATTENTION_BWD_CUH
#define STC_DEVICE_ATTENTION_BWD_CUH

namespace stc {

template <class Cfg>
__host__ __device__ constexpr int attention_bwd_smem_floats() {
  return Cfg::KT * (Cfg::KSTR + Cfg::VSTR + 2) + Cfg::QT * (Cfg::DK + Cfg::DV);
}

// dq pass for query rows tile * QT .. +QT-1.
template <class Cfg, class L, typename TQ, typename TK, typename TV,
          typename TO, typename TDO, typename TDQ>
__device__ __forceinline__ void
attention_bwd_dq(int tile, const TQ *__restrict__ q, const TK *__restrict__ k,
                 const TV *__restrict__ v, const TO *__restrict__ o,
                 const float *__restrict__ lse, const TDO *__restrict__ dO,
                 TDQ *__restrict__ dq, const int *__restrict__ row_ptr,
                 const int *__restrict__ col_idx,
                 const int *__restrict__ classes, float *smem) {
  constexpr int T = Cfg::T, H = Cfg::H, DK = Cfg::DK, DV = Cfg::DV;
  constexpr int QT = Cfg::QT, KT = Cfg::KT, KSTR = Cfg::KSTR, VSTR = Cfg::VSTR;
  constexpr int NT = QT * 32, NK = (DK + 31) / 32;
  float *Ks = smem;
  float *Vs = Ks + KT * KSTR;
  float *Qw = Vs + KT * VSTR;
  float *dOw = Qw + QT * DK;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int h = blockIdx.y, b = blockIdx.z;
  const int q0 = tile * QT;
  const int qi = q0 + warp;
  const bool active = qi < T;
  const int qlast = min(q0 + QT, T) - 1;
  const float scale = Cfg::scale;

  float *qs = Qw + warp * DK;
  float *dos = dOw + warp * DV;
  float Li = neg_inf(), Di = 0.f;
  if (active) {
    warp_stage_row<T, H, DK>(qs, q, b, qi, h);
    warp_stage_row<T, H, DV>(dos, dO, b, qi, h);
    const long long ob = bthd<T, H, DV>(b, qi, h);
    float s = 0.f;
    for (int d = lane; d < DV; d += 32)
      s += load(dO, ob + d) * load(o, ob + d);
    Di = warp_sum(s);
    Li = lse[(static_cast<long long>(b) * H + h) * T + qi];
  }
  __syncwarp();
  const bool live = active && Li != neg_inf();

  float acc[NK];
#pragma unroll
  for (int i = 0; i < NK; ++i)
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
        __syncthreads();
      else if (!chunk_has_pair<NT, T, L>(q0, QT, kc, nk))
        continue;
      stage_rows<NT, T, H, DK, KSTR, KeyRows<Cfg>>(Ks, k, b, kc, h, nk);
      stage_rows<NT, T, H, DV, VSTR, KeyRows<Cfg>>(Vs, v, b, kc, h, nk);
      __syncthreads();
      if (!live)
        continue;
      const int key = kc + lane;
      const bool ok = lane < nk && key <= qi && (full || L::allowed(qi, key));
      float ds = 0.f;
      if (ok) {
        float sc = scale * smem_dot<DK>(qs, Ks + lane * KSTR), dm = 1.f;
        if constexpr (has_score_mod<Cfg>())
          sc = score_mod<Cfg>(sc, qi, key, h, &dm);
        const float p = expf(sc - Li);
        ds = p * (smem_dot<DV>(dos, Vs + lane * VSTR) - Di) * dm;
      }
      for (int j = 0; j < nk; ++j) {
        const float dsj = __shfl_sync(kFullMask, ds, j);
        if (dsj == 0.f)
          continue;
        const float *kr = Ks + j * KSTR;
#pragma unroll
        for (int i = 0; i < NK; ++i) {
          const int d = lane + 32 * i;
          if (d < DK)
            acc[i] += dsj * kr[d];
        }
      }
    }
  }
  if (!active)
    return;
  const long long qb = bthd<T, H, DK>(b, qi, h);
#pragma unroll
  for (int i = 0; i < NK; ++i) {
    const int d = lane + 32 * i;
    if (d < DK)
      store(dq, qb + d, scale * acc[i]);
  }
}

// dk / dv pass for key rows tile * QT .. +QT-1.
template <class Cfg, class L, typename TQ, typename TK, typename TV,
          typename TO, typename TDO, typename TDK, typename TDV>
__device__ __forceinline__ void
attention_bwd_dkdv(int tile, const TQ *__restrict__ q, const TK *__restrict__ k,
                   const TV *__restrict__ v, const TO *__restrict__ o,
                   const float *__restrict__ lse, const TDO *__restrict__ dO,
                   TDK *__restrict__ dk, TDV *__restrict__ dv,
                   const int *__restrict__ col_ptr,
                   const int *__restrict__ row_idx,
                   const int *__restrict__ col_classes, float *smem) {
  constexpr int T = Cfg::T, H = Cfg::H, DK = Cfg::DK, DV = Cfg::DV;
  constexpr int QT = Cfg::QT, KT = Cfg::KT, KSTR = Cfg::KSTR, VSTR = Cfg::VSTR;
  constexpr int NT = QT * 32, NK = (DK + 31) / 32, NV = (DV + 31) / 32;
  float *Qc = smem;
  float *dOc = Qc + KT * KSTR;
  float *Lc = dOc + KT * VSTR;
  float *Dc = Lc + KT;
  float *Kw = Dc + KT;
  float *Vw = Kw + QT * DK;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int h = blockIdx.y, b = blockIdx.z;
  const int j0 = tile * QT;
  const int kj = j0 + warp;
  const bool active = kj < T;
  const float scale = Cfg::scale;

  float *ks = Kw + warp * DK;
  float *vs = Vw + warp * DV;
  if (active) {
    warp_stage_row<T, H, DK, KeyRows<Cfg>>(ks, k, b, kj, h);
    warp_stage_row<T, H, DV, KeyRows<Cfg>>(vs, v, b, kj, h);
  }
  __syncwarp();

  float adk[NK], adv[NV];
#pragma unroll
  for (int i = 0; i < NK; ++i)
    adk[i] = 0.f;
#pragma unroll
  for (int i = 0; i < NV; ++i)
    adv[i] = 0.f;

  const long long lrow = (static_cast<long long>(b) * H + h) * T;
  const int c = j0 / L::block;
  const int e1 = col_ptr[c + 1];
  for (int e = col_ptr[c]; e < e1; ++e) {
    const bool full = col_classes[e] == kBlockFull;
    const int rb0 = row_idx[e] * L::block;
    // Queries before the CTA's first key attend to none of its keys.
    const int qb0 = max(rb0, j0);
    const int qb1 = min(rb0 + L::block, T);
    for (int qc = qb0; qc < qb1; qc += KT) {
      const int nq = min(KT, qb1 - qc);
      if (full)
        __syncthreads();
      else if (!chunk_has_pair<NT, T, L>(qc, nq, j0,
                                         QT)) // queries x this CTA's keys
        continue;
      stage_rows<NT, T, H, DK, KSTR>(Qc, q, b, qc, h, nq);
      stage_rows<NT, T, H, DV, VSTR>(dOc, dO, b, qc, h, nq);
      for (int i = warp; i < nq; i += QT) { // D and lse of the staged queries
        const long long ob = bthd<T, H, DV>(b, qc + i, h);
        float s = 0.f;
        for (int d = lane; d < DV; d += 32)
          s += load(dO, ob + d) * load(o, ob + d);
        s = warp_sum(s);
        if (lane == 0) {
          Dc[i] = s;
          Lc[i] = lse[lrow + qc + i];
        }
      }
      __syncthreads();
      if (!active)
        continue;
      const int qq = qc + lane;
      const bool ok = lane < nq && kj <= qq && Lc[lane] != neg_inf() &&
                      (full || L::allowed(qq, kj));
      float p = 0.f, ds = 0.f;
      if (ok) {
        float sc = scale * smem_dot<DK>(Qc + lane * KSTR, ks), dm = 1.f;
        if constexpr (has_score_mod<Cfg>())
          sc = score_mod<Cfg>(sc, qq, kj, h, &dm);
        p = expf(sc - Lc[lane]);
        ds = p * (smem_dot<DV>(dOc + lane * VSTR, vs) - Dc[lane]) * dm;
      }
      for (int i = 0; i < nq; ++i) {
        const float pi = __shfl_sync(kFullMask, p, i);
        const float dsi = __shfl_sync(kFullMask, ds, i);
        if (pi == 0.f)
          continue; // p = 0 implies ds = 0 (warp-uniform broadcast)
        const float *qr = Qc + i * KSTR;
        const float *dor = dOc + i * VSTR;
#pragma unroll
        for (int n = 0; n < NK; ++n) {
          const int d = lane + 32 * n;
          if (d < DK)
            adk[n] += dsi * qr[d];
        }
#pragma unroll
        for (int n = 0; n < NV; ++n) {
          const int d = lane + 32 * n;
          if (d < DV)
            adv[n] += pi * dor[d];
        }
      }
    }
  }
  const int krow = KeyRows<Cfg>::row(kj);
  if (!active || krow >= T)
    return;
  const long long kb = bthd<T, H, DK>(b, krow, h);
  const long long vb = bthd<T, H, DV>(b, krow, h);
#pragma unroll
  for (int n = 0; n < NK; ++n) {
    const int d = lane + 32 * n;
    if (d < DK)
      store_acc<Cfg::ACCUMULATE>(dk, kb + d, scale * adk[n]);
  }
#pragma unroll
  for (int n = 0; n < NV; ++n) {
    const int d = lane + 32 * n;
    if (d < DV)
      store_acc<Cfg::ACCUMULATE>(dv, vb + d, adv[n]);
  }
}

// q, k (B,T,H,DK), v, o, do (B,T,H,DV), lse (B,H,T) f32
//   -> dq, dk (B,T,H,DK), dv (B,T,H,DV), overwritten
template <class Cfg, class L, typename TQ, typename TK, typename TV,
          typename TO, typename TDO, typename TDQ, typename TDK, typename TDV>
__device__ __forceinline__ void
attention_bwd_kernel(const TQ *q, const TK *k, const TV *v, const TO *o,
                     const float *lse, const TDO *dO, TDQ *dq, TDK *dk, TDV *dv,
                     const int *row_ptr, const int *col_idx, const int *classes,
                     const int *col_ptr, const int *row_idx,
                     const int *col_classes, float *smem) {
  constexpr int tiles = (Cfg::T + Cfg::QT - 1) / Cfg::QT;
  if (static_cast<int>(blockIdx.x) < tiles)
    attention_bwd_dq<Cfg, L>(blockIdx.x, q, k, v, o, lse, dO, dq, row_ptr,
                             col_idx, classes, smem);
  else
    attention_bwd_dkdv<Cfg, L>(blockIdx.x - tiles, q, k, v, o, lse, dO, dk, dv,
                               col_ptr, row_idx, col_classes, smem);
}

} // namespace stc

#endif // STC_DEVICE_ATTENTION_BWD_CUH
