// summary.cuh - the fixed pattern's summary split (pattern/Normalize.h):
// summary_gather, summary_scatter and attention_merge.
//
// Grid-stride loops, one output element per thread: consecutive threads take
// consecutive columns of one row, so every load and store is coalesced.
// summary_scatter is written as a gather too (each output row knows whether
// it is a summary column and which), so it needs no atomics and writes every
// element once. Outputs never alias inputs.

#ifndef STC_DEVICE_SUMMARY_CUH
#define STC_DEVICE_SUMMARY_CUH

namespace stc {

// Summary columns of fixed(block, summary) among positions [0, T).
template <class Cfg> __device__ __forceinline__ long long summary_count() {
  constexpr long long l = Cfg::block, c = Cfg::summary;
  constexpr long long tail = Cfg::T % l - (l - c);
  return Cfg::T / l * c + (tail > 0 ? tail : 0);
}

// y row s < S = x row (s / c) * l + (l - c) + s % c; rows from S on: 0.
template <class Cfg, typename TX, typename TY>
__device__ __forceinline__ void summary_gather_kernel(const TX *__restrict__ x,
                                                      TY *__restrict__ y) {
  constexpr long long total = Cfg::B * Cfg::T * Cfg::D;
  constexpr long long l = Cfg::block, c = Cfg::summary;
  const long long count = summary_count<Cfg>();
  for (long long e = global_thread(); e < total; e += global_stride()) {
    const long long d = e % Cfg::D, row = e / Cfg::D;
    const long long s = row % Cfg::T, base = row - s;
    float v = 0.f;
    if (s < count)
      v = load(x, (base + s / c * l + (l - c) + s % c) * Cfg::D + d);
    store(y, e, v);
  }
}

// x row t = y row s where t is the s-th summary column; 0 elsewhere.
// Cfg::accumulate: x row t += y row s, over the summary columns alone.
template <class Cfg, typename TY, typename TX>
__device__ __forceinline__ void summary_scatter_kernel(const TY *__restrict__ y,
                                                       TX *__restrict__ x) {
  constexpr long long l = Cfg::block, c = Cfg::summary;
  if constexpr (Cfg::accumulate) {
    const long long count = summary_count<Cfg>();
    const long long total = Cfg::B * count * Cfg::D;
    for (long long e = global_thread(); e < total; e += global_stride()) {
      const long long d = e % Cfg::D, row = e / Cfg::D;
      const long long s = row % count, b = row / count;
      const long long src = (b * Cfg::T + s) * Cfg::D + d;
      const long long dst =
          (b * Cfg::T + s / c * l + (l - c) + s % c) * Cfg::D + d;
      store(x, dst, load(x, dst) + load(y, src));
    }
    return;
  }
  constexpr long long total = Cfg::B * Cfg::T * Cfg::D;
  for (long long e = global_thread(); e < total; e += global_stride()) {
    const long long d = e % Cfg::D, row = e / Cfg::D;
    const long long t = row % Cfg::T, base = row - t;
    const long long within = t % l;
    float v = 0.f;
    if (within >= l - c)
      v = load(y, (base + t / l * c + within - (l - c)) * Cfg::D + d);
    store(x, e, v);
  }
}

// o, lse = the attention over the union of two disjoint key sets, from each
// set's o and lse (natural log; -inf: no key).
template <class Cfg, typename TO>
__device__ __forceinline__ void attention_merge_kernel(
    const TO *__restrict__ o1, const float *__restrict__ lse1,
    const TO *__restrict__ o2, const float *__restrict__ lse2,
    TO *__restrict__ o, float *__restrict__ lse) {
  constexpr long long total = Cfg::B * Cfg::T * Cfg::H * Cfg::dv;
  for (long long e = global_thread(); e < total; e += global_stride()) {
    const long long col = e % Cfg::dv, bth = e / Cfg::dv; // (b, t, h)
    const long long h = bth % Cfg::H, bt = bth / Cfg::H;
    const long long t = bt % Cfg::T, b = bt / Cfg::T;
    const long long r = (b * Cfg::H + h) * Cfg::T + t;
    const float l1 = lse1[r], l2 = lse2[r];
    const float m = fmaxf(l1, l2);
    if (m == neg_inf()) {
      store(o, e, 0.f);
      if (col == 0)
        lse[r] = neg_inf();
      continue;
    }
    const float w1 = __expf(l1 - m), w2 = __expf(l2 - m);
    const float sum = w1 + w2;
    store(o, e, (w1 * load(o1, e) + w2 * load(o2, e)) / sum);
    if (col == 0)
      lse[r] = m + __logf(sum);
  }
}

} // namespace stc

#endif // STC_DEVICE_SUMMARY_CUH
