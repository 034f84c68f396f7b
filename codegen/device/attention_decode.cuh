// attention_decode.cuh - one query per sequence over the key/value caches
// (sampling).
//
// The query sits at pos = scalars[3]; it attends to cached keys k <= pos that
// its head's pattern allows, i.e. the listed blocks of query block row
// pos / block of the layout (row_ptr / col_idx / classes). Grid (H, B,
// SPLITS), one CTA of WARPS warps per head, sequence and split (each sequence
// has its own caches, all at the same position): the key chunks of 32 the
// CTA owns are dealt round-robin to its warps; each warp keeps its own
// online softmax (m, l, acc) over its chunks (lane j scores key j, reading
// the cache row from global memory 16 bytes at a time), and the warps'
// states are merged in
// shared memory in warp order at the end (deterministic). With SPLITS = 1
// the CTA owns every key and writes o; a query with no allowed key gets
// o = 0, like the CPU reference; so does a pos outside [0, T) (the executor
// checks pos on the host; the CPU executor reports it as an error). With
// SPLITS > 1 (flash-decoding: a sequence's keys spread over SPLITS CTAs, so
// that a few sequences still fill the GPU) split z owns the keys k with
// (k / 32) mod SPLITS = z and writes its softmax state (stats = [m, l],
// acc) for attention_decode_combine_kernel to merge.

#ifndef STC_DEVICE_ATTENTION_DECODE_CUH
#define STC_DEVICE_ATTENTION_DECODE_CUH

namespace stc {

// q . k for a DK-row of the key cache at element kr (16-byte aligned: DK is
// a multiple of 8, abi/Limits.h): 16-byte loads, 8 bf16 / f16 or 4 floats each,
// instead of one load per element.
template <int DK>
__device__ __forceinline__ float decode_dot(const float *qs, const float *k,
                                            long long kr) {
  const float4 *p = reinterpret_cast<const float4 *>(k + kr);
  float dot = 0.f;
#pragma unroll 4
  for (int c = 0; c < DK / 4; ++c) {
    const float4 u = __ldg(p + c);
    dot += qs[4 * c] * u.x + qs[4 * c + 1] * u.y + qs[4 * c + 2] * u.z +
           qs[4 * c + 3] * u.w;
  }
  return dot;
}
// The same over 16-bit keys (bf16, f16): 8 per load, widened in pairs.
template <int DK, typename H>
__device__ __forceinline__ float decode_dot(const float *qs, const H *k,
                                            long long kr) {
  typedef typename Pair<H>::type H2;
  const uint4 *p = reinterpret_cast<const uint4 *>(k + kr);
  float dot = 0.f;
#pragma unroll 2
  for (int c = 0; c < DK / 8; ++c) {
    const uint4 u = __ldg(p + c);
    const H2 *h = reinterpret_cast<const H2 *>(&u);
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      const float2 f = widen2(h[t]);
      dot += qs[8 * c + 2 * t] * f.x + qs[8 * c + 2 * t + 1] * f.y;
    }
  }
  return dot;
}

// q (B,H,DK), kcache (B,T,H,DK), vcache (B,T,H,DV) -> o (B,H,DV), or with
// SPLITS > 1 -> stats (B,H,SPLITS,2), acc (B,H,SPLITS,DV)
template <class Cfg, class L, typename TQ, typename TK, typename TV,
          typename TO>
__device__ __forceinline__ void
attention_decode_kernel(const TQ *__restrict__ q, const TK *__restrict__ kcache,
                        const TV *__restrict__ vcache, TO *__restrict__ o,
                        float *__restrict__ stats, float *__restrict__ accOut,
                        const int *__restrict__ row_ptr,
                        const int *__restrict__ col_idx,
                        const int *__restrict__ classes, const void *scalars) {
  constexpr int T = Cfg::T, H = Cfg::H, DK = Cfg::DK, DV = Cfg::DV;
  constexpr int W = Cfg::WARPS, NT = W * 32, NV = (DV + 31) / 32;
  constexpr int S = Cfg::SPLITS;
  static_assert(DK % 8 == 0, "decode_dot reads key rows 16 bytes at a time");
  __shared__ float qs[DK];
  __shared__ float wm[W], wl[W];
  __shared__ float wacc[W][DV];

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int h = blockIdx.x, split = blockIdx.z;
  const long long b = blockIdx.y;
  // This sequence's query and output row and caches; this split's state.
  const long long qrow = (b * H + h) * DK, orow = (b * H + h) * DV;
  const long long part = (b * H + h) * S + split;
  kcache += b * T * H * DK;
  vcache += b * T * H * DV;
  const int pos = scalar_pos(scalars);
  if (pos < 0 || pos >= T) { // uniform over the CTA
    if (S == 1) {
      for (int d = threadIdx.x; d < DV; d += NT)
        store(o, orow + d, 0.f);
    } else {
      for (int d = threadIdx.x; d < DV; d += NT)
        accOut[part * DV + d] = 0.f;
      if (threadIdx.x == 0) {
        stats[2 * part] = neg_inf();
        stats[2 * part + 1] = 0.f;
      }
    }
    return;
  }
  for (int d = threadIdx.x; d < DK; d += NT)
    qs[d] = load(q, qrow + d);
  __syncthreads();

  const float scale = Cfg::scale;
  float m = neg_inf(), l = 0.f;
  float acc[NV];
#pragma unroll
  for (int i = 0; i < NV; ++i)
    acc[i] = 0.f;

  const int r = pos / L::block;
  const int e1 = row_ptr[r + 1];
  int chunk = 0; // chunks this CTA owns, dealt to its warps in order
  for (int e = row_ptr[r]; e < e1; ++e) {
    const bool full = classes[e] == kBlockFull;
    const int kb0 = col_idx[e] * L::block;
    const int kb1 = min(min(kb0 + L::block, T), pos + 1);
    for (int kc = kb0; kc < kb1; kc += 32) {
      const int nk = min(32, kb1 - kc);
      // A chunk spans at most two 32-key windows; skip it unless one of
      // them is this split's.
      if (S > 1 && (kc >> 5) % S != split && ((kc + nk - 1) >> 5) % S != split)
        continue;
      if (chunk++ % W != warp)
        continue;
      const int key = kc + lane;
      const bool ok = lane < nk && (S == 1 || (key >> 5) % S == split) &&
                      (full || L::allowed(pos, key));
      float s = neg_inf();
      if (ok) {
        const long long kr = (static_cast<long long>(key) * H + h) * DK;
        s = scale * decode_dot<DK>(qs, kcache, kr);
        if constexpr (has_score_mod<Cfg>()) {
          float unused;
          s = score_mod<Cfg>(s, pos, key, h, &unused);
        }
      }
      const float cm = warp_max(s);
      if (cm == neg_inf())
        continue;
      const float mn = fmaxf(m, cm);
      const float corr = expf(m - mn);
      const float p = ok ? expf(s - mn) : 0.f;
      l = l * corr + warp_sum(p);
#pragma unroll
      for (int i = 0; i < NV; ++i)
        acc[i] *= corr;
      for (int j = 0; j < nk; ++j) {
        const float pj = __shfl_sync(kFullMask, p, j);
        if (pj == 0.f)
          continue;
        const long long vr = (static_cast<long long>(kc + j) * H + h) * DV;
#pragma unroll
        for (int i = 0; i < NV; ++i) {
          const int d = lane + 32 * i;
          if (d < DV)
            acc[i] += pj * load(vcache, vr + d);
        }
      }
      m = mn;
    }
  }
  if (lane == 0) {
    wm[warp] = m;
    wl[warp] = l;
  }
#pragma unroll
  for (int i = 0; i < NV; ++i) {
    const int d = lane + 32 * i;
    if (d < DV)
      wacc[warp][d] = acc[i];
  }
  __syncthreads();
  float M = wm[0];
  for (int w = 1; w < W; ++w)
    M = fmaxf(M, wm[w]);
  float Ls = 0.f;
  if (M != neg_inf())
    for (int w = 0; w < W; ++w)
      Ls += wl[w] * expf(wm[w] - M);
  if (S > 1 && threadIdx.x == 0) {
    stats[2 * part] = M;
    stats[2 * part + 1] = Ls;
  }
  for (int d = threadIdx.x; d < DV; d += NT) {
    float val = 0.f;
    if (Ls > 0.f)
      for (int w = 0; w < W; ++w)
        val += wacc[w][d] * expf(wm[w] - M);
    if (S > 1)
      accOut[part * DV + d] = val;
    else
      store(o, orow + d, Ls > 0.f ? val / Ls : 0.f);
  }
}

// stats (B,H,SPLITS,2), acc (B,H,SPLITS,DV) -> o (B,H,DV): the parts of
// attention_decode_kernel merged in split order. One thread per output
// element, consecutive threads along DV.
template <class Cfg, typename TO>
__device__ __forceinline__ void
attention_decode_combine_kernel(const float *__restrict__ stats,
                                const float *__restrict__ acc,
                                TO *__restrict__ o) {
  constexpr long long DV = Cfg::DV, S = Cfg::SPLITS;
  for (long long i = global_thread(); i < Cfg::B * Cfg::H * DV;
       i += global_stride()) {
    const long long bh = i / DV, d = i % DV;
    const float *st = stats + 2 * bh * S;
    float M = st[0];
    for (long long z = 1; z < S; ++z)
      M = fmaxf(M, st[2 * z]);
    float L = 0.f, val = 0.f;
    if (M != neg_inf())
      for (long long z = 0; z < S; ++z) {
        const float w = expf(st[2 * z] - M);
        L += st[2 * z + 1] * w;
        val += acc[(bh * S + z) * DV + d] * w;
      }
    store(o, i, L > 0.f ? val / L : 0.f);
  }
}

} // namespace stc

#endif // STC_DEVICE_ATTENTION_DECODE_CUH
