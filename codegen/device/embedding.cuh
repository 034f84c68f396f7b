// embedding.cuh - token + position embedding, forward and backward.
//
// out[r,:] = table[tokens[r],:] + sum_p pos_p[(t / div_p) mod mod_p, :], with
// t = r mod T (a batch of sequences) or t = scalars[3] (Cfg::decode: the
// sample step embeds each sequence's token, a row each, at the sampling
// position). The position
// components differ per op (count, dtypes, div/mod), so the emitter generates
// a small functor `Pos` with add(acc, t, d) for the forward, and one
// embed_bwd_pos_kernel instantiation per component for the backward.
//
// Token ids are checked on the host by the executor before a step; a bad id
// still must not fault here: the forward writes NaN for that row (so the loss
// shows it) and the backward skips it (no warp owns it). The backward is
// deterministic: no atomics anywhere.

#ifndef STC_DEVICE_EMBEDDING_CUH
#define STC_DEVICE_EMBEDDING_CUH

namespace stc {

template <class Cfg>
__device__ __forceinline__ long long embed_position(long long r,
                                                    const void *scalars) {
  return Cfg::decode ? static_cast<long long>(scalar_pos(scalars))
                     : r % Cfg::T;
}

// tokens (rows) i32, table (V,D), pos_p (mod_p,D) [in Pos] -> out (rows,D)
// One thread per output element, consecutive threads along D (coalesced).
template <class Cfg, typename TT, typename TO, class Pos>
__device__ __forceinline__ void
embed_fwd_kernel(const int *tokens, const TT *table, TO *out, const Pos &pos,
                 const void *scalars) {
  constexpr long long total = Cfg::rows * Cfg::D;
  for (long long i = global_thread(); i < total; i += global_stride()) {
    const long long r = i / Cfg::D, d = i % Cfg::D;
    const int tok = tokens[r];
    if (tok < 0 || tok >= Cfg::V) {
      store(out, i, quiet_nan());
      continue;
    }
    // Same order as the CPU reference: table first, then each component.
    const long long t = embed_position<Cfg>(r, scalars);
    if (t < 0) { // decode with a negative scalars[3]: no position row to read
      store(out, i, quiet_nan());
      continue;
    }
    float acc = load(table, static_cast<long long>(tok) * Cfg::D + d);
    pos.add(acc, t, d);
    store(out, i, acc);
  }
}

// tokens (rows), dout (rows,D) -> dtable (V,D) +=
// Deterministic gather instead of an atomic scatter: warp v (of the table
// CTAs' warps) owns row v of dtable. For each chunk of 32 columns it scans the
// tokens 32 at a time (a ballot finds the rows holding v), adds those rows'
// dout in ascending row order in fp32, and adds the sum to dtable once: the
// same order and precision as the CPU reference, every step alike. Work:
// rows * D adds plus V * rows * D / 1024 token reads.
template <class Cfg, typename TDO, typename TDT>
__device__ __forceinline__ void
embed_bwd_table_kernel(const int *tokens, const TDO *dout, TDT *dtable,
                       long long block) {
  const long long v = (block * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (v >= Cfg::V) // whole warps: V is uniform within one
    return;
  for (long long d0 = 0; d0 < Cfg::D; d0 += 32) {
    const long long d = d0 + lane;
    float acc = 0.f;
    for (long long base = 0; base < Cfg::rows; base += 32) {
      const long long r = base + lane;
      const bool hit = r < Cfg::rows && tokens[r] == v;
      unsigned mask = __ballot_sync(0xffffffffu, hit);
      while (mask) {
        const int j = __ffs(mask) - 1;
        mask &= mask - 1;
        if (d < Cfg::D)
          acc += load(dout, (base + j) * Cfg::D + d);
      }
    }
    if (d < Cfg::D) {
      const long long i = v * Cfg::D + d;
      store(dtable, i, load(dtable, i) + acc);
    }
  }
}

// dout (rows,D) -> dpos (MOD,D) += for one position component (DIV, MOD).
// Deterministic gather instead of a scatter: one thread owns dpos[idx, d] and
// visits exactly the rows whose position maps to idx, i.e. t in
// [(idx + j MOD) DIV, (idx + j MOD) DIV + DIV) for j = 0, 1, ..., and every
// sequence b (r = t + b T). Total work is rows * D per component.
template <class Cfg, long long DIV, long long MOD, typename TDO, typename TDP>
__device__ __forceinline__ void embed_bwd_pos_kernel(const TDO *dout, TDP *dpos,
                                                     long long block,
                                                     const void *scalars) {
  const long long i = block * blockDim.x + threadIdx.x;
  if (i >= MOD * Cfg::D)
    return;
  const long long idx = i / Cfg::D, d = i % Cfg::D;
  float acc = 0.f;
  if (Cfg::decode) {
    // A handful of rows at t = scalars[3] + r: test each.
    const long long t0 = scalar_pos(scalars);
    for (long long r = 0; r < Cfg::rows; ++r)
      if (((t0 + r) / DIV) % MOD == idx)
        acc += load(dout, r * Cfg::D + d);
  } else {
    for (long long start = idx * DIV; start < Cfg::T; start += MOD * DIV) {
      const long long end = start + DIV < Cfg::T ? start + DIV : Cfg::T;
      for (long long t = start; t < end; ++t)
        for (long long r = t; r < Cfg::rows; r += Cfg::T)
          acc += load(dout, r * Cfg::D + d);
    }
  }
  store(dpos, i, load(dpos, i) + acc);
}

} // namespace stc

#endif // STC_DEVICE_EMBEDDING_CUH
