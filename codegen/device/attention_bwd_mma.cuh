// attention_bwd_mma.cuh - bf16 block-sparse attention backward on tensor cores.
//
// Gradients of attention_fwd_mma, deterministic (no atomics) and in one
// launch of 4-warp CTAs, grid (ceil(T / 64) * 2, H, B). With
// P = exp(scale Q K^T - lse) (lse saved by the forward), delta_i =
// rowsum(dO_i * O_i) and dS = P * (dO V^T - delta):
//
// - CTAs x < ceil(T / 64) own 64 query rows (16 per warp) and walk their
//   block row (CSR) in key tiles of BN, like the forward:
//     S = Q K^T, P, dP = dO V^T, dS, dQ += dS K        dq = scale dQ
//   delta for the CTA's rows is computed once, from O and dO.
// - the other CTAs own 64 key rows (16 per warp) and walk their block column
//   (CSC) in query tiles of BQ, with the transposed products:
//     S^T = K Q^T, P^T, dP^T = V dO^T, dS^T, dV += P^T dO, dK += dS^T Q
//                                                      dk = scale dK
//   delta for each query tile is recomputed from its O and dO tiles, which
//   keeps the two halves independent (one launch, no scratch buffer).
//
// dQ and dK/dV are each written by exactly one CTA: deterministic. Queries
// with lse = -inf (no allowed key) and rows past T contribute nothing.
//
// Shared memory (bytes), the larger of the two halves:
//   dq:   Q, dO [64][D]; K, V [2][BN][D]; delta [64] f32
//   dkdv: K, V [64][D]; Q, dO, O [2][BQ][D]; lse2, delta [2][BQ] f32

#ifndef STC_DEVICE_ATTENTION_BWD_MMA_CUH
#define STC_DEVICE_ATTENTION_BWD_MMA_CUH

namespace stc {

namespace mma {
constexpr int kBwdRows = 64; // query rows (dq) or key rows (dk, dv) per CTA
} // namespace mma

template <class Cfg>
__host__ __device__ constexpr int attention_bwd_mma_smem_bytes() {
  return (2 * mma::kBwdRows + 4 * Cfg::BN) * Cfg::D * 2 + mma::kBwdRows * 4 >
                 (2 * mma::kBwdRows + 6 * Cfg::BQ) * Cfg::D * 2 +
                     4 * Cfg::BQ * 4
             ? (2 * mma::kBwdRows + 4 * Cfg::BN) * Cfg::D * 2 +
                   mma::kBwdRows * 4
             : (2 * mma::kBwdRows + 6 * Cfg::BQ) * Cfg::D * 2 +
                   4 * Cfg::BQ * 4;
}

// log2-domain lse of a row: +inf for rows without keys (and past T), so that
// exp2(s - lse2) is 0 there.
template <int T>
__device__ __forceinline__ float lse2_of(const float *lse_bh, int row) {
  if (row >= T)
    return __int_as_float(0x7f800000);
  const float x = lse_bh[row];
  return x == neg_inf() ? __int_as_float(0x7f800000) : x * mma::kLog2e;
}

// ---- dq: query rows q0 .. q0 + BM - 1 ----------------------------------------

template <class Cfg, class L>
__device__ __forceinline__ void attention_bwd_mma_dq(
    int tile, const mma::h16 *__restrict__ q, const mma::h16 *__restrict__ k,
    const mma::h16 *__restrict__ v, const mma::h16 *__restrict__ o,
    const float *__restrict__ lse, const mma::h16 *__restrict__ dO,
    mma::h16 *__restrict__ dq, const int *__restrict__ row_ptr,
    const int *__restrict__ col_idx, const int *__restrict__ classes,
    unsigned char *smem) {
  using namespace mma;
  constexpr int T = Cfg::T, H = Cfg::H, D = Cfg::D, BM = kBwdRows,
                BN = Cfg::BN, NT = 128;
  constexpr int KD = D / 16, NB = BN / 8, ND = D / 8;
  constexpr unsigned TILE_Q = BM * D * 2, TILE_K = BN * D * 2;
  const unsigned sQ = smem_addr(smem), sdO = sQ + TILE_Q, sK = sdO + TILE_Q,
                 sV = sK + 2 * TILE_K;
  float *sDelta = reinterpret_cast<float *>(smem + 2 * TILE_Q + 4 * TILE_K);

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t4 = lane & 3;
  const int h = blockIdx.y, b = blockIdx.z, q0 = tile * BM;
  const int row0 = q0 + warp * 16 + g, row1 = row0 + 8;
  const float *lse_bh = lse + (static_cast<long long>(b) * H + h) * T;

  RowTiles<T, BN, BM, NT, L> tiles(row_ptr, col_idx, classes, q0);
  load_tile<NT, BM, T, H, D>(sQ, q, b, h, q0);
  load_tile<NT, BM, T, H, D>(sdO, dO, b, h, q0);
  bool have = tiles.next();
  if (have) {
    load_tile<NT, BN, T, H, D, KeyRows<Cfg>>(sK, k, b, h, tiles.kc);
    load_tile<NT, BN, T, H, D, KeyRows<Cfg>>(sV, v, b, h, tiles.kc);
  }
  cp_async_commit();
  if (!have)
    cp_async_wait<0>();

  // delta = rowsum(dO * O) for the CTA's rows, from global memory: one warp
  // per row, lanes over the columns.
  for (int r = warp; r < BM; r += NT / 32) {
    const int row = q0 + r;
    float s = 0.f;
    if (row < T) {
      const long long off = row_offset<T, H, D>(b, row, h);
      for (int d = lane; d < D; d += 32)
        s += load(dO, off + d) * load(o, off + d);
    }
    s = warp_sum(s);
    if (lane == 0)
      sDelta[r] = s;
  }
  const float lse0 = lse2_of<T>(lse_bh, row0), lse1 = lse2_of<T>(lse_bh, row1);

  float acc[ND][4];
#pragma unroll
  for (int j = 0; j < ND; ++j)
    acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
  unsigned qf[KD][4], dof[KD][4];
  float delta0 = 0.f, delta1 = 0.f;
  bool loaded = false;
  int buf = 0;

  while (have) {
    const int kc = tiles.kc;
    const bool full = tiles.full;
    const bool haveNext = tiles.next();
    cp_async_wait<0>();
    __syncthreads();
    if (haveNext) {
      load_tile<NT, BN, T, H, D, KeyRows<Cfg>>(sK + (buf ^ 1) * TILE_K, k, b, h, tiles.kc);
      load_tile<NT, BN, T, H, D, KeyRows<Cfg>>(sV + (buf ^ 1) * TILE_K, v, b, h, tiles.kc);
    }
    cp_async_commit();
    if (!loaded) {
#pragma unroll
      for (int kk = 0; kk < KD; ++kk) {
        load_a<D>(qf[kk], sQ, warp * 16, kk);
        load_a<D>(dof[kk], sdO, warp * 16, kk);
      }
      delta0 = sDelta[warp * 16 + g];
      delta1 = sDelta[warp * 16 + g + 8];
      loaded = true;
    }
    const unsigned tK = sK + buf * TILE_K, tV = sV + buf * TILE_K;

    float s[NB][4], dp[NB][4];
#pragma unroll
    for (int j = 0; j < NB; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        s[j][e] = dp[j][e] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KD; ++kk)
#pragma unroll
      for (int j = 0; j < NB; j += 2) {
        unsigned bk[4], bv[4];
        load_b_rows<D>(bk, tK, j * 8, kk);
        mma16816(s[j], qf[kk], bk[0], bk[1]);
        mma16816(s[j + 1], qf[kk], bk[2], bk[3]);
        load_b_rows<D>(bv, tV, j * 8, kk);
        mma16816(dp[j], dof[kk], bv[0], bv[1]);
        mma16816(dp[j + 1], dof[kk], bv[2], bv[3]);
      }
    // dS = P (dP - delta), P masked by the pattern in partial tiles.
#pragma unroll
    for (int j = 0; j < NB; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int qq = e < 2 ? row0 : row1;
        const int kk = kc + j * 8 + 2 * t4 + (e & 1);
        float dm = 1.f;
        float p = exp2_ftz(scaled_score<Cfg>(s[j][e], qq, kk, h, &dm) -
                           (e < 2 ? lse0 : lse1));
        if (!full && !(kk <= qq && L::allowed(qq, kk)))
          p = 0.f;
        s[j][e] = p * (dp[j][e] - (e < 2 ? delta0 : delta1)) * dm;
      }
    // dQ += dS K.
#pragma unroll
    for (int kk = 0; kk < NB / 2; ++kk) {
      unsigned da[4] = {pack_h16(s[2 * kk][0], s[2 * kk][1]),
                        pack_h16(s[2 * kk][2], s[2 * kk][3]),
                        pack_h16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                        pack_h16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int j = 0; j < ND; j += 2) {
        unsigned bk[4];
        load_b_cols<D>(bk, tK, kk, j);
        mma16816(acc[j], da, bk[0], bk[1]);
        mma16816(acc[j + 1], da, bk[2], bk[3]);
      }
    }
    buf ^= 1;
    have = haveNext;
  }

  const float sc = Cfg::scale;
  if (row0 < T) {
    mma::h16 *out = dq + row_offset<T, H, D>(b, row0, h) + 2 * t4;
#pragma unroll
    for (int j = 0; j < ND; ++j)
      *reinterpret_cast<unsigned *>(out + j * 8) =
          pack_h16(acc[j][0] * sc, acc[j][1] * sc);
  }
  if (row1 < T) {
    mma::h16 *out = dq + row_offset<T, H, D>(b, row1, h) + 2 * t4;
#pragma unroll
    for (int j = 0; j < ND; ++j)
      *reinterpret_cast<unsigned *>(out + j * 8) =
          pack_h16(acc[j][2] * sc, acc[j][3] * sc);
  }
}

// ---- dk, dv: key rows k0 .. k0 + BN - 1 ------------------------------------

// dk, dv rows of a warp's keys key0 and key0 + 8 (positions; rows
// KeyRows<Cfg>, absent ones skipped) from its accumulator fragments: dk =
// sc dK, dv = dV, or added to them with Cfg::ACCUMULATE.
template <class Cfg, int D>
__device__ __forceinline__ void
store_dkdv(mma::h16 *__restrict__ dk, mma::h16 *__restrict__ dv,
           const float (&dkAcc)[D / 8][4], const float (&dvAcc)[D / 8][4],
           int b, int h, int key0, float sc, int t4) {
  using namespace mma;
  constexpr int T = Cfg::T, H = Cfg::H;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int key = key0 + 8 * half;
    const int row = key < T ? KeyRows<Cfg>::row(key) : T;
    if (row >= T)
      continue;
    const long long off = row_offset<T, H, D>(b, row, h) + 2 * t4;
#pragma unroll
    for (int j = 0; j < D / 8; ++j) {
      store_pair<Cfg::ACCUMULATE>(dk + off + j * 8, dkAcc[j][2 * half] * sc,
                                  dkAcc[j][2 * half + 1] * sc);
      store_pair<Cfg::ACCUMULATE>(dv + off + j * 8, dvAcc[j][2 * half],
                                  dvAcc[j][2 * half + 1]);
    }
  }
}

// S^T = K Q^T and dP^T = V dO^T for a warp's 16 keys (rows 16 warp ..
// of the K and V tiles) x NQ * 8 queries, by mma.sync. The K and V
// fragments come from shared memory each tile: holding them in registers
// would not leave room for dK and dV at D = 128.
template <int D, int NQ>
__device__ __forceinline__ void bwd_scores_mma(float (&s)[NQ][4],
                                               float (&dp)[NQ][4], unsigned sK,
                                               unsigned sV, unsigned tQ,
                                               unsigned tdO, int warp) {
  using namespace mma;
#pragma unroll
  for (int j = 0; j < NQ; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      s[j][e] = dp[j][e] = 0.f;
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    unsigned kf[4], vf[4];
    load_a<D>(kf, sK, warp * 16, kk);
    load_a<D>(vf, sV, warp * 16, kk);
#pragma unroll
    for (int j = 0; j < NQ; j += 2) {
      unsigned bq[4], bo[4];
      load_b_rows<D>(bq, tQ, j * 8, kk);
      mma16816(s[j], kf, bq[0], bq[1]);
      mma16816(s[j + 1], kf, bq[2], bq[3]);
      load_b_rows<D>(bo, tdO, j * 8, kk);
      mma16816(dp[j], vf, bo[0], bo[1]);
      mma16816(dp[j + 1], vf, bo[2], bo[3]);
    }
  }
}

template <class Cfg, class L>
__device__ __forceinline__ void attention_bwd_mma_dkdv(
    int tile, const mma::h16 *__restrict__ q, const mma::h16 *__restrict__ k,
    const mma::h16 *__restrict__ v, const mma::h16 *__restrict__ o,
    const float *__restrict__ lse, const mma::h16 *__restrict__ dO,
    mma::h16 *__restrict__ dk, mma::h16 *__restrict__ dv,
    const int *__restrict__ col_ptr, const int *__restrict__ row_idx,
    const int *__restrict__ col_classes, unsigned char *smem) {
  using namespace mma;
  constexpr int T = Cfg::T, H = Cfg::H, D = Cfg::D, BM = Cfg::BQ,
                BN = kBwdRows, NT = 128;
  constexpr int NQ = BM / 8, ND = D / 8;
  constexpr unsigned TILE_K = BN * D * 2, TILE_Q = BM * D * 2;
  const unsigned sK = smem_addr(smem), sV = sK + TILE_K,
                 sQ = sV + TILE_K,    // [2] stages
      sdO = sQ + 2 * TILE_Q, sO = sdO + 2 * TILE_Q;
  float *sLse = reinterpret_cast<float *>(smem + 2 * TILE_K + 6 * TILE_Q);
  float *sDelta = sLse + 2 * BM;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t4 = lane & 3;
  const int h = blockIdx.y, b = blockIdx.z, k0 = tile * BN;
  const int key0 = k0 + warp * 16 + g, key1 = key0 + 8;
  const float *lse_bh = lse + (static_cast<long long>(b) * H + h) * T;

  ColTiles<T, BM, BN, NT, L> tiles(col_ptr, row_idx, col_classes, k0);
  load_tile<NT, BN, T, H, D, KeyRows<Cfg>>(sK, k, b, h, k0);
  load_tile<NT, BN, T, H, D, KeyRows<Cfg>>(sV, v, b, h, k0);
  auto loadQueries = [&](int stage, int qc) {
    load_tile<NT, BM, T, H, D>(sQ + stage * TILE_Q, q, b, h, qc);
    load_tile<NT, BM, T, H, D>(sdO + stage * TILE_Q, dO, b, h, qc);
    load_tile<NT, BM, T, H, D>(sO + stage * TILE_Q, o, b, h, qc);
    for (int i = threadIdx.x; i < BM; i += NT)
      sLse[stage * BM + i] = lse2_of<T>(lse_bh, qc + i);
  };
  bool have = tiles.next();
  if (have)
    loadQueries(0, tiles.qc);
  cp_async_commit();
  if (!have)
    cp_async_wait<0>();

  float dkAcc[ND][4], dvAcc[ND][4];
#pragma unroll
  for (int j = 0; j < ND; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      dkAcc[j][e] = dvAcc[j][e] = 0.f;
  int stage = 0;

  while (have) {
    const int qc = tiles.qc;
    const bool full = tiles.full;
    const bool haveNext = tiles.next();
    cp_async_wait<0>();
    __syncthreads(); // this stage is in; the other stage is free
    if (haveNext)
      loadQueries(stage ^ 1, tiles.qc);
    cp_async_commit();
    const unsigned tQ = sQ + stage * TILE_Q, tdO = sdO + stage * TILE_Q,
                   tO = sO + stage * TILE_Q;
    // delta for this query tile: two threads per row (BM <= 64).
    {
      const int r = threadIdx.x >> 1, half = threadIdx.x & 1;
      float s = 0.f;
      if (r < BM) {
        const unsigned char *base = smem;
        const unsigned rowByte = static_cast<unsigned>(r * D * 2);
        for (int c = half * (D / 16); c < (half + 1) * (D / 16); ++c) {
          const unsigned off = swz(rowByte + c * 16);
          const unsigned char *a = base + (tdO - sK) + off;
          const unsigned char *x = base + (tO - sK) + off;
#pragma unroll
          for (int u = 0; u < 4; ++u) {
            const float2 fa = load_pair(a + 4 * u);
            const float2 fx = load_pair(x + 4 * u);
            s += fa.x * fx.x + fa.y * fx.y;
          }
        }
      }
      s += __shfl_xor_sync(kFullMask, s, 1);
      if (r < BM && half == 0)
        sDelta[stage * BM + r] = s;
    }
    __syncthreads();

    // S^T = K Q^T and dP^T = V dO^T for this warp's 16 keys x BM queries.
    float s[NQ][4], dp[NQ][4];
    bwd_scores_mma<D>(s, dp, sK, sV, tQ, tdO, warp);
    // P^T and dS^T; columns are queries.
    const float *lse2 = sLse + stage * BM, *delta = sDelta + stage * BM;
#pragma unroll
    for (int j = 0; j < NQ; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = j * 8 + 2 * t4 + (e & 1);
        const int qq = qc + col, kk = e < 2 ? key0 : key1;
        float dm = 1.f;
        float p =
            exp2_ftz(scaled_score<Cfg>(s[j][e], qq, kk, h, &dm) - lse2[col]);
        if (!full && !(kk <= qq && L::allowed(qq, kk)))
          p = 0.f;
        s[j][e] = p;
        dp[j][e] = p * (dp[j][e] - delta[col]) * dm;
      }
    // dV += P^T dO and dK += dS^T Q; the k16 chunk kk is query columns
    // 16 kk .. 16 kk + 15 (n8 tiles 2 kk, 2 kk + 1).
#pragma unroll
    for (int kk = 0; kk < NQ / 2; ++kk) {
      unsigned pa[4] = {pack_h16(s[2 * kk][0], s[2 * kk][1]),
                        pack_h16(s[2 * kk][2], s[2 * kk][3]),
                        pack_h16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                        pack_h16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
      unsigned da[4] = {pack_h16(dp[2 * kk][0], dp[2 * kk][1]),
                        pack_h16(dp[2 * kk][2], dp[2 * kk][3]),
                        pack_h16(dp[2 * kk + 1][0], dp[2 * kk + 1][1]),
                        pack_h16(dp[2 * kk + 1][2], dp[2 * kk + 1][3])};
#pragma unroll
      for (int j = 0; j < ND; j += 2) {
        unsigned bo[4], bq[4];
        load_b_cols<D>(bo, tdO, kk, j);
        mma16816(dvAcc[j], pa, bo[0], bo[1]);
        mma16816(dvAcc[j + 1], pa, bo[2], bo[3]);
        load_b_cols<D>(bq, tQ, kk, j);
        mma16816(dkAcc[j], da, bq[0], bq[1]);
        mma16816(dkAcc[j + 1], da, bq[2], bq[3]);
      }
    }
    stage ^= 1;
    have = haveNext;
  }

  const float sc = Cfg::scale;
  store_dkdv<Cfg, D>(dk, dv, dkAcc, dvAcc, b, h, key0, sc, t4);
}

// The launch: CTAs x < ceil(T / 64) compute dq, the rest dk and dv.
template <class Cfg, class L>
__device__ __forceinline__ void attention_bwd_mma(
    const mma::h16 *__restrict__ q, const mma::h16 *__restrict__ k,
    const mma::h16 *__restrict__ v, const mma::h16 *__restrict__ o,
    const float *__restrict__ lse, const mma::h16 *__restrict__ dO,
    mma::h16 *__restrict__ dq, mma::h16 *__restrict__ dk,
    mma::h16 *__restrict__ dv, const int *__restrict__ row_ptr,
    const int *__restrict__ col_idx, const int *__restrict__ classes,
    const int *__restrict__ col_ptr, const int *__restrict__ row_idx,
    const int *__restrict__ col_classes, unsigned char *smem) {
  constexpr int QTILES = (Cfg::T + mma::kBwdRows - 1) / mma::kBwdRows;
  const int x = blockIdx.x;
  // dq: the last query tiles first (they attend to the most keys); dk, dv:
  // the first key tiles first (the most queries attend to them).
  if (x < QTILES)
    attention_bwd_mma_dq<Cfg, L>(QTILES - 1 - x, q, k, v, o, lse, dO, dq,
                                 row_ptr, col_idx, classes, smem);
  else
    attention_bwd_mma_dkdv<Cfg, L>(x - QTILES, q, k, v, o, lse, dO, dk, dv,
                                   col_ptr, row_idx, col_classes, smem);
}

// ---- the fast backward: dk, dv per key tile, dq by fp32 atomics -------------
//
// attention_bwd_atomic: one CTA per NK key rows (16 per warp), walking its
// block column (CSC) in query tiles of BQ, five products per tile pair
// instead of the deterministic kernel's seven:
//   S^T = K Q^T, P^T, dP^T = V dO^T, dS^T = P^T (dP^T - delta)
//   dV += P^T dO, dK += dS^T Q                (registers, as above)
//   dQ_tile = dS K                            (dS^T through shared memory;
//                                              warps split the tile's rows
//                                              and columns)
//   dq_acc[tile rows] += scale dQ_tile        (fp32 atomics)
// delta = rowsum(dO * O) comes from attention_bwd_prep, which also zeroes
// dq_acc; a cast turns dq_acc into dq. The atomics make the order of dq's
// additions (its low bits) vary between runs: `stc compile --deterministic`
// keeps attention_bwd_mma instead.
//
// Shared memory (bytes): K, V [NK][D]; Q, dO [2][BQ][D]; dS^T [NK][BQ];
// lse2, delta [2][BQ] f32.
//
// With Cfg::WGMMA (D = NK = BQ = 64: one warpgroup) and compiled for sm_90a
// (STC_WGMMA), the five products are warpgroup-wide wgmma on the same tiles:
// S^T and dP^T with both operands in shared memory, dV and dK with P^T and
// dS^T from the registers (dO and Q MN-major), dQ with dS^T read as an
// M-major A from shared memory and K MN-major. dV, dK and dQ are issued
// together and overlap with each other. With Cfg::DQ_BULK (the default
// with wgmma) each warp writes its 16 rows of the dQ tile to shared memory
// and adds them to dq_acc with one bulk reduction per row
// (cp.reduce.async.bulk) instead of 16 atomics per thread; shared memory:
// + a [BQ][68] f32 tile. The order of the additions still varies.

// Row stride (floats) of the dQ tile the bulk reduction reads: rows stay
// 16-byte aligned, and a warp's writes of its 16 rows spread over the banks.
constexpr int kDqBulkStride = 68;

template <class Cfg>
__host__ __device__ constexpr int attention_bwd_atomic_smem_bytes() {
  return 2 * Cfg::NK * Cfg::D * 2 + 4 * Cfg::BQ * Cfg::D * 2 +
         Cfg::NK * Cfg::BQ * 2 + 4 * Cfg::BQ * 4 +
         (Cfg::DQ_BULK ? Cfg::BQ * kDqBulkStride * 4 : 0);
}

// The A fragment (16 x 16) of A = X^T, rows m0 .. m0 + 15, columns 16 kk ..
// 16 kk + 15, where X is a swizzled bf16 tile [k][COLS] (X's rows are A's
// columns): ldmatrix.trans of X's rows 16 kk ...
template <int COLS>
__device__ __forceinline__ void load_a_trans(unsigned (&a)[4], unsigned tile,
                                             int m0, int kk) {
  const int lane = threadIdx.x & 31, mi = lane >> 3;
  const int row = 16 * kk + (mi >> 1) * 8 + (lane & 7),
            unit = m0 / 8 + (mi & 1);
  mma::ldsm_x4_trans(
      a, tile + mma::swz(static_cast<unsigned>(row * (COLS / 8) + unit) * 16u));
}

// p[0] += x, p[1] += y (one 8-byte atomic on sm_90).
__device__ __forceinline__ void atomic_add2(float *p, float x, float y) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2 *>(p), make_float2(x, y));
#else
  atomicAdd(p, x);
  atomicAdd(p + 1, y);
#endif
}

// dq_acc[rows row0, row0 + 8][columns col0 + 8 j + 2 t4, + 1] += sc x a
// warp's accumulator fragments acc[j] (j < NJ), by 8-byte fp32 atomics;
// rows past T are skipped.
template <int T, int H, int D, int NJ>
__device__ __forceinline__ void dq_atomic_add(float *dq_acc,
                                              const float (&acc)[NJ][4], int b,
                                              int h, int row0, int col0,
                                              float sc, int t4) {
  const int row1 = row0 + 8;
  if (row0 < T) {
    float *out = dq_acc + mma::row_offset<T, H, D>(b, row0, h) + col0 + 2 * t4;
#pragma unroll
    for (int j = 0; j < NJ; ++j)
      atomic_add2(out + j * 8, acc[j][0] * sc, acc[j][1] * sc);
  }
  if (row1 < T) {
    float *out = dq_acc + mma::row_offset<T, H, D>(b, row1, h) + col0 + 2 * t4;
#pragma unroll
    for (int j = 0; j < NJ; ++j)
      atomic_add2(out + j * 8, acc[j][2] * sc, acc[j][3] * sc);
  }
}

template <class Cfg, class L>
__device__ __forceinline__ void attention_bwd_atomic(
    const mma::h16 *__restrict__ q, const mma::h16 *__restrict__ k,
    const mma::h16 *__restrict__ v, const float *__restrict__ lse,
    const mma::h16 *__restrict__ dO, const float *__restrict__ delta,
    float *__restrict__ dq_acc, mma::h16 *__restrict__ dk,
    mma::h16 *__restrict__ dv, const int *__restrict__ col_ptr,
    const int *__restrict__ row_idx, const int *__restrict__ col_classes,
    unsigned char *smem) {
  using namespace mma;
  constexpr int T = Cfg::T, H = Cfg::H, D = Cfg::D, BM = Cfg::BQ,
                BN = Cfg::NK, NT = BN * 2, WARPS = BN / 16;
  constexpr int NQ = BM / 8, ND = D / 8;
  // dQ = dS K: RG groups of 16 query rows x CG groups of DC columns.
  constexpr int RG = BM / 16, CG = WARPS / RG, DC = D / CG, NDQ = DC / 8;
  static_assert(L::block % BN == 0, "a CTA's keys lie in one block column");
  static_assert(WARPS % RG == 0 && DC % 16 == 0, "dQ tiling");
  constexpr bool kWgmma = STC_WGMMA && Cfg::WGMMA;
  static_assert(!Cfg::WGMMA || (D == 64 && BN == 64 && BM == 64),
                "the wgmma backward takes D = 64 and 64 x 64 tiles");
  constexpr unsigned TILE_K = BN * D * 2, TILE_Q = BM * D * 2;
  const unsigned sK = smem_addr(smem), sV = sK + TILE_K, sQ = sV + TILE_K,
                 sdO = sQ + 2 * TILE_Q, sdS = sdO + 2 * TILE_Q;
  unsigned char *dS_bytes = smem + (sdS - sK);
  float *sLse = reinterpret_cast<float *>(smem + 2 * TILE_K + 4 * TILE_Q +
                                          BN * BM * 2);
  float *sDelta = sLse + 2 * BM;
  constexpr bool kBulk = kWgmma && Cfg::DQ_BULK;
  static_assert(!Cfg::DQ_BULK || Cfg::WGMMA, "DQ_BULK goes with WGMMA");
  const unsigned sDq =
      smem_addr(smem) + 2 * TILE_K + 4 * TILE_Q + BN * BM * 2 + 4 * BM * 4;
  float *dqTile = reinterpret_cast<float *>(smem + (sDq - sK));

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t4 = lane & 3;
  const int h = blockIdx.y, b = blockIdx.z, k0 = blockIdx.x * BN;
  const int key0 = k0 + warp * 16 + g, key1 = key0 + 8;
  const float sc = Cfg::scale;
  const long long bh = (static_cast<long long>(b) * H + h) * T;
  const float *lse_bh = lse + bh, *delta_bh = delta + bh;

  ColTiles<T, BM, BN, NT, L> tiles(col_ptr, row_idx, col_classes, k0);
  load_tile<NT, BN, T, H, D, KeyRows<Cfg>>(sK, k, b, h, k0);
  load_tile<NT, BN, T, H, D, KeyRows<Cfg>>(sV, v, b, h, k0);
  auto loadQueries = [&](int stage, int qc) {
    load_tile<NT, BM, T, H, D>(sQ + stage * TILE_Q, q, b, h, qc);
    load_tile<NT, BM, T, H, D>(sdO + stage * TILE_Q, dO, b, h, qc);
    for (int i = threadIdx.x; i < BM; i += NT) {
      sLse[stage * BM + i] = lse2_of<T>(lse_bh, qc + i);
      sDelta[stage * BM + i] = qc + i < T ? delta_bh[qc + i] : 0.f;
    }
  };
  bool have = tiles.next();
  if (have)
    loadQueries(0, tiles.qc);
  cp_async_commit();
  if (!have)
    cp_async_wait<0>();

  float dkAcc[ND][4], dvAcc[ND][4];
#pragma unroll
  for (int j = 0; j < ND; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      dkAcc[j][e] = dvAcc[j][e] = 0.f;
  int stage = 0;

  while (have) {
    const int qc = tiles.qc;
    const bool full = tiles.full;
    const bool haveNext = tiles.next();
    cp_async_wait<0>();
#if STC_WGMMA
    if constexpr (kWgmma)
      wg::fence_smem(); // the tiles, written by cp.async, are read by wgmma
#endif
    __syncthreads(); // this stage is in; the other stage and dS^T are free
    if (haveNext)
      loadQueries(stage ^ 1, tiles.qc);
    cp_async_commit();
    const unsigned tQ = sQ + stage * TILE_Q, tdO = sdO + stage * TILE_Q;

    // S^T = K Q^T and dP^T = V dO^T for this warp's 16 keys x BM queries.
    float s[NQ][4], dp[NQ][4];
    if constexpr (kWgmma) {
#if STC_WGMMA
      wg::fence();
      wg::mma_ss<0, 0>(s, sK, tQ, false);
      wg::mma_ss<0, 0>(dp, sV, tdO, false);
      wg::commit();
      wg::wait<0>();
      wg::hold(s);
      wg::hold(dp);
#endif
    } else {
      bwd_scores_mma<D>(s, dp, sK, sV, tQ, tdO, warp);
    }
    // P^T and dS^T (columns are queries); dS^T also to shared memory, as
    // bf16 rows of BM queries, for dQ.
    const float *lse2 = sLse + stage * BM, *dl = sDelta + stage * BM;
#pragma unroll
    for (int j = 0; j < NQ; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = j * 8 + 2 * t4 + (e & 1);
        const int qq = qc + col, kk = e < 2 ? key0 : key1;
        float dm = 1.f;
        float p =
            exp2_ftz(scaled_score<Cfg>(s[j][e], qq, kk, h, &dm) - lse2[col]);
        if (!full && !(kk <= qq && L::allowed(qq, kk)))
          p = 0.f;
        s[j][e] = p;
        dp[j][e] = p * (dp[j][e] - dl[col]) * dm;
      }
      const unsigned r0 = static_cast<unsigned>(warp * 16 + g),
                     c = static_cast<unsigned>(j * 8 + 2 * t4) * 2u;
      *reinterpret_cast<unsigned *>(dS_bytes + swz(r0 * BM * 2u + c)) =
          pack_h16(dp[j][0], dp[j][1]);
      *reinterpret_cast<unsigned *>(dS_bytes + swz((r0 + 8) * BM * 2u + c)) =
          pack_h16(dp[j][2], dp[j][3]);
    }
    // dV += P^T dO and dK += dS^T Q.
    unsigned pa[NQ / 2][4], da[NQ / 2][4];
#pragma unroll
    for (int kk = 0; kk < NQ / 2; ++kk) {
      pa[kk][0] = pack_h16(s[2 * kk][0], s[2 * kk][1]);
      pa[kk][1] = pack_h16(s[2 * kk][2], s[2 * kk][3]);
      pa[kk][2] = pack_h16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      pa[kk][3] = pack_h16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
      da[kk][0] = pack_h16(dp[2 * kk][0], dp[2 * kk][1]);
      da[kk][1] = pack_h16(dp[2 * kk][2], dp[2 * kk][3]);
      da[kk][2] = pack_h16(dp[2 * kk + 1][0], dp[2 * kk + 1][1]);
      da[kk][3] = pack_h16(dp[2 * kk + 1][2], dp[2 * kk + 1][3]);
    }
    if constexpr (kWgmma) {
#if STC_WGMMA
      // dV, dK, then (once every warp's dS^T is in shared memory) dQ, all
      // in flight together; dQ's accumulator starts at zero (no accumulate).
      float acc[8][4];
      wg::fence();
      wg::mma_rs<1>(dvAcc, pa, tdO);
      wg::mma_rs<1>(dkAcc, da, tQ);
      wg::commit();
      wg::fence_smem(); // dS^T, written by st.shared, is read by wgmma
      __syncthreads();  // dS^T complete
      wg::mma_ss<1, 1>(acc, sdS, sK, false);
      wg::commit();
      wg::wait<0>();
      wg::hold(acc);
      wg::hold(dkAcc);
      wg::hold(dvAcc);
      if constexpr (kBulk) {
        // This warp's rows 16 warp .. + 15 of the tile: free once its
        // previous reductions have read them.
        if (lane < 16)
          wg::bulk_wait_read();
        __syncwarp();
        float *r0p = dqTile + (warp * 16 + g) * kDqBulkStride + 2 * t4,
              *r1p = r0p + 8 * kDqBulkStride;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          *reinterpret_cast<float2 *>(r0p + j * 8) =
              make_float2(acc[j][0] * sc, acc[j][1] * sc);
          *reinterpret_cast<float2 *>(r1p + j * 8) =
              make_float2(acc[j][2] * sc, acc[j][3] * sc);
        }
        wg::fence_smem(); // written by st.shared, read by the bulk engine
        __syncwarp();
        const int row = qc + warp * 16 + lane;
        if (lane < 16 && row < T) {
          wg::bulk_reduce_add_f32(
              dq_acc + row_offset<T, H, D>(b, row, h),
              sDq + static_cast<unsigned>((warp * 16 + lane) * kDqBulkStride * 4),
              D * 4);
          wg::bulk_commit();
        }
      } else {
        dq_atomic_add<T, H, D>(dq_acc, acc, b, h, qc + warp * 16 + g, 0, sc,
                               t4);
      }
#endif
    } else {
#pragma unroll
      for (int kk = 0; kk < NQ / 2; ++kk) {
#pragma unroll
        for (int j = 0; j < ND; j += 2) {
          unsigned bo[4], bq[4];
          load_b_cols<D>(bo, tdO, kk, j);
          mma16816(dvAcc[j], pa[kk], bo[0], bo[1]);
          mma16816(dvAcc[j + 1], pa[kk], bo[2], bo[3]);
          load_b_cols<D>(bq, tQ, kk, j);
          mma16816(dkAcc[j], da[kk], bq[0], bq[1]);
          mma16816(dkAcc[j + 1], da[kk], bq[2], bq[3]);
        }
      }
      __syncthreads(); // dS^T complete

      // dQ rows 16 rg .. 16 rg + 15, columns cg DC .. cg DC + DC - 1 of the
      // tile, over the CTA's BN keys.
      {
        const int rg = warp % RG, cg = warp / RG;
        float acc[NDQ][4];
#pragma unroll
        for (int j = 0; j < NDQ; ++j)
          acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < BN / 16; ++kk) {
          unsigned a[4];
          load_a_trans<BM>(a, sdS, rg * 16, kk);
#pragma unroll
          for (int j = 0; j < NDQ; j += 2) {
            unsigned bk[4];
            load_b_cols<D>(bk, sK, kk, cg * (DC / 8) + j);
            mma16816(acc[j], a, bk[0], bk[1]);
            mma16816(acc[j + 1], a, bk[2], bk[3]);
          }
        }
        dq_atomic_add<T, H, D>(dq_acc, acc, b, h, qc + rg * 16 + g, cg * DC,
                               sc, t4);
      }
    }
    stage ^= 1;
    have = haveNext;
  }
#if STC_WGMMA
  if constexpr (kBulk)
    if (lane < 16)
      wg::bulk_wait(); // the reductions are done before the CTA's memory goes
#endif

  store_dkdv<Cfg, D>(dk, dv, dkAcc, dvAcc, b, h, key0, sc, t4);
}

} // namespace stc

#endif // STC_DEVICE_ATTENTION_BWD_MMA_CUH
