//===- CpuOps.h - Reference implementations of every op kind ----*- C++ -*-===//
//
// The plain, obviously correct definition of each op of
// docs/artifact-format.md, on contiguous row-major arrays. Templated on the
// element type: the CPU executor runs them on float; the gradient tests run
// them on double against central finite differences. Reductions accumulate
// in double regardless of T, so the reference is at least as accurate as any
// kernel it judges.
//
// Attention uses a dense mask evaluated from the pattern itself
// (pattern.allowed), never the block layout: it is the oracle that checks
// the GPU's block-sparse kernels, so it must not share their assumptions.
//
// Ops whose correctness depends on data (token ids, targets, positions)
// return a Status; the others cannot fail on valid shapes.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_CPU_CPUOPS_H
#define STC_RUNTIME_CPU_CPUOPS_H

#include "abi/OpSpec.h"
#include "pattern/Pattern.h"
#include "runtime/Status.h"

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace stc::rt::cpu {

//===----------------------------------------------------------------------===//
// Embedding
//===----------------------------------------------------------------------===//

/// Position components of an embedding: component p adds
/// pos_p[(t / div) mod mod] to row r, t = r mod T (or t0 when decoding).
using PosComponents = std::vector<std::pair<int64_t, int64_t>>; // (div, mod)

/// tokens (rows) i32, table (V,D), pos[p] (mod_p,D) -> out (rows,D).
/// t0 < 0: t = r mod T; t0 >= 0 (sample_step, a row per sequence): t = t0.
template <typename T>
Status embedFwd(const int32_t *tokens, const T *table,
                const std::vector<const T *> &pos, const PosComponents &comps,
                T *out, int64_t rows, int64_t Tctx, int64_t D, int64_t V,
                int64_t t0 = -1);

/// tokens (rows), dout (rows,D) -> dtable (V,D) +=, dpos[p] (mod_p,D) +=.
template <typename T>
Status embedBwd(const int32_t *tokens, const T *dout, T *dtable,
                const std::vector<T *> &dpos, const PosComponents &comps,
                int64_t rows, int64_t Tctx, int64_t D, int64_t V,
                int64_t t0 = -1);

//===----------------------------------------------------------------------===//
// Layer norm (biased variance, as in the doc: y = (x - mean) * rstd * g + b)
//===----------------------------------------------------------------------===//

/// x (M,C), gamma (C), beta (C) -> y (M,C), mean (M), rstd (M).
template <typename T>
void layerNormFwd(const T *x, const T *gamma, const T *beta, T *y, T *mean,
                  T *rstd, int64_t M, int64_t C, double eps);

/// dy (M,C), x (M,C), mean (M), rstd (M), gamma (C) -> dx (M,C) (+)=,
/// dgamma (C) +=, dbeta (C) +=.
template <typename T>
void layerNormBwd(const T *dy, const T *x, const T *mean, const T *rstd,
                  const T *gamma, T *dx, T *dgamma, T *dbeta, int64_t M,
                  int64_t C, bool accumulate);

//===----------------------------------------------------------------------===//
// GEMM (BLAS where available)
//===----------------------------------------------------------------------===//

/// A (M,K) or (K,M) if transA, B (K,N) or (N,K) if transB, bias (N) or null
/// -> C (M,N) = alpha op(A) op(B) + beta C (+ bias broadcast over rows).
/// beta == 0 ignores C's old contents (even NaN), like BLAS.
template <typename T>
void gemm(const T *A, const T *B, T *C, const T *bias, int64_t M, int64_t N,
          int64_t K, bool transA, bool transB, double alpha, double beta);

/// dy (M,N) -> db (N) += column sums.
template <typename T> void biasGrad(const T *dy, T *db, int64_t M, int64_t N);

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

/// x (count) -> y (count), tanh-approximated GELU. y may be x.
template <typename T> void geluFwd(const T *x, T *y, int64_t count);

/// x (count), dy (count) -> dx (count) (+)= dy * gelu'(x). dx may be dy.
template <typename T>
void geluBwd(const T *x, const T *dy, T *dx, int64_t count, bool accumulate);

/// a (count), b (count) -> out (count) = a + b. out may be a or b.
template <typename T> void add(const T *a, const T *b, T *out, int64_t count);

/// src (count) -> dst (count) += src.
template <typename T> void accumulate(T *dst, const T *src, int64_t count);

/// x (count) -> y (count) = keep ? x / (1 - rate) : 0, keep from
/// DropoutHash.h with (seed, salt, i), plus residual[i] when residual is
/// given (that sum in T, as a separate add would make it). y may be x.
template <typename T>
void dropoutFwd(const T *x, T *y, int64_t count, double rate, uint32_t salt,
                uint32_t seed, const T *residual = nullptr);

/// dy (count) -> dx (count): the same mask and scale as dropoutFwd.
template <typename T>
void dropoutBwd(const T *dy, T *dx, int64_t count, double rate, uint32_t salt,
                uint32_t seed);

/// x [B, T, D] -> y [B, T, D]: columns [c0, c1) of position i move to
/// (i mod stride) * (T / stride) + i / stride (inverse: back), the others
/// are copied (pattern/Normalize.h). stride divides T; y is not x.
template <typename T>
void stridePermute(const T *x, T *y, int64_t B, int64_t Tn, int64_t D,
                   int64_t c0, int64_t c1, int64_t stride, bool inverse);

/// x [B, T, D] -> y [B, T, D]: row s < S of y is fixed(block, summary)'s
/// s-th summary column of x, rows from S on are zero (pattern/Normalize.h).
template <typename T>
void summaryGather(const T *x, T *y, int64_t B, int64_t Tn, int64_t D,
                   int64_t block, int64_t summary);

/// The adjoint: y [B, T, D] row s < S -> row position(s) of x [B, T, D];
/// every other row of x is zero.
template <typename T>
void summaryScatter(const T *y, T *x, int64_t B, int64_t Tn, int64_t D, bool accumulate,
                    int64_t block, int64_t summary);

/// o1, o2 [B, T, H, dv], lse1, lse2 [B, H, T] (attentions over disjoint key
/// sets) -> o, lse over their union.
template <typename T>
void attentionMerge(const T *o1, const T *lse1, const T *o2, const T *lse2,
                    T *o, T *lse, int64_t B, int64_t Tn, int64_t H, int64_t dv);

/// x_i (counts[i]) -> out (1) (+)= sum over i of sum x_i^2 (in double).
template <typename T>
void sumsq(const std::vector<const T *> &xs, const std::vector<int64_t> &counts,
           T *out, bool accumulate);

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

/// A pattern evaluated densely over n x n (bit per (q, k); k <= q only).
/// The keys each query of a pattern attends to, over n positions: the
/// pattern's own definition (forEachAllowedKey, tested against brute force),
/// row by row, so memory and time follow the allowed pairs, not n^2.
class AttentionMask {
public:
  AttentionMask(const pattern::Pattern &p, int64_t n) : p_(p), n_(n) {}
  int64_t n() const { return n_; }
  /// The allowed keys of query q, ascending, into `out` (cleared first).
  void keys(int64_t q, std::vector<int64_t> &out) const {
    out.clear();
    p_.forEachAllowedKey(q, n_, [&out](int64_t k) { out.push_back(k); });
  }

private:
  pattern::Pattern p_;
  int64_t n_ = 0;
};

/// Sizes shared by the attention ops. Head h uses
/// masks[h / headsPerLayout]; every mask has n == T.
/// Score modifications (abi/Ops.def, attention_fwd): applied to s = scale
/// q.k of query position q, key position k, head h of H.
struct ScoreMods {
  double softcap = 0; ///< > 0: s = softcap tanh(s / softcap)
  double alibi = 0;   ///< > 0: s -= 2^(-alibi (h + 1) / H) (q - k)
  bool alibiFirst = false; ///< the bias before the cap (else after)

  /// The modified score; *ds gets its derivative by s.
  double apply(double s, int64_t q, int64_t k, int64_t h, int64_t H,
               double *ds) const {
    const double bias =
        alibi != 0 ? std::exp2(-alibi * double(h + 1) / double(H)) *
                         double(q - k)
                   : 0.0;
    *ds = 1;
    if (alibiFirst)
      s -= bias;
    if (softcap != 0) {
      const double t = std::tanh(s / softcap);
      s = softcap * t;
      *ds = 1 - t * t;
    }
    if (!alibiFirst)
      s -= bias;
    return s;
  }
};

struct AttentionShape {
  int64_t B = 1, T = 1, H = 1, dk = 1, dv = 1;
  double scale = 1;
  int64_t headsPerLayout = 1;
  ScoreMods mods;
};

/// q, k (B,T,H,dk), v (B,T,H,dv) -> o (B,T,H,dv), lse (B,H,T).
/// A query with no allowed key gets o = 0 and lse = -inf.
template <typename T>
void attentionFwd(const T *q, const T *k, const T *v, T *o, T *lse,
                  const AttentionShape &s,
                  const std::vector<const AttentionMask *> &masks);

/// q, k (B,T,H,dk), v, o, do (B,T,H,dv), lse (B,H,T)
/// -> dq, dk (B,T,H,dk), dv (B,T,H,dv), all overwritten. Uses the saved lse
/// and D_i = rowsum(dO_i * O_i), as a flash-attention backward does; with
/// `delta` (B,H,T), D_i is read from it (o is not read). With
/// `accumulateDq`, dq += the gradient (attention_bwd_atomic).
template <typename T>
void attentionBwd(const T *q, const T *k, const T *v, const T *o, const T *lse,
                  const T *dO, T *dq, T *dk, T *dv, const AttentionShape &s,
                  const std::vector<const AttentionMask *> &masks,
                  const T *delta = nullptr, bool accumulateDq = false);

/// The keys of an attention op (abi/Ops.def, attention_fwd): k and v as
/// they are, or with gather_block / gather_summary their summary columns
/// gathered into temporaries (summary_gather); the backward's dk and dv
/// computed into temporaries that finish() adds into the op's dk and dv
/// (summary_scatter with accumulate, or a plain sum with accumulate alone),
/// each rounded once when the executor stores them.
template <typename T> class KeyRows {
public:
  KeyRows(const abi::OpAttrs &a, const T *k, const T *v)
      : a_(a), k_(k), v_(v), gather_(a.gatherBlock != 0) {
    if (!gather_)
      return;
    kg_.resize(static_cast<size_t>(a.B * a.T * a.H * a.dk));
    vg_.resize(static_cast<size_t>(a.B * a.T * a.H * a.dv));
    summaryGather(k, kg_.data(), a.B, a.T, a.H * a.dk, a.gatherBlock,
                  a.gatherSummary);
    summaryGather(v, vg_.data(), a.B, a.T, a.H * a.dv, a.gatherBlock,
                  a.gatherSummary);
    k_ = kg_.data();
    v_ = vg_.data();
  }
  const T *k() const { return k_; }
  const T *v() const { return v_; }
  /// Where the backward writes dk (dv): the op's buffer, or a temporary.
  T *dk(T *out) { return target(out, dk_, dkOut_, a_.dk); }
  T *dv(T *out) { return target(out, dv_, dvOut_, a_.dv); }
  void finish() {
    add(dk_, dkOut_, a_.dk);
    add(dv_, dvOut_, a_.dv);
  }

private:
  T *target(T *out, std::vector<T> &tmp, T *&dest, int64_t d) {
    if (!gather_ && !a_.accumulate)
      return out;
    tmp.assign(static_cast<size_t>(a_.B * a_.T * a_.H * d), T(0));
    dest = out;
    return tmp.data();
  }
  void add(const std::vector<T> &g, T *out, int64_t d) {
    if (!out)
      return;
    if (gather_) {
      summaryScatter(g.data(), out, a_.B, a_.T, a_.H * d, /*accumulate=*/true,
                     a_.gatherBlock, a_.gatherSummary);
      return;
    }
    for (size_t i = 0; i < g.size(); ++i)
      out[i] += g[i];
  }

  const abi::OpAttrs &a_;
  const T *k_, *v_;
  bool gather_;
  std::vector<T> kg_, vg_, dk_, dv_;
  T *dkOut_ = nullptr, *dvOut_ = nullptr;
};

/// o, dO (B,T,H,dv) -> delta (B,H,T) = rowsum(dO * o); dqAcc (B,T,H,dk) = 0
/// (attention_bwd_prep).
template <typename T>
void attentionBwdPrep(const T *o, const T *dO, T *delta, T *dqAcc,
                      const AttentionShape &s);

/// The unfused attention chain (abi/Ops.def, attention_scores ..
/// weighted_sum_bwd): s, p (B,H,T,T); q, k (B,T,H,dk); v, o (B,T,H,dv).
/// s = scale q k^T per (b, h), every (i, j).
template <typename T>
void attentionScores(const T *q, const T *k, T *s, const AttentionShape &sh);
/// dq = scale ds k, dk = scale ds^T q (overwritten).
template <typename T>
void attentionScoresBwd(const T *ds, const T *q, const T *k, T *dq, T *dk,
                        const AttentionShape &sh);
/// out = sh.mods applied to sh.scale * s, element (b, h, i, j) at query i,
/// key j, head h; with dout, ds = dout sh.scale mods'(sh.scale s) instead.
template <typename T>
void scoreMod(const T *dout, const T *s, T *out, const AttentionShape &sh);
/// p = softmax of each row over the keys j <= i its head's mask allows
/// (0 elsewhere; a row without keys is all 0).
template <typename T>
void maskedSoftmax(const T *s, T *p, const AttentionShape &sh,
                   const std::vector<const AttentionMask *> &masks);
/// ds = p (dp - rowsum(dp p)).
template <typename T>
void maskedSoftmaxBwd(const T *dp, const T *p, T *ds, const AttentionShape &sh);
/// o = p v per (b, h).
template <typename T>
void weightedSum(const T *p, const T *v, T *o, const AttentionShape &sh);
/// dp = dout v^T, dv = p^T dout per (b, h) (overwritten).
template <typename T>
void weightedSumBwd(const T *dout, const T *p, const T *v, T *dp, T *dv,
                    const AttentionShape &sh);

/// src (B,D) -> cache (B,T,D) row pos of each sequence.
template <typename T>
Status kvStore(const T *src, T *cache, int64_t B, int64_t D, int64_t Tctx,
               int64_t pos);

/// q (B,H,dk), kcache (B,T,H,dk), vcache (B,T,H,dv) -> o (B,H,dv): each
/// sequence's query at position pos over its cached keys k <= pos its head's
/// pattern allows.
template <typename T>
Status attentionDecode(const T *q, const T *kcache, const T *vcache, T *o,
                       int64_t B, int64_t Tctx, int64_t H, int64_t dk,
                       int64_t dv,
                       double scale, int64_t headsPerLayout,
                       const std::vector<const AttentionMask *> &masks,
                       int64_t pos, const ScoreMods &mods = {});

/// attentionDecode's keys dealt to `splits` parts (key k to part
/// (k / 32) mod splits); for part i = (b * H + h) * splits + z: stats[2i] =
/// m (the part's largest scaled score, -inf without keys), stats[2i + 1] =
/// sum e^(s - m), acc[i * dv + d] = sum e^(s - m) v[d].
template <typename T>
Status attentionDecodeSplit(const T *q, const T *kcache, const T *vcache,
                            T *stats, T *acc, int64_t B, int64_t Tctx,
                            int64_t H, int64_t dk, int64_t dv, double scale,
                            int64_t headsPerLayout,
                            const std::vector<const AttentionMask *> &masks,
                            int64_t pos, int64_t splits,
                            const ScoreMods &mods = {});

/// The parts merged: o[b, h, :] = sum_z e^(m_z - M) acc_z / sum_z e^(m_z -
/// M) l_z, M = max_z m_z (0 when every part is empty).
template <typename T>
void attentionDecodeCombine(const T *stats, const T *acc, T *o, int64_t B,
                            int64_t H, int64_t dv, int64_t splits);

//===----------------------------------------------------------------------===//
// Loss and optimizer
//===----------------------------------------------------------------------===//

/// logits (M,V), targets (M) -> losses (M) in bits; if dlogits is non-null,
/// dlogits (M,V) = (softmax - onehot) * scale / ln 2.
template <typename T>
Status xent(const T *logits, const int32_t *targets, T *losses, T *dlogits,
            int64_t M, int64_t V, double scale);

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weightDecay = 0, clip = 0;
};

/// param, grad, m, v (count), gnormSq (1) -> param, m, v updated in place.
/// g = grad * min(1, clip / sqrt(gnormSq)) (clip 0 or gnormSq 0: no clip);
/// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
/// param -= lr * (wd * param + (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)).
/// With `master` (f32 master weights of a bf16 param), the update reads and
/// writes master, and param gets the new value (rounded on write-back).
/// With `lossScale` (S = lossScale[0]), grad and gnormSq are S and S^2 times
/// the true values: the update divides by S, and a non-finite gnormSq skips
/// the step (no error).
template <typename T>
Status adamw(T *param, const T *grad, T *m, T *v, const T *gnormSq,
             int64_t count, const AdamWConfig &cfg, double lr, int64_t step,
             T *master = nullptr, const T *lossScale = nullptr);

/// Dynamic loss scaling's state (abi/Ops.def loss_scale_update) after a
/// step whose scaled gradients' squares sum to gnormSq[0].
template <typename T>
void lossScaleUpdate(const T *gnormSq, T *state, int64_t growthInterval);

} // namespace stc::rt::cpu

#endif // STC_RUNTIME_CPU_CPUOPS_H
