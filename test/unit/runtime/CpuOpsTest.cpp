//===- CpuOpsTest.cpp - Reference ops vs finite differences (double) ------===//
//
// Each backward op is checked against central differences of its forward op
// on a random linear functional L = sum(w * y), in double. Forward ops with a
// closed form are also checked against a direct evaluation.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include "abi/DropoutHash.h"
#include "runtime/Train.h"
#include "runtime/cpu/CpuOps.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

using namespace stc::rt;
using namespace stc::rt::test;

namespace {

constexpr double kTol = 1e-7;

TEST(CpuOps, LayerNormForwardMatchesDefinition) {
  const int64_t M = 3, C = 7;
  auto x = randomVec(M * C, 1, 2.0), g = randomVec(C, 2), b = randomVec(C, 3);
  std::vector<double> y(M * C), mean(M), rstd(M);
  cpu::layerNormFwd(x.data(), g.data(), b.data(), y.data(), mean.data(),
                    rstd.data(), M, C, 1e-5);
  for (int64_t m = 0; m < M; ++m) {
    double mu = 0, var = 0;
    for (int64_t c = 0; c < C; ++c)
      mu += x[m * C + c] / C;
    for (int64_t c = 0; c < C; ++c)
      var += (x[m * C + c] - mu) * (x[m * C + c] - mu) / C;
    EXPECT_NEAR(mean[m], mu, 1e-12);
    EXPECT_NEAR(rstd[m], 1 / std::sqrt(var + 1e-5), 1e-9);
    for (int64_t c = 0; c < C; ++c)
      EXPECT_NEAR(y[m * C + c],
                  (x[m * C + c] - mu) / std::sqrt(var + 1e-5) * g[c] + b[c],
                  1e-9);
  }
}

TEST(CpuOps, LayerNormGradients) {
  const int64_t M = 3, C = 7;
  auto x = randomVec(M * C, 11, 2.0), g = randomVec(C, 12),
       b = randomVec(C, 13), w = randomVec(M * C, 14);
  std::vector<double> y(M * C), mean(M), rstd(M);
  auto loss = [&]() {
    cpu::layerNormFwd(x.data(), g.data(), b.data(), y.data(), mean.data(),
                      rstd.data(), M, C, 1e-5);
    return dotv(w, y);
  };
  loss();
  // Analytic gradients; dx starts at 1 to check accumulate adds, dgamma
  // and dbeta at garbage they overwrite.
  std::vector<double> dx(M * C, 1.0), dg(C, 0.5), db(C, 0.25);
  cpu::layerNormBwd(w.data(), x.data(), mean.data(), rstd.data(), g.data(),
                    dx.data(), dg.data(), db.data(), M, C, true);
  for (auto &v : dx)
    v -= 1.0;
  EXPECT_LT(relError(dx, numericGrad(x, loss)), kTol);
  EXPECT_LT(relError(dg, numericGrad(g, loss)), kTol);
  EXPECT_LT(relError(db, numericGrad(b, loss)), kTol);
  // accumulate=false overwrites dx.
  std::vector<double> dx2(M * C, 123.0), dg2(C, 0.0), db2(C, 0.0);
  cpu::layerNormBwd(w.data(), x.data(), mean.data(), rstd.data(), g.data(),
                    dx2.data(), dg2.data(), db2.data(), M, C, false);
  EXPECT_LT(relError(dx2, dx), 1e-12);
}

/// Reference op(A) op(B) by the definition.
std::vector<double> naiveGemm(const std::vector<double> &A,
                              const std::vector<double> &B, int64_t M,
                              int64_t N, int64_t K, bool ta, bool tb) {
  std::vector<double> C(M * N, 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k)
        C[m * N + n] += (ta ? A[k * M + m] : A[m * K + k]) *
                        (tb ? B[n * K + k] : B[k * N + n]);
  return C;
}

TEST(CpuOps, GemmAllTransposesWithBiasAlphaBeta) {
  const int64_t M = 5, N = 4, K = 3;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      auto A = randomVec(M * K, 21), B = randomVec(K * N, 22),
           C0 = randomVec(M * N, 23), bias = randomVec(N, 24);
      auto C = C0;
      cpu::gemm(A.data(), B.data(), C.data(), bias.data(), M, N, K, ta, tb, 0.5,
                2.0);
      auto P = naiveGemm(A, B, M, N, K, ta, tb);
      for (int64_t i = 0; i < M * N; ++i)
        EXPECT_NEAR(C[i], 0.5 * P[i] + 2.0 * C0[i] + bias[i % N], 1e-12)
            << "ta=" << ta << " tb=" << tb;
      // float goes through the same path (sgemm).
      auto Af = toFloat(A), Bf = toFloat(B);
      std::vector<float> Cf(M * N, NAN); // beta 0 must ignore NaN garbage
      cpu::gemm(Af.data(), Bf.data(), Cf.data(), static_cast<float *>(nullptr),
                M, N, K, ta, tb, 1.0, 0.0);
      for (int64_t i = 0; i < M * N; ++i)
        EXPECT_NEAR(Cf[i], P[i], 1e-5);
    }
}

TEST(CpuOps, GemmGradientsThroughTransposedGemms) {
  // Y = X W (X: M x K, W: K x N). The backward a compiler emits:
  //   dW = X^T dY  -> gemm(X, dY, trans_a)   with M'=K, N'=N, K'=M
  //   dX = dY W^T  -> gemm(dY, W, trans_b)   with M'=M, N'=K, K'=N
  const int64_t M = 4, N = 5, K = 3;
  auto X = randomVec(M * K, 31), W = randomVec(K * N, 32),
       w = randomVec(M * N, 33);
  std::vector<double> Y(M * N);
  auto loss = [&]() {
    cpu::gemm(X.data(), W.data(), Y.data(), static_cast<double *>(nullptr), M,
              N, K, false, false, 1.0, 0.0);
    return dotv(w, Y);
  };
  std::vector<double> dW(K * N), dX(M * K);
  cpu::gemm(X.data(), w.data(), dW.data(), static_cast<double *>(nullptr), K, N,
            M, true, false, 1.0, 0.0);
  cpu::gemm(w.data(), W.data(), dX.data(), static_cast<double *>(nullptr), M, K,
            N, false, true, 1.0, 0.0);
  EXPECT_LT(relError(dW, numericGrad(W, loss)), kTol);
  EXPECT_LT(relError(dX, numericGrad(X, loss)), kTol);
  // Y = X^T W^T stored transposed: check the (true, true) case too.
  auto Xt = randomVec(K * M, 34), Wt = randomVec(N * K, 35);
  auto lossT = [&]() {
    cpu::gemm(Xt.data(), Wt.data(), Y.data(), static_cast<double *>(nullptr), M,
              N, K, true, true, 1.0, 0.0);
    return dotv(w, Y);
  };
  // dXt (K x M) = W^T... = (dY W^T)^T = W dY^T: gemm(Wt^T?) -- Wt is (N,K),
  // so dXt = Wt^T dY^T = gemm(Wt, dY, trans_a, trans_b) with M'=K, N'=M, K'=N.
  std::vector<double> dXt(K * M);
  cpu::gemm(Wt.data(), w.data(), dXt.data(), static_cast<double *>(nullptr), K,
            M, N, true, true, 1.0, 0.0);
  EXPECT_LT(relError(dXt, numericGrad(Xt, lossT)), kTol);
}

TEST(CpuOps, BiasGradient) {
  const int64_t M = 6, N = 4;
  auto bias = randomVec(N, 41), w = randomVec(M * N, 42);
  auto A = randomVec(M * 2, 43), B = randomVec(2 * N, 44);
  std::vector<double> Y(M * N);
  auto loss = [&]() {
    cpu::gemm(A.data(), B.data(), Y.data(), bias.data(), M, N, 2, false, false,
              1.0, 0.0);
    return dotv(w, Y);
  };
  std::vector<double> db(N, 7.0); // overwritten
  cpu::biasGrad(w.data(), db.data(), M, N);
  EXPECT_LT(relError(db, numericGrad(bias, loss)), kTol);
}

TEST(CpuOps, GeluValueAndGradient) {
  const int64_t n = 40;
  auto x = randomVec(n, 51, 4.0), w = randomVec(n, 52);
  std::vector<double> y(n);
  auto loss = [&]() {
    cpu::geluFwd(x.data(), y.data(), n);
    return dotv(w, y);
  };
  loss();
  for (int64_t i = 0; i < n; ++i) {
    double u = std::sqrt(2 / M_PI) * (x[i] + 0.044715 * std::pow(x[i], 3));
    EXPECT_NEAR(y[i], 0.5 * x[i] * (1 + std::tanh(u)), 1e-12);
  }
  std::vector<double> dx(n, 0.0);
  cpu::geluBwd(x.data(), w.data(), dx.data(), n, false);
  EXPECT_LT(relError(dx, numericGrad(x, loss)), kTol);
  // In place (y = x) is allowed for the elementwise ops.
  loss(); // numericGrad left y from a perturbed x
  auto inplace = x;
  cpu::geluFwd(inplace.data(), inplace.data(), n);
  EXPECT_EQ(inplace, y);
}

TEST(CpuOps, EmbeddingWithPositionComponents) {
  const int64_t V = 5, D = 3, Tctx = 8, rows = 16;
  const cpu::PosComponents comps = {{1, 8}, {4, 3}};
  std::vector<int32_t> tokens(rows);
  for (int64_t r = 0; r < rows; ++r)
    tokens[r] = static_cast<int32_t>((r * 3 + 1) % V);
  auto table = randomVec(V * D, 61), p0 = randomVec(8 * D, 62),
       p1 = randomVec(3 * D, 63), w = randomVec(rows * D, 64);
  std::vector<double> out(rows * D);
  auto loss = [&]() {
    Status s =
        cpu::embedFwd(tokens.data(), table.data(), {p0.data(), p1.data()},
                      comps, out.data(), rows, Tctx, D, V);
    EXPECT_TRUE(s.isOk()) << s.message();
    return dotv(w, out);
  };
  loss();
  // The definition: t = r mod T; component p indexes (t / div) mod mod.
  for (int64_t r = 0; r < rows; ++r) {
    int64_t t = r % Tctx;
    for (int64_t d = 0; d < D; ++d)
      EXPECT_NEAR(out[r * D + d],
                  table[tokens[r] * D + d] + p0[(t % 8) * D + d] +
                      p1[((t / 4) % 3) * D + d],
                  1e-12);
  }
  std::vector<double> dt(V * D, 0.0), dp0(8 * D, 0.0), dp1(3 * D, 0.0);
  ASSERT_TRUE(cpu::embedBwd(tokens.data(), w.data(), dt.data(),
                            {dp0.data(), dp1.data()}, comps, rows, Tctx, D, V)
                  .isOk());
  EXPECT_LT(relError(dt, numericGrad(table, loss)), kTol);
  EXPECT_LT(relError(dp0, numericGrad(p0, loss)), kTol);
  EXPECT_LT(relError(dp1, numericGrad(p1, loss)), kTol);

  // Decode: one row at position t0 equals that row of the batched forward.
  std::vector<double> one(D);
  ASSERT_TRUE(cpu::embedFwd(tokens.data() + 13, table.data(),
                            {p0.data(), p1.data()}, comps, one.data(), 1, Tctx,
                            D, V, /*t0=*/13 % Tctx)
                  .isOk());
  for (int64_t d = 0; d < D; ++d)
    EXPECT_DOUBLE_EQ(one[d], out[13 * D + d]);

  // A token outside [0, V) is an error naming it, not a crash.
  tokens[7] = 9;
  Status s = cpu::embedFwd(tokens.data(), table.data(), {p0.data(), p1.data()},
                           comps, out.data(), rows, Tctx, D, V);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("tokens[7] = 9 is outside [0, 5)"),
            std::string::npos)
      << s.message();
}

TEST(CpuOps, CrossEntropyValueAndGradient) {
  const int64_t M = 4, V = 6;
  auto logits = randomVec(M * V, 71, 3.0);
  std::vector<int32_t> targets = {0, 5, 2, 2};
  const double scale = 0.25;
  std::vector<double> losses(M), dl(M * V);
  auto loss = [&]() {
    EXPECT_TRUE(cpu::xent(logits.data(), targets.data(), losses.data(),
                          static_cast<double *>(nullptr), M, V, 1.0)
                    .isOk());
    double s = 0;
    for (double l : losses)
      s += l;
    return s * scale;
  };
  loss();
  for (int64_t m = 0; m < M; ++m) {
    double z = 0;
    for (int64_t j = 0; j < V; ++j)
      z += std::exp(logits[m * V + j]);
    double p = std::exp(logits[m * V + targets[m]]) / z;
    EXPECT_NEAR(losses[m], -std::log2(p), 1e-12);
  }
  ASSERT_TRUE(cpu::xent(logits.data(), targets.data(), losses.data(), dl.data(),
                        M, V, scale)
                  .isOk());
  EXPECT_LT(relError(dl, numericGrad(logits, loss)), kTol);
  targets[1] = -1;
  Status s = cpu::xent(logits.data(), targets.data(), losses.data(), dl.data(),
                       M, V, scale);
  EXPECT_NE(s.message().find("targets[1] = -1"), std::string::npos);
}

TEST(CpuOps, DropoutForwardBackwardConsistent) {
  const int64_t n = 20000;
  const double rate = 0.3;
  auto x = randomVec(n, 81), w = randomVec(n, 82);
  std::vector<double> y(n);
  auto loss = [&]() {
    cpu::dropoutFwd(x.data(), y.data(), n, rate, /*salt=*/7, /*seed=*/1234);
    return dotv(w, y);
  };
  loss();
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool keep = stc::abi::dropoutHash(1234, 7, static_cast<uint64_t>(i)) >=
                stc::abi::dropoutThreshold(rate);
    EXPECT_EQ(y[i], keep ? x[i] * (1.0 / (1.0 - rate)) : 0.0);
    kept += keep;
  }
  // 1 - rate of the elements survive (binomial sd here is ~0.003).
  EXPECT_NEAR(static_cast<double>(kept) / n, 1 - rate, 0.015);
  std::vector<double> dx(n);
  cpu::dropoutBwd(w.data(), dx.data(), n, rate, 7, 1234);
  // Linear in x: the gradient is exact on any subset; check a slice by FD.
  std::vector<double> xs(x.begin(), x.begin() + 200);
  auto lossSlice = [&]() {
    std::vector<double> ys(200);
    cpu::dropoutFwd(xs.data(), ys.data(), 200, rate, 7, 1234);
    return dotv(std::vector<double>(w.begin(), w.begin() + 200), ys);
  };
  std::vector<double> dxs(dx.begin(), dx.begin() + 200);
  EXPECT_LT(relError(dxs, numericGrad(xs, lossSlice)), kTol);
  // Another salt or seed gives another mask.
  std::vector<double> y2(n), y3(n);
  cpu::dropoutFwd(x.data(), y2.data(), n, rate, 8, 1234);
  cpu::dropoutFwd(x.data(), y3.data(), n, rate, 7, 1235);
  EXPECT_NE(y, y2);
  EXPECT_NE(y, y3);
  // rate 0 keeps everything unscaled.
  cpu::dropoutFwd(x.data(), y2.data(), n, 0.0, 7, 1234);
  EXPECT_EQ(y2, x);
}

TEST(CpuOps, DropoutHashIsPinned) {
  // The hash is part of the artifact format (CUDA kernels must agree); these
  // values pin it so an accidental change fails here.
  EXPECT_EQ(stc::abi::dropoutMix32(0u), 0u);
  EXPECT_EQ(stc::abi::dropoutMix32(1u), 0x514e28b7u);
  uint32_t h0 = stc::abi::dropoutHash(0, 0, 0), h1 = stc::abi::dropoutHash(1, 0, 0),
           h2 = stc::abi::dropoutHash(0, 1, 0), h3 = stc::abi::dropoutHash(0, 0, 1),
           h4 = stc::abi::dropoutHash(0, 0, uint64_t(1) << 32);
  EXPECT_NE(h0, h1);
  EXPECT_NE(h0, h2);
  EXPECT_NE(h0, h3);
  EXPECT_NE(h0, h4);
  EXPECT_EQ(stc::abi::dropoutThreshold(0.0), 0u);
  EXPECT_EQ(stc::abi::dropoutThreshold(0.5), 0x80000000u);
  EXPECT_EQ(stc::abi::dropoutThreshold(0.25), 0x40000000u);
}

// Row i of the permuted heads lands at (i mod l) * (T / l) + i / l, the
// other heads stay, and the inverse restores the input exactly.
TEST(CpuOps, StridePermuteMovesOnlyThePermutedHeads) {
  const int64_t B = 2, T = 12, D = 6, l = 3, c0 = 2, c1 = 4;
  std::vector<double> x(B * T * D), y(x.size()), back(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<double>(i);
  cpu::stridePermute(x.data(), y.data(), B, T, D, c0, c1, l, false);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < T; ++i)
      for (int64_t c = 0; c < D; ++c) {
        int64_t to = c >= c0 && c < c1 ? (i % l) * (T / l) + i / l : i;
        EXPECT_EQ(y[(b * T + to) * D + c], x[(b * T + i) * D + c])
            << "b " << b << " i " << i << " c " << c;
      }
  cpu::stridePermute(y.data(), back.data(), B, T, D, c0, c1, l, true);
  EXPECT_EQ(back, x);
}

// summary_gather puts fixed(l, c)'s summary columns first, in order, and
// zeros the rest; summary_scatter is its adjoint: <scatter(y), x> =
// <y, gather(x)>.
TEST(CpuOps, SummaryGatherAndScatterAreAdjoint) {
  const int64_t B = 2, T = 30, D = 3, l = 8, c = 3; // ragged: 30 = 3 * 8 + 6
  const int64_t count = 3 * c + 1;                 // 6 - (8 - 3) = 1 in the tail
  std::vector<double> x = randomVec(B * T * D, 41), y = randomVec(B * T * D, 42);
  std::vector<double> gx(x.size()), sy(x.size());
  cpu::summaryGather(x.data(), gx.data(), B, T, D, l, c);
  cpu::summaryScatter(y.data(), sy.data(), B, T, D, false, l, c);
  for (int64_t b = 0; b < B; ++b) {
    int64_t s = 0;
    for (int64_t t = 0; t < T; ++t)
      if (t % l >= l - c) {
        for (int64_t d = 0; d < D; ++d)
          EXPECT_EQ(gx[(b * T + s) * D + d], x[(b * T + t) * D + d]);
        ++s;
      }
    EXPECT_EQ(s, count);
    for (int64_t r = count; r < T; ++r)
      for (int64_t d = 0; d < D; ++d)
        EXPECT_EQ(gx[(b * T + r) * D + d], 0.0) << "row " << r;
  }
  double lhs = 0, rhs = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    lhs += sy[i] * x[i];
    rhs += y[i] * gx[i];
  }
  EXPECT_NEAR(lhs, rhs, 1e-12 * std::max(1.0, std::fabs(lhs)));

  // The accumulating form adds the same scatter into what x holds.
  std::vector<double> acc = x;
  cpu::summaryScatter(y.data(), acc.data(), B, T, D, true, l, c);
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_EQ(acc[i], x[i] + sy[i]) << i;
}

// Two softmaxes over disjoint key sets, merged by their lse, are the softmax
// over the union; an empty side (lse = -inf) leaves the other as it is.
TEST(CpuOps, AttentionMergeIsTheSoftmaxOverBothKeySets) {
  const int64_t B = 1, T = 3, H = 2, dv = 4, keys = 5;
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> o1(B * T * H * dv), o2(o1.size()), o(o1.size()),
      want(o1.size());
  std::vector<double> lse1(B * H * T), lse2(lse1.size()), lse(lse1.size()),
      wantLse(lse1.size());
  std::vector<double> scores = randomVec(2 * keys * H * T, 7);
  std::vector<double> values = randomVec(2 * keys * dv, 8);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t t = 0; t < T; ++t) {
      const double *s = &scores[(h * T + t) * 2 * keys];
      // One softmax per half, and one over both (half 2 empty for t = 0).
      auto softmax = [&](int64_t from, int64_t to, double *out, double *l) {
        if (from == to) {
          *l = -inf;
          std::fill(out, out + dv, 0.0);
          return;
        }
        double m = *std::max_element(s + from, s + to), z = 0;
        for (int64_t j = from; j < to; ++j)
          z += std::exp(s[j] - m);
        *l = m + std::log(z);
        for (int64_t d = 0; d < dv; ++d) {
          out[d] = 0;
          for (int64_t j = from; j < to; ++j)
            out[d] += std::exp(s[j] - *l) * values[j * dv + d];
        }
      };
      int64_t r = h * T + t, base = (t * H + h) * dv;
      int64_t end2 = t == 0 ? keys : 2 * keys;
      softmax(0, keys, &o1[base], &lse1[r]);
      softmax(keys, end2, &o2[base], &lse2[r]);
      softmax(0, end2, &want[base], &wantLse[r]);
    }
  cpu::attentionMerge(o1.data(), lse1.data(), o2.data(), lse2.data(), o.data(),
                      lse.data(), B, T, H, dv);
  for (size_t i = 0; i < o.size(); ++i)
    EXPECT_NEAR(o[i], want[i], 1e-12) << i;
  for (size_t i = 0; i < lse.size(); ++i)
    EXPECT_NEAR(lse[i], wantLse[i], 1e-12) << i;
  // Both empty: o = 0, lse = -inf.
  std::fill(lse1.begin(), lse1.end(), -inf);
  std::fill(lse2.begin(), lse2.end(), -inf);
  cpu::attentionMerge(o1.data(), lse1.data(), o2.data(), lse2.data(), o.data(),
                      lse.data(), B, T, H, dv);
  for (double v : o)
    EXPECT_EQ(v, 0.0);
  for (double v : lse)
    EXPECT_EQ(v, -inf);
}

TEST(CpuOps, SumOfSquares) {
  std::vector<double> x = {1, -2, 3}, y = {0.5, 4}, out = {10};
  cpu::sumsq<double>({x.data()}, {3}, out.data(), true);
  EXPECT_DOUBLE_EQ(out[0], 24);
  cpu::sumsq<double>({x.data()}, {3}, out.data(), false);
  EXPECT_DOUBLE_EQ(out[0], 14);
  // Several tensors: one sum over all of them.
  cpu::sumsq<double>({x.data(), y.data()}, {3, 2}, out.data(), false);
  EXPECT_DOUBLE_EQ(out[0], 14 + 0.25 + 16);
}

TEST(CpuOps, AdamWMatchesHandComputation) {
  // Two steps on two elements, clip active on the second step.
  std::vector<double> p = {1.0, -2.0}, m = {0, 0}, v = {0, 0};
  cpu::AdamWConfig cfg;
  cfg.beta1 = 0.9;
  cfg.beta2 = 0.99;
  cfg.eps = 1e-8;
  cfg.weightDecay = 0.1;
  cfg.clip = 1.0;
  const double lr = 0.01;
  double pe[2] = {1.0, -2.0}, me[2] = {0, 0}, ve[2] = {0, 0};
  const std::vector<std::vector<double>> grads = {{0.3, 0.4}, {3.0, -4.0}};
  for (int step = 1; step <= 2; ++step) {
    const auto &g = grads[step - 1];
    double gn = g[0] * g[0] + g[1] * g[1];
    ASSERT_TRUE(cpu::adamw(p.data(), g.data(), m.data(), v.data(), &gn, 2, cfg,
                           lr, step)
                    .isOk());
    double c = std::min(1.0, 1.0 / std::sqrt(gn)); // 1 then 1/5
    for (int i = 0; i < 2; ++i) {
      double gi = g[i] * c;
      me[i] = 0.9 * me[i] + 0.1 * gi;
      ve[i] = 0.99 * ve[i] + 0.01 * gi * gi;
      double mh = me[i] / (1 - std::pow(0.9, step));
      double vh = ve[i] / (1 - std::pow(0.99, step));
      pe[i] = pe[i] - lr * 0.1 * pe[i] - lr * mh / (std::sqrt(vh) + 1e-8);
      EXPECT_NEAR(p[i], pe[i], 1e-15) << "step " << step;
      EXPECT_NEAR(m[i], me[i], 1e-15);
      EXPECT_NEAR(v[i], ve[i], 1e-15);
    }
  }
  double gn = 1;
  std::vector<double> g = {0.1, 0.1};
  Status s =
      cpu::adamw(p.data(), g.data(), m.data(), v.data(), &gn, 2, cfg, lr, 0);
  EXPECT_NE(s.message().find("must be >= 1"), std::string::npos);
}

// With master weights the update starts from the master, not from the
// (possibly rounded) value, and both get the result.
TEST(CpuOps, AdamWUpdatesTheMasterWeights) {
  cpu::AdamWConfig cfg;
  std::vector<double> p = {0.5, -0.25}, master = {0.5000001, -0.2500001},
                      m = {0, 0}, v = {0, 0}, g = {1.0, -1.0};
  double gn = 2;
  ASSERT_TRUE(cpu::adamw(p.data(), g.data(), m.data(), v.data(), &gn, 2, cfg,
                         1e-3, 1, master.data())
                  .isOk());
  // Step 1: m' = g, v' = g^2, so the update is lr * sign(g) (eps aside).
  EXPECT_NEAR(master[0], 0.5000001 - 1e-3, 1e-10);
  EXPECT_NEAR(master[1], -0.2500001 + 1e-3, 1e-10);
  EXPECT_EQ(p[0], master[0]);
  EXPECT_EQ(p[1], master[1]);
}

// Loss scaling: gradients S times the true ones, gnorm_sq S^2 times, update
// as if unscaled (clipping on the true norm); a non-finite gnorm_sq is a
// skipped step (nothing changes, no error) only with a loss scale.
TEST(CpuOps, AdamWDividesByTheLossScaleAndSkipsOverflow) {
  cpu::AdamWConfig cfg;
  cfg.clip = 1.0;
  cfg.weightDecay = 0.1;
  const double S = 1024;
  // The loss-scale state: scale, finite run, skipped steps, last skipped.
  std::vector<double> state = {S, 0, 0, 0};
  std::vector<double> p1 = {1.0, -2.0}, m1 = {0, 0}, v1 = {0, 0};
  std::vector<double> p2 = p1, m2 = m1, v2 = v1;
  const std::vector<double> g = {3.0, -4.0}, gs = {3.0 * S, -4.0 * S};
  double gn = 25, gns = 25 * S * S;
  auto expectSame = [&](const char *when) {
    for (int i = 0; i < 2; ++i) {
      EXPECT_NEAR(p2[i], p1[i], 1e-15) << when;
      EXPECT_NEAR(m2[i], m1[i], 1e-15) << when;
      EXPECT_NEAR(v2[i], v1[i], 1e-15) << when;
    }
  };
  ASSERT_TRUE(cpu::adamw(p1.data(), g.data(), m1.data(), v1.data(), &gn, 2,
                         cfg, 1e-2, 1)
                  .isOk());
  ASSERT_TRUE(cpu::adamw(p2.data(), gs.data(), m2.data(), v2.data(), &gns, 2,
                         cfg, 1e-2, 1, static_cast<double *>(nullptr),
                         state.data())
                  .isOk());
  expectSame("step 1");
  double inf = INFINITY;
  const std::vector<double> before = p2;
  ASSERT_TRUE(cpu::adamw(p2.data(), gs.data(), m2.data(), v2.data(), &inf, 2,
                         cfg, 1e-2, 2, static_cast<double *>(nullptr),
                         state.data())
                  .isOk());
  EXPECT_EQ(p2, before) << "an overflowed step changes nothing";
  EXPECT_EQ(m2, m1);
  // Step 3 after one skipped step is Adam's second update (bias
  // corrections of t = 2), like unscaled step 2.
  state[2] = 1;
  ASSERT_TRUE(cpu::adamw(p1.data(), g.data(), m1.data(), v1.data(), &gn, 2,
                         cfg, 1e-2, 2)
                  .isOk());
  ASSERT_TRUE(cpu::adamw(p2.data(), gs.data(), m2.data(), v2.data(), &gns, 2,
                         cfg, 1e-2, 3, static_cast<double *>(nullptr),
                         state.data())
                  .isOk());
  expectSame("the update after a skipped step");
  state[2] = 3;
  Status corrupt = cpu::adamw(p2.data(), gs.data(), m2.data(), v2.data(),
                              &gns, 2, cfg, 1e-2, 3,
                              static_cast<double *>(nullptr), state.data());
  EXPECT_NE(corrupt.message().find("skipped steps is < 1"), std::string::npos)
      << corrupt.message();
  Status s = cpu::adamw(p1.data(), g.data(), m1.data(), v1.data(), &inf, 2,
                        cfg, 1e-2, 2);
  EXPECT_NE(s.message().find("the loss diverged"), std::string::npos)
      << "without a loss scale it is an error: " << s.message();
}

// The dynamic loss scale: halved (and the step counted as skipped) on a
// non-finite norm, doubled after growth_interval finite steps in a row.
TEST(CpuOps, LossScaleHalvesOnOverflowAndGrowsAfterAnInterval) {
  std::vector<float> state = {1024.f, 0.f, 0.f, 0.f};
  float finite = 4.f, inf = INFINITY, nan = NAN;
  cpu::lossScaleUpdate(&finite, state.data(), 3);
  cpu::lossScaleUpdate(&finite, state.data(), 3);
  EXPECT_EQ(state, (std::vector<float>{1024.f, 2.f, 0.f, 0.f}));
  cpu::lossScaleUpdate(&finite, state.data(), 3);
  EXPECT_EQ(state, (std::vector<float>{2048.f, 0.f, 0.f, 0.f}));
  EXPECT_EQ(lastStepLossScale(state), 1024.0) << "the step ran at 1024";
  cpu::lossScaleUpdate(&finite, state.data(), 3);
  cpu::lossScaleUpdate(&inf, state.data(), 3);
  EXPECT_EQ(state, (std::vector<float>{1024.f, 0.f, 1.f, 1.f}));
  EXPECT_EQ(lastStepLossScale(state), 2048.0) << "the skipped step ran at 2048";
  cpu::lossScaleUpdate(&nan, state.data(), 3);
  EXPECT_EQ(state, (std::vector<float>{512.f, 0.f, 2.f, 1.f}));
  cpu::lossScaleUpdate(&finite, state.data(), 3);
  EXPECT_EQ(state, (std::vector<float>{512.f, 1.f, 2.f, 0.f}));
  EXPECT_EQ(lastStepLossScale(state), 512.0);
}

// A step skipped at a loss scale below 2^-24 ends training: no scale makes
// those gradients fit f16.
TEST(CpuOps, LossScaleCollapseIsAnError) {
  StepReport r;
  r.step = 7;
  r.lossScale = 1024;
  r.skipped = true;
  r.skippedSteps = 3;
  EXPECT_TRUE(checkLossScale(r).isOk()) << "an overflow at 1024 is routine";
  r.lossScale = std::ldexp(1.0, -25);
  r.skipped = false;
  EXPECT_TRUE(checkLossScale(r).isOk()) << "a finite step at any scale";
  r.skipped = true;
  Status s = checkLossScale(r);
  EXPECT_NE(s.message().find("train step 7: the f16 gradients are not finite "
                             "even at a loss scale of 2.98023e-08 (3 steps "
                             "skipped so far)"),
            std::string::npos)
      << s.message();
  r.lossScale = 0; // not f16
  EXPECT_TRUE(checkLossScale(r).isOk());
}

} // namespace
