//===- CpuAttention.cpp - Dense-mask reference attention ------------------===//
//
// Softmax attention with the pattern's mask, written the direct way: for each
// query, the keys the pattern allows (AttentionMask), in double. Layout of
// q/k/v/o rows: (b, t) rows of H heads of dk (or dv) values; lse is (b, h, t).
//
//===----------------------------------------------------------------------===//

#include "runtime/cpu/CpuOps.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace stc::rt::cpu {

namespace {

/// Offsets into the (B, T, H, d) and (B, H, T) arrays.
struct Index {
  const AttentionShape &s;
  int64_t qk(int64_t b, int64_t t, int64_t h) const {
    return ((b * s.T + t) * s.H + h) * s.dk;
  }
  int64_t vo(int64_t b, int64_t t, int64_t h) const {
    return ((b * s.T + t) * s.H + h) * s.dv;
  }
  int64_t row(int64_t b, int64_t h, int64_t t) const {
    return (b * s.H + h) * s.T + t;
  }
};

template <typename T> double dot(const T *a, const T *b, int64_t n) {
  double acc = 0;
  for (int64_t i = 0; i < n; ++i)
    acc += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return acc;
}

} // namespace

template <typename T>
void attentionFwd(const T *q, const T *k, const T *v, T *o, T *lse,
                  const AttentionShape &s,
                  const std::vector<const AttentionMask *> &masks) {
  Index ix{s};
  std::vector<int64_t> keys;
  std::vector<double> scores;
  std::vector<double> acc(static_cast<size_t>(s.dv));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h) {
      const AttentionMask &mask = *masks[h / s.headsPerLayout];
      for (int64_t i = 0; i < s.T; ++i) {
        mask.keys(i, keys);
        T *oi = o + ix.vo(b, i, h);
        if (keys.empty()) {
          // No allowed key: define the output as zero (see the doc).
          for (int64_t d = 0; d < s.dv; ++d)
            oi[d] = T(0);
          lse[ix.row(b, h, i)] =
              static_cast<T>(-std::numeric_limits<double>::infinity());
          continue;
        }
        scores.resize(keys.size());
        double mx = -std::numeric_limits<double>::infinity();
        for (size_t j = 0; j < keys.size(); ++j) {
          double unused;
          scores[j] = s.mods.apply(
              s.scale * dot(q + ix.qk(b, i, h), k + ix.qk(b, keys[j], h), s.dk),
              i, keys[j], h, s.H, &unused);
          mx = std::max(mx, scores[j]);
        }
        double sum = 0;
        for (double sc : scores)
          sum += std::exp(sc - mx);
        double l = mx + std::log(sum);
        std::fill(acc.begin(), acc.end(), 0.0);
        for (size_t j = 0; j < keys.size(); ++j) {
          double p = std::exp(scores[j] - l);
          const T *vj = v + ix.vo(b, keys[j], h);
          for (int64_t d = 0; d < s.dv; ++d)
            acc[d] += p * vj[d];
        }
        for (int64_t d = 0; d < s.dv; ++d)
          oi[d] = static_cast<T>(acc[d]);
        lse[ix.row(b, h, i)] = static_cast<T>(l);
      }
    }
}

template <typename T>
void attentionBwd(const T *q, const T *k, const T *v, const T *o, const T *lse,
                  const T *dO, T *dq, T *dk, T *dv, const AttentionShape &s,
                  const std::vector<const AttentionMask *> &masks,
                  const T *delta, bool accumulateDq) {
  Index ix{s};
  // Accumulate in double, then store: dk and dv gather from many queries.
  std::vector<double> gq(static_cast<size_t>(s.B * s.T * s.H * s.dk), 0.0);
  std::vector<double> gk(gq.size(), 0.0);
  std::vector<double> gv(static_cast<size_t>(s.B * s.T * s.H * s.dv), 0.0);
  std::vector<int64_t> keys;
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h) {
      const AttentionMask &mask = *masks[h / s.headsPerLayout];
      for (int64_t i = 0; i < s.T; ++i) {
        double l = lse[ix.row(b, h, i)];
        if (std::isinf(l))
          continue; // no allowed key: o = 0 regardless of q, k, v
        const T *qi = q + ix.qk(b, i, h);
        const T *doi = dO + ix.vo(b, i, h);
        // D_i = dO_i . O_i = sum_j P_ij (dO_i . v_j).
        double Di = delta ? static_cast<double>(delta[ix.row(b, h, i)])
                          : dot(doi, o + ix.vo(b, i, h), s.dv);
        mask.keys(i, keys);
        for (int64_t j : keys) {
          const T *kj = k + ix.qk(b, j, h);
          const T *vj = v + ix.vo(b, j, h);
          double dmod;
          double p = std::exp(
              s.mods.apply(s.scale * dot(qi, kj, s.dk), i, j, h, s.H, &dmod) -
              l);
          double dp = dot(doi, vj, s.dv);
          double ds = p * (dp - Di) * dmod; // dL/d(scale q.k)_ij
          for (int64_t d = 0; d < s.dv; ++d)
            gv[ix.vo(b, j, h) + d] += p * doi[d];
          for (int64_t d = 0; d < s.dk; ++d) {
            gq[ix.qk(b, i, h) + d] += s.scale * ds * kj[d];
            gk[ix.qk(b, j, h) + d] += s.scale * ds * qi[d];
          }
        }
      }
    }
  for (size_t i = 0; i < gq.size(); ++i) {
    dq[i] = static_cast<T>(accumulateDq ? dq[i] + gq[i] : gq[i]);
    dk[i] = static_cast<T>(gk[i]);
  }
  for (size_t i = 0; i < gv.size(); ++i)
    dv[i] = static_cast<T>(gv[i]);
}

template <typename T>
void attentionBwdPrep(const T *o, const T *dO, T *delta, T *dqAcc,
                      const AttentionShape &s) {
  Index ix{s};
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t t = 0; t < s.T; ++t)
      for (int64_t h = 0; h < s.H; ++h)
        delta[ix.row(b, h, t)] = static_cast<T>(
            dot(dO + ix.vo(b, t, h), o + ix.vo(b, t, h), s.dv));
  std::fill(dqAcc, dqAcc + s.B * s.T * s.H * s.dk, T(0));
}

namespace {
/// The sampling position must address a row of the cache.
Status checkPosition(int64_t pos, int64_t Tctx) {
  if (pos < 0 || pos >= Tctx)
    return Status::error("position (scalars[3]) is " + std::to_string(pos) +
                         "; valid: 0 .. " + std::to_string(Tctx - 1));
  return Status::ok();
}

/// The keys a decoding query at `pos` attends to (of `keys`, those
/// `take(k)` accepts), each with its scaled and modified score against head
/// h's cached keys, their
/// largest score m (-inf without keys) and l = sum e^(s - m).
struct ScoredKeys {
  std::vector<std::pair<int64_t, double>> keys; // (key, score)
  double m = -std::numeric_limits<double>::infinity(), l = 0;
};

template <typename T, typename Take>
void scoreKeys(const T *qh, const T *kc, const std::vector<int64_t> &keys,
               int64_t H, int64_t h, int64_t dk, double scale,
               const ScoreMods &mods, int64_t pos, Take take,
               ScoredKeys &out) {
  out.keys.clear();
  double unused;
  for (int64_t k : keys)
    if (take(k))
      out.keys.push_back(
          {k, mods.apply(scale * dot(qh, kc + (k * H + h) * dk, dk), pos, k, h,
                         H, &unused)});
  out.m = -std::numeric_limits<double>::infinity();
  for (const auto &ks : out.keys)
    out.m = std::max(out.m, ks.second);
  out.l = 0;
  for (const auto &ks : out.keys)
    out.l += std::exp(ks.second - out.m);
}

/// out[d] = sum over the scored keys of e^(s - shift) v[k, d] (head h).
template <typename T>
void weightedValues(const ScoredKeys &sk, double shift, const T *vc, int64_t H,
                    int64_t h, int64_t dv, T *out) {
  for (int64_t d = 0; d < dv; ++d) {
    double acc = 0;
    for (const auto &ks : sk.keys)
      acc += std::exp(ks.second - shift) * vc[(ks.first * H + h) * dv + d];
    out[d] = static_cast<T>(acc);
  }
}
} // namespace

template <typename T>
Status kvStore(const T *src, T *cache, int64_t B, int64_t D, int64_t Tctx,
               int64_t pos) {
  STC_RETURN_IF_ERROR(checkPosition(pos, Tctx));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t d = 0; d < D; ++d)
      cache[(b * Tctx + pos) * D + d] = src[b * D + d];
  return Status::ok();
}

template <typename T>
Status attentionDecode(const T *q, const T *kcache, const T *vcache, T *o,
                       int64_t B, int64_t Tctx, int64_t H, int64_t dk,
                       int64_t dv, double scale, int64_t headsPerLayout,
                       const std::vector<const AttentionMask *> &masks,
                       int64_t pos, const ScoreMods &mods) {
  STC_RETURN_IF_ERROR(checkPosition(pos, Tctx));
  // For each sequence, the same computation as attentionFwd's row `pos`,
  // reading keys and values from that sequence's caches.
  std::vector<int64_t> keys;
  ScoredKeys sk;
  for (int64_t b = 0; b < B; ++b) {
    const T *kc = kcache + b * Tctx * H * dk, *vc = vcache + b * Tctx * H * dv;
    for (int64_t h = 0; h < H; ++h) {
      masks[h / headsPerLayout]->keys(pos, keys);
      T *oh = o + (b * H + h) * dv;
      if (keys.empty()) {
        std::fill(oh, oh + dv, T(0));
        continue;
      }
      scoreKeys(q + (b * H + h) * dk, kc, keys, H, h, dk, scale, mods, pos,
                [](int64_t) { return true; }, sk);
      weightedValues(sk, sk.m + std::log(sk.l), vc, H, h, dv, oh);
    }
  }
  return Status::ok();
}

template <typename T>
Status attentionDecodeSplit(const T *q, const T *kcache, const T *vcache,
                            T *stats, T *acc, int64_t B, int64_t Tctx,
                            int64_t H, int64_t dk, int64_t dv, double scale,
                            int64_t headsPerLayout,
                            const std::vector<const AttentionMask *> &masks,
                            int64_t pos, int64_t splits,
                            const ScoreMods &mods) {
  STC_RETURN_IF_ERROR(checkPosition(pos, Tctx));
  std::vector<int64_t> keys;
  ScoredKeys sk;
  for (int64_t b = 0; b < B; ++b) {
    const T *kc = kcache + b * Tctx * H * dk, *vc = vcache + b * Tctx * H * dv;
    for (int64_t h = 0; h < H; ++h) {
      masks[h / headsPerLayout]->keys(pos, keys);
      for (int64_t z = 0; z < splits; ++z) {
        const int64_t i = (b * H + h) * splits + z;
        scoreKeys(q + (b * H + h) * dk, kc, keys, H, h, dk, scale, mods, pos,
                  [&](int64_t k) { return (k / 32) % splits == z; }, sk);
        stats[2 * i] = static_cast<T>(sk.m);
        stats[2 * i + 1] = static_cast<T>(sk.l);
        weightedValues(sk, sk.m, vc, H, h, dv, acc + i * dv);
      }
    }
  }
  return Status::ok();
}

template <typename T>
void attentionDecodeCombine(const T *stats, const T *acc, T *o, int64_t B,
                            int64_t H, int64_t dv, int64_t splits) {
  for (int64_t bh = 0; bh < B * H; ++bh) {
    const T *st = stats + 2 * bh * splits;
    double M = -std::numeric_limits<double>::infinity();
    for (int64_t z = 0; z < splits; ++z)
      M = std::max(M, static_cast<double>(st[2 * z]));
    for (int64_t d = 0; d < dv; ++d) {
      double L = 0, val = 0;
      if (std::isfinite(M))
        for (int64_t z = 0; z < splits; ++z) {
          double w = std::exp(static_cast<double>(st[2 * z]) - M);
          L += st[2 * z + 1] * w;
          val += acc[(bh * splits + z) * dv + d] * w;
        }
      o[bh * dv + d] = static_cast<T>(L > 0 ? val / L : 0.0);
    }
  }
}

// -- the unfused chain ----------------------------------------------------------

namespace {
/// Element (b, h, i, j) of a (B,H,T,T) tensor.
int64_t sIndex(const AttentionShape &s, int64_t b, int64_t h, int64_t i,
               int64_t j) {
  return ((b * s.H + h) * s.T + i) * s.T + j;
}
} // namespace

template <typename T>
void attentionScores(const T *q, const T *k, T *s, const AttentionShape &sh) {
  Index ix{sh};
  for (int64_t b = 0; b < sh.B; ++b)
    for (int64_t h = 0; h < sh.H; ++h)
      for (int64_t i = 0; i < sh.T; ++i)
        for (int64_t j = 0; j < sh.T; ++j)
          s[sIndex(sh, b, h, i, j)] = static_cast<T>(
              sh.scale * dot(q + ix.qk(b, i, h), k + ix.qk(b, j, h), sh.dk));
}

template <typename T>
void attentionScoresBwd(const T *ds, const T *q, const T *k, T *dq, T *dk,
                        const AttentionShape &sh) {
  Index ix{sh};
  std::vector<double> gq(static_cast<size_t>(sh.dk)), gk(gq.size());
  for (int64_t b = 0; b < sh.B; ++b)
    for (int64_t h = 0; h < sh.H; ++h)
      for (int64_t t = 0; t < sh.T; ++t) {
        std::fill(gq.begin(), gq.end(), 0.0);
        std::fill(gk.begin(), gk.end(), 0.0);
        for (int64_t u = 0; u < sh.T; ++u) {
          const double row = ds[sIndex(sh, b, h, t, u)],
                       col = ds[sIndex(sh, b, h, u, t)];
          for (int64_t d = 0; d < sh.dk; ++d) {
            gq[d] += row * static_cast<double>(k[ix.qk(b, u, h) + d]);
            gk[d] += col * static_cast<double>(q[ix.qk(b, u, h) + d]);
          }
        }
        for (int64_t d = 0; d < sh.dk; ++d) {
          dq[ix.qk(b, t, h) + d] = static_cast<T>(sh.scale * gq[d]);
          dk[ix.qk(b, t, h) + d] = static_cast<T>(sh.scale * gk[d]);
        }
      }
}

template <typename T>
void scoreMod(const T *dout, const T *s, T *out, const AttentionShape &sh) {
  for (int64_t b = 0; b < sh.B; ++b)
    for (int64_t h = 0; h < sh.H; ++h)
      for (int64_t i = 0; i < sh.T; ++i)
        for (int64_t j = 0; j < sh.T; ++j) {
          const int64_t e = sIndex(sh, b, h, i, j);
          double d;
          const double y = sh.mods.apply(sh.scale * static_cast<double>(s[e]),
                                         i, j, h, sh.H, &d);
          out[e] = static_cast<T>(dout ? static_cast<double>(dout[e]) *
                                             sh.scale * d
                                       : y);
        }
}

template <typename T>
void maskedSoftmax(const T *s, T *p, const AttentionShape &sh,
                   const std::vector<const AttentionMask *> &masks) {
  std::vector<int64_t> keys;
  for (int64_t b = 0; b < sh.B; ++b)
    for (int64_t h = 0; h < sh.H; ++h) {
      const AttentionMask &mask = *masks[h / sh.headsPerLayout];
      for (int64_t i = 0; i < sh.T; ++i) {
        T *row = p + sIndex(sh, b, h, i, 0);
        const T *in = s + sIndex(sh, b, h, i, 0);
        std::fill(row, row + sh.T, T(0));
        mask.keys(i, keys);
        double mx = -std::numeric_limits<double>::infinity(), sum = 0;
        for (int64_t j : keys)
          mx = std::max(mx, static_cast<double>(in[j]));
        for (int64_t j : keys)
          sum += std::exp(static_cast<double>(in[j]) - mx);
        for (int64_t j : keys)
          row[j] = static_cast<T>(std::exp(static_cast<double>(in[j]) - mx) / sum);
      }
    }
}

template <typename T>
void maskedSoftmaxBwd(const T *dp, const T *p, T *ds, const AttentionShape &sh) {
  for (int64_t r = 0; r < sh.B * sh.H * sh.T; ++r) {
    const int64_t base = r * sh.T;
    double dot = 0;
    for (int64_t j = 0; j < sh.T; ++j)
      dot += static_cast<double>(dp[base + j]) * static_cast<double>(p[base + j]);
    for (int64_t j = 0; j < sh.T; ++j)
      ds[base + j] = static_cast<T>(static_cast<double>(p[base + j]) *
                                    (static_cast<double>(dp[base + j]) - dot));
  }
}

namespace {
/// out[d] = sum over u < sh.T of weight(u) x[row(u) + d], d < sh.dv, summed
/// in double.
template <typename T, typename Weight, typename Row>
void weightedRows(const AttentionShape &sh, Weight weight, const T *x, Row row,
                  T *out) {
  std::vector<double> acc(static_cast<size_t>(sh.dv), 0.0);
  for (int64_t u = 0; u < sh.T; ++u) {
    const double w = weight(u);
    for (int64_t d = 0; d < sh.dv; ++d)
      acc[d] += w * static_cast<double>(x[row(u) + d]);
  }
  for (int64_t d = 0; d < sh.dv; ++d)
    out[d] = static_cast<T>(acc[d]);
}
} // namespace

template <typename T>
void weightedSum(const T *p, const T *v, T *o, const AttentionShape &sh) {
  Index ix{sh};
  for (int64_t b = 0; b < sh.B; ++b)
    for (int64_t h = 0; h < sh.H; ++h)
      for (int64_t i = 0; i < sh.T; ++i) // o_i = sum_j p_ij v_j
        weightedRows(
            sh, [&](int64_t j) { return double(p[sIndex(sh, b, h, i, j)]); },
            v, [&](int64_t j) { return ix.vo(b, j, h); }, o + ix.vo(b, i, h));
}

template <typename T>
void weightedSumBwd(const T *dout, const T *p, const T *v, T *dp, T *dv,
                    const AttentionShape &sh) {
  Index ix{sh};
  for (int64_t b = 0; b < sh.B; ++b)
    for (int64_t h = 0; h < sh.H; ++h)
      for (int64_t t = 0; t < sh.T; ++t) {
        for (int64_t j = 0; j < sh.T; ++j)
          dp[sIndex(sh, b, h, t, j)] = static_cast<T>(
              dot(dout + ix.vo(b, t, h), v + ix.vo(b, j, h), sh.dv));
        // dv_t = sum_i p_it dout_i
        weightedRows(
            sh, [&](int64_t i) { return double(p[sIndex(sh, b, h, i, t)]); },
            dout, [&](int64_t i) { return ix.vo(b, i, h); }, dv + ix.vo(b, t, h));
      }
}

#define STC_INSTANTIATE(T)                                                     \
  template void attentionFwd<T>(const T *, const T *, const T *, T *, T *,     \
                                const AttentionShape &,                        \
                                const std::vector<const AttentionMask *> &);       \
  template void attentionBwd<T>(const T *, const T *, const T *, const T *,    \
                                const T *, const T *, T *, T *, T *,           \
                                const AttentionShape &,                        \
                                const std::vector<const AttentionMask *> &,    \
                                const T *, bool);                              \
  template void attentionBwdPrep<T>(const T *, const T *, T *, T *,            \
                                    const AttentionShape &);                   \
  template Status kvStore<T>(const T *, T *, int64_t, int64_t, int64_t,        \
                             int64_t);                                         \
  template Status attentionDecode<T>(                                          \
      const T *, const T *, const T *, T *, int64_t, int64_t, int64_t,         \
      int64_t, int64_t, double, int64_t,                                       \
      const std::vector<const AttentionMask *> &, int64_t,                     \
      const ScoreMods &);                                                      \
  template Status attentionDecodeSplit<T>(                                     \
      const T *, const T *, const T *, T *, T *, int64_t, int64_t, int64_t,    \
      int64_t, int64_t, double, int64_t,                                       \
      const std::vector<const AttentionMask *> &, int64_t, int64_t,            \
      const ScoreMods &);                                                      \
  template void attentionDecodeCombine<T>(const T *, const T *, T *, int64_t,  \
                                          int64_t, int64_t, int64_t);  \
  template void attentionScores<T>(const T *, const T *, T *,                  \
                                   const AttentionShape &);                    \
  template void attentionScoresBwd<T>(const T *, const T *, const T *, T *,    \
                                      T *, const AttentionShape &);            \
  template void scoreMod<T>(const T *, const T *, T *, const AttentionShape &); \
  template void maskedSoftmax<T>(const T *, T *, const AttentionShape &,       \
                                 const std::vector<const AttentionMask *> &);  \
  template void maskedSoftmaxBwd<T>(const T *, const T *, T *,                 \
                                    const AttentionShape &);                   \
  template void weightedSum<T>(const T *, const T *, T *,                      \
                               const AttentionShape &);                        \
  template void weightedSumBwd<T>(const T *, const T *, const T *, T *, T *,   \
                                  const AttentionShape &);

STC_INSTANTIATE(float)
STC_INSTANTIATE(double)
#undef STC_INSTANTIATE

} // namespace stc::rt::cpu
