//===- AttentionTest.cpp - Reference attention vs independent oracles -----===//
//
// The forward is compared with a naive O(n^2) softmax written here from the
// definition (score matrix, -inf for disallowed pairs, row softmax), the
// backward with finite differences, and decode with the batched forward.
// Patterns cover the built-in kinds, a union, a predicate and a multi-layout
// (heads split over two patterns) case; score modifications (soft cap, ALiBi
// in both orders) ride on some of them.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include "runtime/cpu/CpuOps.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace stc::rt;
using namespace stc::rt::test;
using stc::pattern::Pattern;

namespace {

Pattern parsePattern(const std::string &text) {
  std::string err;
  auto p = Pattern::parse(text, &err);
  EXPECT_TRUE(p.has_value()) << text << ": " << err;
  return p ? *p : Pattern::causal();
}

struct Case {
  std::vector<std::string> patterns; // one per head group
  cpu::AttentionShape shape;
};

/// Independent oracle: materialize S = scale Q K^T with -inf where the
/// pattern (queried directly, no AttentionMask) disallows, softmax each row.
void naiveAttention(const std::vector<double> &q, const std::vector<double> &k,
                    const std::vector<double> &v,
                    const std::vector<Pattern> &ps,
                    const cpu::AttentionShape &s, std::vector<double> &o,
                    std::vector<double> &lse) {
  const double ninf = -std::numeric_limits<double>::infinity();
  o.assign(s.B * s.T * s.H * s.dv, 0.0);
  lse.assign(s.B * s.H * s.T, ninf);
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h) {
      const Pattern &p = ps[h / s.headsPerLayout];
      std::vector<std::vector<double>> S(s.T, std::vector<double>(s.T, ninf));
      for (int64_t i = 0; i < s.T; ++i)
        for (int64_t j = 0; j < s.T; ++j) {
          if (!p.allowed(i, j))
            continue;
          double d = 0;
          for (int64_t c = 0; c < s.dk; ++c)
            d += q[((b * s.T + i) * s.H + h) * s.dk + c] *
                 k[((b * s.T + j) * s.H + h) * s.dk + c];
          double sc = s.scale * d;
          // Score modifications, from their definitions: an ALiBi bias of
          // slope 2^(-base (h + 1) / H) per unit of distance, a soft cap.
          const cpu::ScoreMods &m = s.mods;
          const double bias =
              m.alibi != 0
                  ? std::pow(2.0, -m.alibi * double(h + 1) / double(s.H)) *
                        double(i - j)
                  : 0.0;
          if (m.alibiFirst)
            sc -= bias;
          if (m.softcap != 0)
            sc = m.softcap * std::tanh(sc / m.softcap);
          if (!m.alibiFirst)
            sc -= bias;
          S[i][j] = sc;
        }
      for (int64_t i = 0; i < s.T; ++i) {
        double mx = ninf;
        for (double x : S[i])
          mx = std::max(mx, x);
        if (mx == ninf)
          continue;
        double z = 0;
        for (double x : S[i])
          z += std::exp(x - mx);
        lse[(b * s.H + h) * s.T + i] = mx + std::log(z);
        for (int64_t j = 0; j < s.T; ++j) {
          double pij = std::exp(S[i][j] - mx) / z;
          for (int64_t c = 0; c < s.dv; ++c)
            o[((b * s.T + i) * s.H + h) * s.dv + c] +=
                pij * v[((b * s.T + j) * s.H + h) * s.dv + c];
        }
      }
    }
}

/// The masks of a list of patterns over T positions, and pointers to them
/// (what the attention functions take).
struct Masks {
  Masks(const std::vector<std::string> &patterns, int64_t T) {
    all.reserve(patterns.size());
    for (const auto &t : patterns)
      all.emplace_back(parsePattern(t), T);
    for (const auto &m : all)
      ptrs.push_back(&m);
  }
  Masks(const Masks &) = delete;
  std::vector<cpu::AttentionMask> all;
  std::vector<const cpu::AttentionMask *> ptrs;
};

/// An attention shape with the usual scale, 1 / sqrt(dk).
cpu::AttentionShape shape(int64_t B, int64_t T, int64_t H, int64_t dk,
                          int64_t dv, int64_t hpl) {
  cpu::AttentionShape s;
  s.B = B;
  s.T = T;
  s.H = H;
  s.dk = dk;
  s.dv = dv;
  s.scale = 1.0 / std::sqrt(static_cast<double>(dk));
  s.headsPerLayout = hpl;
  return s;
}

/// `base` with score modifications.
cpu::AttentionShape withMods(cpu::AttentionShape base, double softcap,
                             double alibi, bool alibiFirst) {
  base.mods = cpu::ScoreMods{softcap, alibi, alibiFirst};
  return base;
}

std::vector<Case> cases() {
  return {
      // Score modifications: soft caps small enough to bend the scores, the
      // ALiBi bias before and after the cap.
      {{"causal"}, withMods(shape(2, 9, 2, 3, 4, 2), 0.7, 2.0, true)},
      {{"local(5)"}, withMods(shape(1, 12, 2, 4, 4, 2), 1.5, 8.0, false)},
      {{"fixed(4,1)"}, withMods(shape(1, 10, 1, 3, 2, 1), 0.4, 0.0, false)},
      {{"strided(3)"}, withMods(shape(1, 11, 2, 2, 3, 2), 0.0, 4.0, false)},
      {{"causal"}, shape(2, 9, 2, 3, 4, 2)},
      {{"local(3)"}, shape(1, 12, 1, 4, 4, 1)},
      {{"strided(4)"}, shape(1, 13, 2, 2, 3, 2)},
      {{"fixed(4,1)"}, shape(2, 10, 1, 3, 2, 1)},
      {{"union(local(2),strided(5))"}, shape(1, 14, 1, 3, 3, 1)},
      {{"predicate(ls;(or (slt (sub q k) 2) (eq (rems k 4) 3)))"},
       shape(1, 11, 2, 3, 3, 2)},
      // Multi-layout: heads 0-1 local, heads 2-3 a predicate.
      {{"local(3)", "predicate(ev;(eq (rems (sub q k) 2) 0))"},
       shape(2, 10, 4, 2, 3, 2)},
  };
}

TEST(Attention, ForwardMatchesNaiveSoftmax) {
  uint64_t seed = 100;
  for (const Case &c : cases()) {
    const auto &s = c.shape;
    std::vector<Pattern> ps;
    std::vector<cpu::AttentionMask> masks;
    for (const auto &t : c.patterns) {
      ps.push_back(parsePattern(t));
      masks.emplace_back(ps.back(), s.T);
    }
    std::vector<const cpu::AttentionMask *> mp;
    for (const auto &m : masks)
      mp.push_back(&m);
    auto q = randomVec(s.B * s.T * s.H * s.dk, seed++, 2.0);
    auto k = randomVec(q.size(), seed++, 2.0);
    auto v = randomVec(s.B * s.T * s.H * s.dv, seed++);
    std::vector<double> o(v.size()), lse(s.B * s.H * s.T), on, lsen;
    cpu::attentionFwd(q.data(), k.data(), v.data(), o.data(), lse.data(), s,
                      mp);
    naiveAttention(q, k, v, ps, s, on, lsen);
    EXPECT_LT(relError(o, on), 1e-12) << c.patterns[0];
    EXPECT_LT(relError(lse, lsen), 1e-12) << c.patterns[0];
    // The float instantiation agrees to float precision.
    auto qf = toFloat(q), kf = toFloat(k), vf = toFloat(v);
    std::vector<float> of(v.size()), lf(lse.size());
    cpu::attentionFwd(qf.data(), kf.data(), vf.data(), of.data(), lf.data(), s,
                      mp);
    for (size_t i = 0; i < o.size(); ++i)
      EXPECT_NEAR(of[i], o[i], 1e-5);
  }
}

TEST(Attention, BackwardMatchesFiniteDifferences) {
  uint64_t seed = 200;
  for (const Case &c : cases()) {
    const auto &s = c.shape;
    Masks masks(c.patterns, s.T);
    const auto &mp = masks.ptrs;
    auto q = randomVec(s.B * s.T * s.H * s.dk, seed++);
    auto k = randomVec(q.size(), seed++);
    auto v = randomVec(s.B * s.T * s.H * s.dv, seed++);
    auto w = randomVec(v.size(), seed++);
    std::vector<double> o(v.size()), lse(s.B * s.H * s.T);
    auto loss = [&]() {
      cpu::attentionFwd(q.data(), k.data(), v.data(), o.data(), lse.data(), s,
                        mp);
      return dotv(w, o);
    };
    loss();
    // Garbage in the outputs: attention_bwd overwrites them.
    std::vector<double> dq(q.size(), 7.0), dk(k.size(), 7.0), dv(v.size(), 7.0);
    cpu::attentionBwd(q.data(), k.data(), v.data(), o.data(), lse.data(),
                      w.data(), dq.data(), dk.data(), dv.data(), s, mp);
    EXPECT_LT(relError(dq, numericGrad(q, loss)), 1e-7) << c.patterns[0];
    EXPECT_LT(relError(dk, numericGrad(k, loss)), 1e-7) << c.patterns[0];
    EXPECT_LT(relError(dv, numericGrad(v, loss)), 1e-7) << c.patterns[0];
  }
}

TEST(Attention, RowWithoutAllowedKeysIsZero) {
  // Only key 5 and later are ever allowed: queries 0..4 see nothing.
  Pattern p = parsePattern("predicate(late;(sge k 5))");
  cpu::AttentionShape s;
  s.B = 1;
  s.T = 8;
  s.H = 1;
  s.dk = 2;
  s.dv = 2;
  s.scale = 0.5;
  cpu::AttentionMask m(p, s.T);
  std::vector<const cpu::AttentionMask *> mp = {&m};
  auto q = randomVec(16, 1), k = randomVec(16, 2), v = randomVec(16, 3),
       w = randomVec(16, 4);
  std::vector<double> o(16), lse(8);
  cpu::attentionFwd(q.data(), k.data(), v.data(), o.data(), lse.data(), s, mp);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(o[i * 2], 0.0);
    EXPECT_TRUE(std::isinf(lse[i]) && lse[i] < 0);
  }
  EXPECT_TRUE(std::isfinite(lse[5]));
  std::vector<double> dq(16), dk(16), dv(16);
  cpu::attentionBwd(q.data(), k.data(), v.data(), o.data(), lse.data(),
                    w.data(), dq.data(), dk.data(), dv.data(), s, mp);
  for (double x : dq)
    EXPECT_TRUE(std::isfinite(x));
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(dq[i], 0.0) << "queries without keys get no gradient";
}

TEST(Attention, DecodeMatchesForwardRows) {
  // kv_store + attention_decode at every position reproduce the batched
  // forward's rows, for a multi-layout case and one with score
  // modifications, two sequences decoded at once (each with its own caches).
  for (const Case &c : {cases().back(), cases().front()}) {
    cpu::AttentionShape s = c.shape;
    s.B = 2;
    Masks masks(c.patterns, s.T);
    const auto &mp = masks.ptrs;
    const int64_t B = s.B, qkRow = s.H * s.dk, voRow = s.H * s.dv;
    auto q = randomVec(B * s.T * qkRow, 301),
         k = randomVec(B * s.T * qkRow, 302),
         v = randomVec(B * s.T * voRow, 303);
    std::vector<double> o(B * s.T * voRow), lse(B * s.H * s.T);
    cpu::attentionFwd(q.data(), k.data(), v.data(), o.data(), lse.data(), s,
                      mp);
    std::vector<double> kc(B * s.T * qkRow, NAN), vc(B * s.T * voRow, NAN),
        od(B * voRow);
    // One position of both sequences: rows [B, qkRow] / [B, voRow].
    auto rows = [&](const std::vector<double> &x, int64_t row, int64_t pos) {
      std::vector<double> r;
      for (int64_t b = 0; b < B; ++b)
        r.insert(r.end(), x.begin() + (b * s.T + pos) * row,
                 x.begin() + (b * s.T + pos + 1) * row);
      return r;
    };
    for (int64_t pos = 0; pos < s.T; ++pos) {
      ASSERT_TRUE(cpu::kvStore(rows(k, qkRow, pos).data(), kc.data(), B, qkRow,
                               s.T, pos)
                      .isOk());
      ASSERT_TRUE(cpu::kvStore(rows(v, voRow, pos).data(), vc.data(), B, voRow,
                               s.T, pos)
                      .isOk());
      ASSERT_TRUE(cpu::attentionDecode(rows(q, qkRow, pos).data(), kc.data(),
                                       vc.data(), od.data(), B, s.T, s.H, s.dk,
                                       s.dv, s.scale, s.headsPerLayout, mp, pos,
                                       s.mods)
                      .isOk());
      for (int64_t b = 0; b < B; ++b)
        for (int64_t d = 0; d < voRow; ++d)
          EXPECT_NEAR(od[b * voRow + d], o[(b * s.T + pos) * voRow + d], 1e-12)
              << c.patterns[0] << ": sequence " << b << ", pos " << pos;
    }
    Status bad = cpu::attentionDecode(q.data(), kc.data(), vc.data(), od.data(),
                                      B, s.T, s.H, s.dk, s.dv, s.scale,
                                      s.headsPerLayout, mp, s.T);
    EXPECT_NE(bad.message().find("valid: 0 .. " + std::to_string(s.T - 1)),
              std::string::npos)
        << bad.message();
  }
}

TEST(Attention, SplitDecodeMergesToTheWholeDecode) {
  // attention_decode_split + attention_decode_combine give
  // attention_decode's rows for any number of splits, parts without keys
  // (more splits than 32-key windows, the first positions) included.
  // 150 positions: keys in five 32-key windows; heads 0-1 local(70),
  // heads 2-3 strided(9).
  // With a soft cap and an ALiBi bias, which each part applies itself.
  const cpu::AttentionShape s =
      withMods(shape(2, 150, 4, 3, 4, 2), 0.9, 8.0, true);
  Masks masks({"local(70)", "strided(9)"}, s.T);
  const auto &mp = masks.ptrs;
  const int64_t B = s.B, qkRow = s.H * s.dk, voRow = s.H * s.dv;
  auto q = randomVec(B * qkRow, 311), kc = randomVec(B * s.T * qkRow, 312),
       vc = randomVec(B * s.T * voRow, 313);
  std::vector<double> whole(B * voRow);
  for (int64_t pos : {int64_t(0), s.T / 2, s.T - 1}) {
    ASSERT_TRUE(cpu::attentionDecode(q.data(), kc.data(), vc.data(),
                                     whole.data(), B, s.T, s.H, s.dk, s.dv,
                                     s.scale, s.headsPerLayout, mp, pos, s.mods)
                    .isOk());
    for (int64_t splits : {2, 3, 7}) {
      std::vector<double> stats(B * s.H * splits * 2, NAN),
          acc(B * s.H * splits * s.dv, NAN), o(B * voRow, NAN);
      ASSERT_TRUE(cpu::attentionDecodeSplit(
                      q.data(), kc.data(), vc.data(), stats.data(), acc.data(),
                      B, s.T, s.H, s.dk, s.dv, s.scale, s.headsPerLayout, mp,
                      pos, splits, s.mods)
                      .isOk());
      int empty = 0;
      for (size_t i = 0; i < stats.size(); i += 2)
        if (std::isinf(stats[i])) {
          EXPECT_LT(stats[i], 0);
          EXPECT_EQ(stats[i + 1], 0.0);
          ++empty;
        }
      if (pos < 32)
        EXPECT_EQ(empty, B * s.H * (splits - 1))
            << "keys 0 .. 31 are all split 0's";
      cpu::attentionDecodeCombine(stats.data(), acc.data(), o.data(), B, s.H,
                                  s.dv, splits);
      for (int64_t i = 0; i < B * voRow; ++i)
        EXPECT_NEAR(o[i], whole[i], 1e-12)
            << "pos " << pos << ", " << splits << " splits, element " << i;
    }
  }
}

TEST(Attention, AttentionMaskFollowsPattern) {
  for (const char *text : {"fixed(4,1)", "union(local(3),strided(5))",
                           "predicate(odd;(eq (rems (sub q k) 2) 1))"}) {
    Pattern p = parsePattern(text);
    cpu::AttentionMask m(p, 17);
    std::vector<int64_t> keys;
    for (int64_t q = 0; q < 17; ++q) {
      m.keys(q, keys);
      std::vector<int64_t> want;
      for (int64_t k = 0; k <= q; ++k)
        if (p.allowed(q, k))
          want.push_back(k);
      EXPECT_EQ(keys, want) << text << " q=" << q;
    }
  }
  // No n^2 table: a mask over a million positions costs nothing up front.
  cpu::AttentionMask big(parsePattern("local(4)"), int64_t(1) << 20);
  std::vector<int64_t> keys;
  big.keys((int64_t(1) << 20) - 1, keys);
  EXPECT_EQ(keys.size(), 4u);
}

} // namespace
