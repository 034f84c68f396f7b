// attention_decode.cuh - one query over the key/value caches (sampling).
//
// The query sits at pos = scalars[3]; it attends to cached keys k <= pos that
// its head's pattern allows, i.e. the listed blocks of query block row
// pos / block of the layout (row_ptr / col_idx / classes). Grid (H, B), one
// CTA of WARPS warps per head and sequence (each sequence has its own caches,
// all at the same position): the row's key chunks of 32 are dealt round-robin to
// the warps; each warp keeps its own online softmax (m, l, acc) over its
// chunks (lane j scores key j, reading the cache row from global memory), and
// the warps' states are merged in shared memory in warp order at the end
// (deterministic). A query with no allowed key gets o = 0, like the CPU
// reference; so does a pos outside [0, T) (the executor checks pos on the
// host; the CPU executor reports it as an error).

#ifndef STC_DEVICE_ATTENTION_DECODE_CUH
#define STC_DEVICE_ATTENTION_DECODE_CUH

namespace stc {

// q (B,H,DK), kcache (B,T,H,DK), vcache (B,T,H,DV) -> o (B,H,DV)
template <class Cfg, class L, typename TQ, typename TK, typename TV,
          typename TO>
__device__ __forceinline__ void
attention_decode_kernel(const TQ *__restrict__ q, const TK *__restrict__ kcache,
                        const TV *__restrict__ vcache, TO *__restrict__ o,
                        const int *__restrict__ row_ptr,
                        const int *__restrict__ col_idx,
                        const int *__restrict__ classes, const void *scalars) {
  constexpr int T = Cfg::T, H = Cfg::H, DK = Cfg::DK, DV = Cfg::DV;
  constexpr int W = Cfg::WARPS, NT = W * 32, NV = (DV + 31) / 32;
  __shared__ float qs[DK];
  __shared__ float wm[W], wl[W];
  __shared__ float wacc[W][DV];

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int h = blockIdx.x;
  const long long b = blockIdx.y;
  // This sequence's query and output row and caches.
  const long long qrow = (b * H + h) * DK, orow = (b * H + h) * DV;
  kcache += b * T * H * DK;
  vcache += b * T * H * DV;
  const int pos = scalar_pos(scalars);
  if (pos < 0 || pos >= T) { // uniform over the CTA
    for (int d = threadIdx.x; d < DV; d += NT)
      store(o, orow + d, 0.f);
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
  int chunk = 0;
  for (int e = row_ptr[r]; e < e1; ++e) {
    const bool full = classes[e] == kBlockFull;
    const int kb0 = col_idx[e] * L::block;
    const int kb1 = min(min(kb0 + L::block, T), pos + 1);
    for (int kc = kb0; kc < kb1; kc += 32, ++chunk) {
      if (chunk % W != warp)
        continue;
      const int nk = min(32, kb1 - kc);
      const int key = kc + lane;
      const bool ok = lane < nk && (full || L::allowed(pos, key));
      float s = neg_inf();
      if (ok) {
        const long long kr = (static_cast<long long>(key) * H + h) * DK;
        float dot = 0.f;
#pragma unroll 8
        for (int d = 0; d < DK; ++d)
          dot += qs[d] * load(kcache, kr + d);
        s = scale * dot;
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
  for (int d = threadIdx.x; d < DV; d += NT) {
    float val = 0.f;
    if (Ls > 0.f) {
      for (int w = 0; w < W; ++w)
        val += wacc[w][d] * expf(wm[w] - M);
      val /= Ls;
    }
    store(o, orow + d, val);
  }
}

} // namespace stc

#endif // STC_DEVICE_ATTENTION_DECODE_CUH
