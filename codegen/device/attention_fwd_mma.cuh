// attention_fwd_mma.cuh - bf16 block-sparse attention forward on tensor cores.
//
// FlashAttention-2 structure over a block layout. Grid (ceil(T / BM), H, B),
// BM / 16 warps; warp w owns query rows q0 + 16 w .. + 15. The CTA's rows lie
// in one layout block row (BM divides the layout block; with Cfg::WGS = 2
// each group of 64 rows does, see below); RowTiles walks that
// row's listed blocks in key tiles of BN (BN divides the block): full blocks
// run with no mask, partial blocks evaluate the pattern inline, tiles of
// partial blocks with no allowed pair and keys past the CTA's last row are
// skipped, and unlisted blocks (empty, upper triangle) are never visited.
//
// Per key tile, with K and V double-buffered through shared memory by
// cp.async (the next tile loads while this one computes):
//   S = Q K^T                (Q fragments held in registers)
//   m' = max(m, rowmax S), P = exp2(S' - m'), l = l 2^(m - m') + rowsum P
//   O = O 2^(m - m') + P V   (P reused from the accumulators as bf16)
// in the log2 domain, S' = S * scale * log2(e). At the end O /= l and
// lse = (m + log2 l) ln 2, the natural log-sum-exp of scale * q.k that the
// backward needs. A row with no allowed key gets O = 0 and lse = -inf.
//
// Shared memory: Q [BM][D], K [2][BN][D], V [2][BN][D], bf16.
//
// With Cfg::WGMMA (D = 64, BN = 64, 64 query rows per warpgroup) and where
// NVRTC compiles for sm_90a (STC_WGMMA), both products are warpgroup-wide
// wgmma instead of per-warp mma.sync: S = Q K^T with Q and K read from
// shared memory, O += P V with P from the registers. The fragments, the
// online softmax and the masking are the same code (fwd_softmax,
// fwd_store). With Cfg::WGS = 2 (BM = 128, D = 64) the CTA is two groups of
// 64 rows, each within one layout block row (GroupRowTiles walks the union
// of the two rows' tiles): one K/V tile in shared memory serves both, and a
// group skips the tiles it does not list.

#ifndef STC_DEVICE_ATTENTION_FWD_MMA_CUH
#define STC_DEVICE_ATTENTION_FWD_MMA_CUH

namespace stc {

template <class Cfg>
__host__ __device__ constexpr int attention_fwd_mma_smem_bytes() {
  return (Cfg::BM + 4 * Cfg::BN) * Cfg::D * 2;
}

// One key tile's softmax step for a warp's 16 rows (row0 and row1 = row0 +
// 8 in each quad): scale (and modify) S to the log2 domain, mask partial
// tiles with the pattern, update the running max m and sum l, rescale O
// (acc) and return P packed as bf16 A fragments (pa[kk]: keys 16 kk ..
// 16 kk + 15).
template <class Cfg, class L, int NB, int ND>
__device__ __forceinline__ void
fwd_softmax(float (&s)[NB][4], float (&acc)[ND][4], float (&m)[2],
            float (&l)[2], unsigned (&pa)[NB / 2][4], int kc, bool full,
            int row0, int row1, int h, int t4) {
  using namespace mma;
  // Without modifications the scale is a positive constant: the maximum is
  // taken over the raw scores and scaled once, and each exponent is one
  // fused multiply-add, exp2(s c - m'), instead of a multiply, then a
  // subtraction.
  constexpr bool kLate = !has_score_mod<Cfg>() && Cfg::scale > 0.f;
  constexpr float c = Cfg::scale * kLog2e;
  float tmax[2] = {neg_inf(), neg_inf()};
#pragma unroll
  for (int j = 0; j < NB; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int qq = e < 2 ? row0 : row1;
      const int kk = kc + j * 8 + 2 * t4 + (e & 1);
      float x = s[j][e];
      if constexpr (!kLate) {
        float unused;
        x = scaled_score<Cfg>(x, qq, kk, h, &unused);
      }
      if (!full && !(kk <= qq && L::allowed(qq, kk)))
        x = neg_inf();
      s[j][e] = x;
      tmax[e >> 1] = fmaxf(tmax[e >> 1], x);
    }

  // Online softmax: rows are spread over the 4 lanes of a quad.
  float corr[2], base[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    tmax[r] = fmaxf(tmax[r], __shfl_xor_sync(kFullMask, tmax[r], 1));
    tmax[r] = fmaxf(tmax[r], __shfl_xor_sync(kFullMask, tmax[r], 2));
    if constexpr (kLate)
      tmax[r] *= c;
    const float mn = fmaxf(m[r], tmax[r]);
    base[r] = mn == neg_inf() ? 0.f : mn; // a row with nothing yet
    corr[r] = exp2_ftz(m[r] - base[r]);
    m[r] = mn;
    l[r] *= corr[r];
  }
#pragma unroll
  for (int j = 0; j < ND; ++j) {
    acc[j][0] *= corr[0];
    acc[j][1] *= corr[0];
    acc[j][2] *= corr[1];
    acc[j][3] *= corr[1];
  }
#pragma unroll
  for (int j = 0; j < NB; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float p = kLate ? exp2_ftz(fmaf(s[j][e], c, -base[e >> 1]))
                            : exp2_ftz(s[j][e] - base[e >> 1]);
      s[j][e] = p;
      l[e >> 1] += p;
    }
  // The k16 chunk kk of P is n8 tiles 2 kk and 2 kk + 1 of S.
#pragma unroll
  for (int kk = 0; kk < NB / 2; ++kk) {
    pa[kk][0] = pack_h16(s[2 * kk][0], s[2 * kk][1]);
    pa[kk][1] = pack_h16(s[2 * kk][2], s[2 * kk][3]);
    pa[kk][2] = pack_h16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
    pa[kk][3] = pack_h16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
  }
}

// O /= l and lse for a warp's rows row0, row1 = row0 + 8; with MERGE,
// merged with o_prev, lse_prev (abi/Ops.def, attention_fwd `merge`): the
// row's result over both key sets, each weighted by its share of the sum.
template <int T, int H, int D, bool MERGE>
__device__ __forceinline__ void
fwd_store(float (&acc)[D / 8][4], const float (&m)[2], float (&l)[2],
          mma::h16 *__restrict__ o, float *__restrict__ lse,
          const mma::h16 *__restrict__ o_prev,
          const float *__restrict__ lse_prev, int b, int h, int row0,
          int row1, int t4) {
  using namespace mma;
  constexpr int ND = D / 8;
  // The row sums are split over the quad.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(kFullMask, l[r], 1);
    l[r] += __shfl_xor_sync(kFullMask, l[r], 2);
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = r == 0 ? row0 : row1;
    if (row >= T)
      continue;
    const long long stat = (static_cast<long long>(b) * H + h) * T + row;
    // log2-domain lse of this op's keys; weights of o (own) and o_prev.
    float own = l[r] > 0.f ? m[r] + log2f(l[r]) : neg_inf();
    float wOwn = l[r] > 0.f ? 1.f / l[r] : 0.f, wPrev = 0.f;
    if constexpr (MERGE) {
      const float prev = lse_prev[stat] * kLog2e;
      const float mx = fmaxf(own, prev);
      if (mx != neg_inf()) {
        const float e1 = exp2f(own - mx), e2 = exp2f(prev - mx);
        const float inv = 1.f / (e1 + e2);
        wOwn *= e1 * inv;
        wPrev = e2 * inv;
        own = mx + log2f(e1 + e2);
      }
    }
    const long long off = row_offset<T, H, D>(b, row, h) + 2 * t4;
#pragma unroll
    for (int j = 0; j < ND; ++j) {
      float x = acc[j][2 * r] * wOwn, y = acc[j][2 * r + 1] * wOwn;
      if constexpr (MERGE) {
        const float2 p = load_pair(o_prev + off + j * 8);
        x += wPrev * p.x;
        y += wPrev * p.y;
      }
      *reinterpret_cast<unsigned *>(o + off + j * 8) = pack_h16(x, y);
    }
    if (t4 == 0)
      lse[stat] = own * kLn2; // -inf stays -inf
  }
}

// q, k, v (B,T,H,D) bf16 -> o (B,T,H,D) bf16, lse (B,H,T) f32; with
// Cfg::MERGE, merged with o_prev, lse_prev (nullptr without).
template <class Cfg, class L>
__device__ __forceinline__ void
attention_fwd_mma(const mma::h16 *__restrict__ q, const mma::h16 *__restrict__ k,
                  const mma::h16 *__restrict__ v, mma::h16 *__restrict__ o,
                  float *__restrict__ lse, const mma::h16 *__restrict__ o_prev,
                  const float *__restrict__ lse_prev,
                  const int *__restrict__ row_ptr,
                  const int *__restrict__ col_idx,
                  const int *__restrict__ classes, unsigned char *smem) {
  using namespace mma;
  constexpr int T = Cfg::T, H = Cfg::H, D = Cfg::D, BM = Cfg::BM,
                BN = Cfg::BN, NT = BM * 2; // BM / 16 warps
  constexpr int KD = D / 16, NB = BN / 8, ND = D / 8;
  constexpr unsigned TILE_K = BN * D * 2;
  constexpr bool kWgmma = STC_WGMMA && Cfg::WGMMA;
  // Cfg::WGS = 2: the CTA's rows are two groups of 64 (a warpgroup each),
  // each in one layout block row, sharing each K/V tile that both visit.
  constexpr int G = Cfg::WGS;
  static_assert(G == 1 || (G == 2 && D == 64 && BM == 128),
                "two groups of 64 rows take D = 64");
  static_assert(!Cfg::WGMMA || (D == 64 && BM == 64 * G && BN == 64),
                "the wgmma forward takes D = 64 and 64 x 64 tiles per "
                "warpgroup");
  const unsigned sQ = smem_addr(smem), sK = sQ + BM * D * 2,
                 sV = sK + 2 * TILE_K;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t4 = lane & 3;
  const int grp = G == 1 ? 0 : warp / 4; // this warp's group of 64 rows
  // The last query tiles attend to the most keys: launch them first, so the
  // short ones fill the tail.
  const int h = blockIdx.y, b = blockIdx.z,
            q0 = (gridDim.x - 1 - blockIdx.x) * BM;
  const int row0 = q0 + warp * 16 + g, row1 = row0 + 8;

  using Tiles = typename Conditional<G == 1, RowTiles<T, BN, BM, NT, L>,
                                     GroupRowTiles<T, BN, G, NT, L>>::type;
  Tiles tiles(row_ptr, col_idx, classes, q0);
  load_tile<NT, BM, T, H, D>(sQ, q, b, h, q0);
  bool have = tiles.next();
  if (have) {
    load_tile<NT, BN, T, H, D, KeyRows<Cfg>>(sK, k, b, h, tiles.kc);
    load_tile<NT, BN, T, H, D, KeyRows<Cfg>>(sV, v, b, h, tiles.kc);
  }
  cp_async_commit();

  float acc[ND][4];
#pragma unroll
  for (int j = 0; j < ND; ++j)
    acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
  float m[2] = {neg_inf(), neg_inf()}, l[2] = {0.f, 0.f};
  unsigned qf[KD][4];
  bool qLoaded = false;
  int buf = 0;

  if (!have)
    cp_async_wait<0>(); // no tile: let the Q copy land before exiting
  while (have) {
    const int kc = tiles.kc;
    bool full, mine = true; // mine: this warp's group visits the tile
    if constexpr (G == 1) {
      full = tiles.full;
    } else {
      full = tiles.full(grp);
      mine = tiles.in(grp);
    }
    const bool haveNext = tiles.next(); // collective
    cp_async_wait<0>();
#if STC_WGMMA
    if constexpr (kWgmma)
      wg::fence_smem(); // the tile, written by cp.async, is read by wgmma
#endif
    __syncthreads(); // this tile is in; nobody still reads the other buffer
    if (haveNext) {
      load_tile<NT, BN, T, H, D, KeyRows<Cfg>>(sK + (buf ^ 1) * TILE_K, k, b, h, tiles.kc);
      load_tile<NT, BN, T, H, D, KeyRows<Cfg>>(sV + (buf ^ 1) * TILE_K, v, b, h, tiles.kc);
    }
    cp_async_commit();
    if (!kWgmma && !qLoaded) {
#pragma unroll
      for (int kk = 0; kk < KD; ++kk)
        load_a<D>(qf[kk], sQ, warp * 16, kk);
      qLoaded = true;
    }
    const unsigned tK = sK + buf * TILE_K, tV = sV + buf * TILE_K;
    if (!mine) { // uniform over the warpgroup (and its warps)
      buf ^= 1;
      have = haveNext;
      continue;
    }

    // S = Q K^T for this warp's 16 rows x BN keys.
    float s[NB][4];
    if constexpr (kWgmma) {
#if STC_WGMMA
      // The first chunk overwrites s (no accumulate): no zeroing.
      wg::fence();
      wg::mma_ss<0, 0>(s, sQ + grp * 64u * D * 2u, tK, false);
      wg::commit();
      wg::wait<0>();
      wg::hold(s);
#endif
    } else {
#pragma unroll
      for (int j = 0; j < NB; ++j)
        s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < KD; ++kk)
#pragma unroll
        for (int j = 0; j < NB; j += 2) {
          unsigned bk[4];
          load_b_rows<D>(bk, tK, j * 8, kk);
          mma16816(s[j], qf[kk], bk[0], bk[1]);
          mma16816(s[j + 1], qf[kk], bk[2], bk[3]);
        }
    }

    // Softmax; O += P V.
    unsigned pa[NB / 2][4];
    fwd_softmax<Cfg, L>(s, acc, m, l, pa, kc, full, row0, row1, h, t4);
    if constexpr (kWgmma) {
#if STC_WGMMA
      wg::fence();
      wg::mma_rs<1>(acc, pa, tV);
      wg::commit();
      wg::wait<0>();
      wg::hold(acc);
#endif
    } else {
#pragma unroll
      for (int kk = 0; kk < NB / 2; ++kk)
#pragma unroll
        for (int j = 0; j < ND; j += 2) {
          unsigned bv[4];
          load_b_cols<D>(bv, tV, kk, j);
          mma16816(acc[j], pa[kk], bv[0], bv[1]);
          mma16816(acc[j + 1], pa[kk], bv[2], bv[3]);
        }
    }
    buf ^= 1;
    have = haveNext;
  }

  fwd_store<T, H, D, Cfg::MERGE>(acc, m, l, o, lse, o_prev, lse_prev, b, h,
                                 row0, row1, t4);
}

} // namespace stc

#endif // STC_DEVICE_ATTENTION_FWD_MMA_CUH
