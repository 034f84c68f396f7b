// attention_common.cuh - pieces shared by the block-sparse attention kernels.
//
// Tensor layouts (docs/artifact-format.md): q, k (B,T,H,dk); v, o, do
// (B,T,H,dv); lse (B,H,T) f32. Head h uses layout L = layouts[h / hpl]:
// CSR row_ptr / col_idx / classes by query block, CSC col_ptr / row_idx /
// col_classes by key block; class 2 = full (no mask), 1 = partial (mask with
// L::allowed). The emitter generates one struct per layout:
//   struct L { static constexpr int block; static bool allowed(int q, int k); }
// where allowed() is the pattern alone; kernels add the bounds themselves
// (k <= q always; positions >= T are never visited), also in full blocks, so
// a full diagonal block or a ragged last block is safe too.
//
// Every kernel visits only listed blocks (never the upper triangle, which the
// layout does not list) and never materializes a T x T matrix: keys (or
// queries, in the dk/dv pass) are staged through shared memory in chunks of
// Cfg::KT positions, one lane per position for the dot products.

#ifndef STC_DEVICE_ATTENTION_COMMON_CUH
#define STC_DEVICE_ATTENTION_COMMON_CUH

namespace stc {

constexpr int kBlockFull = 2;

// Offset of element (b, t, h, 0) of a (B,T,H,D) tensor.
template <int T, int H, int D>
__device__ __forceinline__ long long bthd(int b, int t, int h) {
  return ((static_cast<long long>(b) * T + t) * H + h) *
         static_cast<long long>(D);
}

// Which row of a tensor holds position t of an attention op: the row itself
// (SameRows), or for the keys of an op with gather_block l and
// gather_summary c (abi/Ops.def, attention_fwd) fixed(l, c)'s t-th summary
// column, T when there is none (the row is absent: loads give zeros, stores
// are dropped). Cfg::GATHER_SUMMARY is 0 without a gather.
struct SameRows {
  __device__ __forceinline__ static int row(int t) { return t; }
};
template <class Cfg> struct KeyRows {
  // t >= 0. Unsigned 32-bit arithmetic where every row fits (the loads of
  // the forward's inner loop map each 16-byte chunk: signed 64-bit division
  // there cost the gathered forward 15%, bench/attention/LOG.md).
  __device__ __forceinline__ static int row(int t) {
    if constexpr (Cfg::GATHER_SUMMARY == 0) {
      return t;
    } else if constexpr (static_cast<long long>(Cfg::T) / Cfg::GATHER_SUMMARY *
                                 Cfg::GATHER_BLOCK +
                             Cfg::GATHER_BLOCK <
                         (1LL << 31)) {
      constexpr unsigned l = Cfg::GATHER_BLOCK, c = Cfg::GATHER_SUMMARY;
      const unsigned u = static_cast<unsigned>(t);
      const unsigned r = u / c * l + (l - c) + u % c;
      return r < static_cast<unsigned>(Cfg::T) ? static_cast<int>(r) : Cfg::T;
    } else {
      constexpr long long l = Cfg::GATHER_BLOCK, c = Cfg::GATHER_SUMMARY;
      const long long r = t / c * l + (l - c) + t % c;
      return r < Cfg::T ? static_cast<int>(r) : Cfg::T;
    }
  }
};

// x (or x + the value at p, with ACC: the op accumulates into dk, dv).
template <bool ACC, typename TS>
__device__ __forceinline__ void store_acc(TS *p, long long i, float x) {
  if constexpr (ACC)
    x += load(p, i);
  store(p, i, x);
}

// Stages positions t0 .. t0+n-1 (rows Rows::row(t), zeros for absent rows)
// of head (b, h) of a (B,T,H,D) tensor into shared memory as fp32 rows of
// stride STR (STR odd, so lanes reading different rows at the same column
// hit different banks). All NT threads take part.
template <int NT, int T, int H, int D, int STR, class Rows = SameRows,
          typename TS>
__device__ __forceinline__ void stage_rows(float *dst,
                                           const TS *__restrict__ src, int b,
                                           int t0, int h, int n) {
  for (int idx = threadIdx.x; idx < n * D; idx += NT) {
    const int j = idx / D, d = idx - j * D;
    const int t = Rows::row(t0 + j);
    dst[j * STR + d] = t < T ? load(src, bthd<T, H, D>(b, t, h) + d) : 0.f;
  }
}

// Position t (row Rows::row(t); zeros if absent) of head (b, h) into shared
// memory by one warp.
template <int T, int H, int D, class Rows = SameRows, typename TS>
__device__ __forceinline__ void
warp_stage_row(float *dst, const TS *__restrict__ src, int b, int t, int h) {
  const int r = Rows::row(t);
  const long long base = bthd<T, H, D>(b, r < T ? r : 0, h);
  for (int d = threadIdx.x & 31; d < D; d += 32)
    dst[d] = r < T ? load(src, base + d) : 0.f;
}

// Whether any (query, key) pair of the rows [q0, q0 + nq) x keys [k0, k0 + nk)
// is allowed (bounds included). Called by all NT threads of the CTA, and a
// barrier like __syncthreads. Partial blocks are often mostly empty (a fixed
// pattern's summary columns are a quarter of its off-diagonal blocks), so the
// kernels ask this before staging a chunk of a partial block and skip the
// chunk when the answer is no: one predicate evaluation per thread instead of
// loading KT rows of K and V.
template <int NT, int T, class L>
__device__ __forceinline__ bool chunk_has_pair(int q0, int nq, int k0, int nk) {
  bool any = false;
  for (int idx = threadIdx.x; idx < nq * nk && !any; idx += NT) {
    const int qq = q0 + idx / nk, kk = k0 + idx % nk;
    any = qq < T && kk <= qq && L::allowed(qq, kk);
  }
  return __syncthreads_or(any) != 0;
}

// Score modifications (abi/Ops.def, attention_fwd; st score_mods): the
// kernels score s = scale q.k for query position q, key position k, head h
// and, when the op has any, replace it by score_mod(s) and multiply dL/ds by
// its derivative in the backward. Cfg::SOFTCAP and Cfg::ALIBI are 0 when
// absent; has_score_mod() is false then and the kernels' code is as before.
template <class Cfg> __host__ __device__ constexpr bool has_score_mod() {
  return Cfg::SOFTCAP != 0.f || Cfg::ALIBI != 0.f;
}

// The modified score; *ds gets its derivative by s. FAST takes tanh from
// the hardware approximation (tanh.approx.f32, relative error about 2^-11:
// for the bf16 tensor-core kernels, whose P is rounded to bf16 anyway);
// the fp32 kernels keep tanhf.
template <class Cfg, bool FAST = false>
__device__ __forceinline__ float score_mod(float s, int q, int k, int h,
                                           float *ds) {
  float bias = 0.f; // ALiBi: slope 2^(-ALIBI (h + 1) / H) times q - k
  if constexpr (Cfg::ALIBI != 0.f)
    bias = exp2f(-Cfg::ALIBI * static_cast<float>(h + 1) /
                 static_cast<float>(Cfg::H)) *
           static_cast<float>(q - k);
  float d = 1.f;
  if constexpr (Cfg::ALIBI_FIRST)
    s -= bias;
  if constexpr (Cfg::SOFTCAP != 0.f) {
    const float x = s * (1.f / Cfg::SOFTCAP);
    float t;
    if constexpr (FAST)
      asm("tanh.approx.f32 %0, %1;" : "=f"(t) : "f"(x));
    else
      t = tanhf(x);
    s = Cfg::SOFTCAP * t;
    d = 1.f - t * t;
  }
  if constexpr (!Cfg::ALIBI_FIRST)
    s -= bias;
  *ds = d;
  return s;
}

// Dot product of two fp32 shared-memory rows.
template <int D>
__device__ __forceinline__ float smem_dot(const float *a, const float *b) {
  float s = 0.f;
#pragma unroll 8
  for (int d = 0; d < D; ++d)
    s += a[d] * b[d];
  return s;
}

// attention_bwd_prep: delta[b, h, t] = rowsum(dO * O) (over dv) and
// dq_acc = 0, for the atomic backward (attention_bwd_mma.cuh). A warp per
// (b, t, h) row, grid-stride.
template <class Cfg, typename TO, typename TDO>
__device__ __forceinline__ void
attention_bwd_prep_kernel(const TO *__restrict__ o, const TDO *__restrict__ dO,
                          float *__restrict__ delta,
                          float *__restrict__ dq_acc) {
  constexpr long long ROWS =
      static_cast<long long>(Cfg::B) * Cfg::T * Cfg::H;
  const int lane = threadIdx.x & 31;
  const long long warps = global_stride() >> 5;
  for (long long r = global_thread() >> 5; r < ROWS; r += warps) {
    const long long ob = r * Cfg::DV; // r = (b T + t) H + h
    float s = 0.f;
    for (int d = lane; d < Cfg::DV; d += 32)
      s += load(dO, ob + d) * load(o, ob + d);
    s = warp_sum(s);
    const long long h = r % Cfg::H, bt = r / Cfg::H;
    if (lane == 0)
      delta[((bt / Cfg::T) * Cfg::H + h) * Cfg::T + bt % Cfg::T] = s;
    float *z = dq_acc + r * Cfg::DK;
    for (int d = lane; d < Cfg::DK; d += 32)
      z[d] = 0.f;
  }
}

} // namespace stc

#endif // STC_DEVICE_ATTENTION_COMMON_CUH
