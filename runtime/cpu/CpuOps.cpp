//===- CpuOps.cpp - Embedding, elementwise, loss and optimizer ops --------===//

#include "runtime/cpu/CpuOps.h"

#include "abi/DropoutHash.h"
#include "pattern/Normalize.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace stc::rt::cpu {

namespace {
constexpr double kLn2 = 0.693147180559945309417;

Status badToken(const char *what, int64_t i, int64_t value, int64_t V) {
  return Status::error(std::string(what) + "[" + std::to_string(i) +
                       "] = " + std::to_string(value) + " is outside [0, " +
                       std::to_string(V) + ")");
}

/// Position of row r: r mod T in a batch of sequences; t0 when decoding
/// (each row is one sequence at the sampling position).
int64_t rowPosition(int64_t r, int64_t Tctx, int64_t t0) {
  return t0 >= 0 ? t0 : r % Tctx;
}
} // namespace

//===----------------------------------------------------------------------===//
// Embedding
//===----------------------------------------------------------------------===//

template <typename T>
Status embedFwd(const int32_t *tokens, const T *table,
                const std::vector<const T *> &pos, const PosComponents &comps,
                T *out, int64_t rows, int64_t Tctx, int64_t D, int64_t V,
                int64_t t0) {
  for (int64_t r = 0; r < rows; ++r)
    if (tokens[r] < 0 || tokens[r] >= V)
      return badToken("tokens", r, tokens[r], V);
  for (int64_t r = 0; r < rows; ++r) {
    const T *row = table + static_cast<int64_t>(tokens[r]) * D;
    int64_t t = rowPosition(r, Tctx, t0);
    for (int64_t d = 0; d < D; ++d) {
      double acc = row[d];
      for (size_t p = 0; p < comps.size(); ++p) {
        int64_t idx = (t / comps[p].first) % comps[p].second;
        acc += pos[p][idx * D + d];
      }
      out[r * D + d] = static_cast<T>(acc);
    }
  }
  return Status::ok();
}

template <typename T>
Status embedBwd(const int32_t *tokens, const T *dout, T *dtable,
                const std::vector<T *> &dpos, const PosComponents &comps,
                int64_t rows, int64_t Tctx, int64_t D, int64_t V, int64_t t0) {
  for (int64_t r = 0; r < rows; ++r)
    if (tokens[r] < 0 || tokens[r] >= V)
      return badToken("tokens", r, tokens[r], V);
  for (int64_t r = 0; r < rows; ++r) {
    T *row = dtable + static_cast<int64_t>(tokens[r]) * D;
    int64_t t = rowPosition(r, Tctx, t0);
    for (int64_t d = 0; d < D; ++d) {
      T g = dout[r * D + d];
      row[d] += g;
      for (size_t p = 0; p < comps.size(); ++p) {
        int64_t idx = (t / comps[p].first) % comps[p].second;
        dpos[p][idx * D + d] += g;
      }
    }
  }
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

namespace {
constexpr double kGeluC = 0.7978845608028654; // sqrt(2 / pi)
constexpr double kGeluA = 0.044715;
} // namespace

template <typename T> void geluFwd(const T *x, T *y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    double xi = x[i];
    double u = kGeluC * (xi + kGeluA * xi * xi * xi);
    y[i] = static_cast<T>(0.5 * xi * (1.0 + std::tanh(u)));
  }
}

template <typename T>
void geluBwd(const T *x, const T *dy, T *dx, int64_t count, bool accumulate) {
  for (int64_t i = 0; i < count; ++i) {
    double xi = x[i];
    double u = kGeluC * (xi + kGeluA * xi * xi * xi);
    double th = std::tanh(u);
    double du = kGeluC * (1.0 + 3.0 * kGeluA * xi * xi);
    double d = 0.5 * (1.0 + th) + 0.5 * xi * (1.0 - th * th) * du;
    // Accumulating: the gradient rounded to T, then added in T, exactly as
    // a separate add of the two stored values (stc-fuse-accumulate).
    T g = static_cast<T>(dy[i] * d);
    dx[i] = accumulate ? static_cast<T>(dx[i] + g) : g;
  }
}

template <typename T> void add(const T *a, const T *b, T *out, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    out[i] = a[i] + b[i];
}

template <typename T> void accumulate(T *dst, const T *src, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    dst[i] += src[i];
}

namespace {
template <typename T>
void dropoutApply(const T *x, T *y, int64_t count, double rate, uint32_t salt,
                  uint32_t seed) {
  const uint32_t base = abi::dropoutBase(seed, salt);
  const uint32_t threshold = abi::dropoutThreshold(rate);
  // The scale is rounded to T once, as a kernel would hold it in a register.
  const T scale = static_cast<T>(1.0 / (1.0 - rate));
  for (int64_t i = 0; i < count; ++i)
    y[i] = abi::dropoutKeep(base, static_cast<uint64_t>(i), threshold) ? x[i] * scale
                                                                  : T(0);
}
} // namespace

template <typename T>
void dropoutFwd(const T *x, T *y, int64_t count, double rate, uint32_t salt,
                uint32_t seed, const T *residual) {
  dropoutApply(x, y, count, rate, salt, seed);
  if (residual)
    for (int64_t i = 0; i < count; ++i)
      y[i] = static_cast<T>(residual[i] + y[i]);
}

template <typename T>
void dropoutBwd(const T *dy, T *dx, int64_t count, double rate, uint32_t salt,
                uint32_t seed) {
  // y = mask * x * scale is linear in x, so dx = mask * dy * scale.
  dropoutApply(dy, dx, count, rate, salt, seed);
}

template <typename T>
void stridePermute(const T *x, T *y, int64_t B, int64_t Tn, int64_t D,
                   int64_t c0, int64_t c1, int64_t stride, bool inverse) {
  pattern::StridePermutation perm{Tn, stride};
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Tn; ++i) {
      // Output row i takes its permuted columns from row `from`.
      int64_t from = inverse ? perm.forward(i) : perm.backward(i);
      const T *src = x + (b * Tn + from) * D;
      const T *same = x + (b * Tn + i) * D;
      T *dst = y + (b * Tn + i) * D;
      std::copy(same, same + c0, dst);
      std::copy(src + c0, src + c1, dst + c0);
      std::copy(same + c1, same + D, dst + c1);
    }
}

template <typename T>
void summaryGather(const T *x, T *y, int64_t B, int64_t Tn, int64_t D,
                   int64_t block, int64_t summary) {
  pattern::SummaryGather g{Tn, block, summary};
  const int64_t count = g.count();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < Tn; ++s) {
      T *dst = y + (b * Tn + s) * D;
      if (s < count) {
        const T *src = x + (b * Tn + g.position(s)) * D;
        std::copy(src, src + D, dst);
      } else {
        std::fill(dst, dst + D, T(0));
      }
    }
}

template <typename T>
void summaryScatter(const T *y, T *x, int64_t B, int64_t Tn, int64_t D,
                    bool accumulate, int64_t block, int64_t summary) {
  pattern::SummaryGather g{Tn, block, summary};
  if (!accumulate)
    std::fill(x, x + B * Tn * D, T(0));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < g.count(); ++s) {
      const T *src = y + (b * Tn + s) * D;
      T *dst = x + (b * Tn + g.position(s)) * D;
      for (int64_t d = 0; d < D; ++d)
        dst[d] = accumulate ? dst[d] + src[d] : src[d];
    }
}

template <typename T>
void attentionMerge(const T *o1, const T *lse1, const T *o2, const T *lse2,
                    T *o, T *lse, int64_t B, int64_t Tn, int64_t H,
                    int64_t dv) {
  const double inf = std::numeric_limits<double>::infinity();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < Tn; ++t) {
        const int64_t r = (b * H + h) * Tn + t;
        const double l1 = static_cast<double>(lse1[r]);
        const double l2 = static_cast<double>(lse2[r]);
        const double m = std::max(l1, l2);
        const int64_t base = ((b * Tn + t) * H + h) * dv;
        if (m == -inf) {
          std::fill(o + base, o + base + dv, T(0));
          lse[r] = static_cast<T>(-inf);
          continue;
        }
        const double w1 = std::exp(l1 - m), w2 = std::exp(l2 - m);
        const double sum = w1 + w2;
        lse[r] = static_cast<T>(m + std::log(sum));
        for (int64_t c = 0; c < dv; ++c)
          o[base + c] = static_cast<T>(
              (w1 * static_cast<double>(o1[base + c]) +
               w2 * static_cast<double>(o2[base + c])) /
              sum);
      }
}

template <typename T>
void sumsq(const std::vector<const T *> &xs, const std::vector<int64_t> &counts,
           T *out, bool accumulate) {
  double acc = 0;
  for (size_t t = 0; t < xs.size(); ++t)
    for (int64_t i = 0; i < counts[t]; ++i)
      acc += static_cast<double>(xs[t][i]) * static_cast<double>(xs[t][i]);
  out[0] = static_cast<T>(accumulate ? out[0] + acc : acc);
}

//===----------------------------------------------------------------------===//
// Loss
//===----------------------------------------------------------------------===//

template <typename T>
Status xent(const T *logits, const int32_t *targets, T *losses, T *dlogits,
            int64_t M, int64_t V, double scale) {
  for (int64_t m = 0; m < M; ++m)
    if (targets[m] < 0 || targets[m] >= V)
      return badToken("targets", m, targets[m], V);
  for (int64_t m = 0; m < M; ++m) {
    const T *row = logits + m * V;
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < V; ++j)
      mx = std::max(mx, static_cast<double>(row[j]));
    double sum = 0;
    for (int64_t j = 0; j < V; ++j)
      sum += std::exp(row[j] - mx);
    double lse = mx + std::log(sum);
    losses[m] = static_cast<T>((lse - row[targets[m]]) / kLn2);
    if (dlogits) {
      T *drow = dlogits + m * V;
      for (int64_t j = 0; j < V; ++j) {
        double p = std::exp(row[j] - lse);
        if (j == targets[m])
          p -= 1.0;
        drow[j] = static_cast<T>(p * scale / kLn2);
      }
    }
  }
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Optimizer
//===----------------------------------------------------------------------===//

template <typename T>
Status adamw(T *param, const T *grad, T *m, T *v, const T *gnormSq,
             int64_t count, const AdamWConfig &cfg, double lr, int64_t step,
             T *master, const T *lossScale) {
  if (step < 1)
    return Status::error("optimizer step (scalars[1]) is " +
                         std::to_string(step) + "; it must be >= 1");
  const double unscale =
      lossScale ? 1.0 / static_cast<double>(lossScale[0]) : 1.0;
  double clipScale = unscale;
  double gn = static_cast<double>(gnormSq[0]) * unscale * unscale;
  if (!std::isfinite(gn)) {
    if (lossScale)
      return Status::ok(); // an overflow of the scaled gradients: skipped
    return Status::error("gradient norm squared is " + std::to_string(gn) +
                         " (the loss diverged)");
  }
  if (cfg.clip > 0 && gn > 0) {
    double norm = std::sqrt(gn);
    if (norm > cfg.clip)
      clipScale = unscale * (cfg.clip / norm);
  }
  // Adam's step counts the updates taken: a skipped step (loss_scale[2]
  // counts them) is no update, as with PyTorch's GradScaler.
  const int64_t t =
      lossScale ? step - static_cast<int64_t>(lossScale[2]) : step;
  if (t < 1)
    return Status::error("optimizer step " + std::to_string(step) + " less " +
                         std::to_string(step - t) +
                         " skipped steps is < 1; the loss-scale state is "
                         "corrupt");
  const double bc1 = 1.0 - std::pow(cfg.beta1, static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(cfg.beta2, static_cast<double>(t));
  for (int64_t i = 0; i < count; ++i) {
    double g = static_cast<double>(grad[i]) * clipScale;
    double mi = cfg.beta1 * m[i] + (1.0 - cfg.beta1) * g;
    double vi = cfg.beta2 * v[i] + (1.0 - cfg.beta2) * g * g;
    m[i] = static_cast<T>(mi);
    v[i] = static_cast<T>(vi);
    double p = master ? master[i] : param[i];
    double update = (mi / bc1) / (std::sqrt(vi / bc2) + cfg.eps);
    const T next = static_cast<T>(p - lr * (cfg.weightDecay * p + update));
    if (master)
      master[i] = next;
    param[i] = next; // a bf16 param is rounded when written back
  }
  return Status::ok();
}

template <typename T>
void lossScaleUpdate(const T *gnormSq, T *state, int64_t growthInterval) {
  if (!std::isfinite(static_cast<double>(gnormSq[0]))) {
    state[0] = static_cast<T>(state[0] * 0.5);
    state[1] = 0;
    state[2] = static_cast<T>(state[2] + 1);
    state[3] = 1;
    return;
  }
  const T run = static_cast<T>(state[1] + 1);
  if (run >= static_cast<T>(growthInterval)) {
    state[0] = static_cast<T>(state[0] * 2);
    state[1] = 0;
  } else {
    state[1] = run;
  }
  state[3] = 0;
}

//===----------------------------------------------------------------------===//
// Instantiations
//===----------------------------------------------------------------------===//

#define STC_INSTANTIATE(T)                                                     \
  template Status embedFwd<T>(const int32_t *, const T *,                      \
                              const std::vector<const T *> &,                  \
                              const PosComponents &, T *, int64_t, int64_t,    \
                              int64_t, int64_t, int64_t);                      \
  template Status embedBwd<T>(const int32_t *, const T *, T *,                 \
                              const std::vector<T *> &, const PosComponents &, \
                              int64_t, int64_t, int64_t, int64_t, int64_t);    \
  template void geluFwd<T>(const T *, T *, int64_t);                           \
  template void geluBwd<T>(const T *, const T *, T *, int64_t, bool);          \
  template void add<T>(const T *, const T *, T *, int64_t);                    \
  template void accumulate<T>(T *, const T *, int64_t);                        \
  template void dropoutFwd<T>(const T *, T *, int64_t, double, uint32_t,       \
                              uint32_t, const T *);                            \
  template void dropoutBwd<T>(const T *, T *, int64_t, double, uint32_t,       \
                              uint32_t);                                       \
  template void stridePermute<T>(const T *, T *, int64_t, int64_t, int64_t,   \
                                 int64_t, int64_t, int64_t, bool);            \
  template void summaryGather<T>(const T *, T *, int64_t, int64_t, int64_t,   \
                                 int64_t, int64_t);                           \
  template void summaryScatter<T>(const T *, T *, int64_t, int64_t, int64_t,  \
                                  bool, int64_t, int64_t);                    \
  template void attentionMerge<T>(const T *, const T *, const T *, const T *, \
                                  T *, T *, int64_t, int64_t, int64_t,        \
                                  int64_t);                                   \
  template void sumsq<T>(const std::vector<const T *> &,                       \
                         const std::vector<int64_t> &, T *, bool);             \
  template Status xent<T>(const T *, const int32_t *, T *, T *, int64_t,       \
                          int64_t, double);                                    \
  template Status adamw<T>(T *, const T *, T *, T *, const T *, int64_t,       \
                           const AdamWConfig &, double, int64_t, T *,          \
                           const T *);                                         \
  template void lossScaleUpdate<T>(const T *, T *, int64_t);

STC_INSTANTIATE(float)
STC_INSTANTIATE(double)
#undef STC_INSTANTIATE

} // namespace stc::rt::cpu
