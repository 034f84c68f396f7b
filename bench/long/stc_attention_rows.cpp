//===- stc_attention_rows.cpp - Check sampled attention rows at any n -----===//
//
//   stc-attention-rows [--device cuda|cpu] [--seed S] [--rows N] ARTIFACT DATA
//
// For contexts where the CPU reference cannot run a whole op (a million
// tokens): initialise the parameters (seed S), embed the first window of
// DATA and run the train step up to and including the first attention layer
// (with the ops stc-normalize-patterns put around it), then download that
// layer's q, k, v (before any permutation) and output (after it), and
// recompute N sampled query rows of every head directly, in double, over the
// keys the head's original pattern allows (the sample step's layouts keep
// the patterns as written). Prints one line per row and exits 1 when a row's
// relative error exceeds the dtype's tolerance (2e-2 bf16, 1e-4 f32).
//
//===----------------------------------------------------------------------===//

#include "bench/common/AttentionRange.h"
#include "runtime/Executor.h"
#include "runtime/Init.h"
#include "runtime/support/Random.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using namespace stc::rt;

namespace {

int fail(const std::string &msg) {
  std::fprintf(stderr, "stc-attention-rows: %s\n", msg.c_str());
  return 2;
}

double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

} // namespace

int main(int argc, char **argv) {
  std::string device = "cuda";
  uint64_t seed = 1;
  int64_t rows = 8;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--device" && i + 1 < argc)
      device = argv[++i];
    else if (a == "--seed" && i + 1 < argc)
      seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--rows" && i + 1 < argc)
      rows = std::max<int64_t>(1, std::atoll(argv[++i]));
    else if (a == "--help") {
      std::printf("usage: stc-attention-rows [--device cuda|cpu] [--seed S] "
                  "[--rows N] ARTIFACT DATA\n");
      return 0;
    } else if (!a.empty() && a[0] == '-')
      return fail("unknown flag " + a +
                  "; valid: --device NAME, --seed S, --rows N, --help");
    else
      positional.push_back(a);
  }
  if (positional.size() != 2)
    return fail("expected ARTIFACT and DATA");

  auto t0 = std::chrono::steady_clock::now();
  auto loaded = Artifact::load(positional[0]);
  if (!loaded)
    return fail(loaded.status().message());
  auto art = std::make_shared<const Artifact>(std::move(*loaded));
  const Entry &train = art->entry(EntryKind::Train);
  const Entry &sample = art->entry(EntryKind::Sample);
  const int64_t T = art->model.context, B = art->model.batch;

  // The first attention layer, with the ops around it (as bench/attention).
  size_t fwd = train.ops.size();
  for (size_t i = 0; i < train.ops.size() && fwd == train.ops.size(); ++i)
    if (train.ops[i].kind == OpKind::AttentionFwd)
      fwd = i;
  const Op *decode = nullptr;
  // The first layer's decode: one op, or split over CTAs (the split op
  // holds the layouts).
  for (const Op &op : sample.ops)
    if (!decode && (op.kind == OpKind::AttentionDecode ||
                    op.kind == OpKind::AttentionDecodeSplit))
      decode = &op;
  if (fwd == train.ops.size() || !decode)
    return fail("no attention_fwd in train_step or attention_decode(_split) "
                "in sample_step");
  const Op &f = train.ops[fwd];
  const stc::bench::AttentionRange range(train, fwd);
  const OpAttrs &at = f.attrs;
  const int64_t H = at.H, dk = at.dk, dv = at.dv;

  auto exec = createExecutor(device);
  if (!exec)
    return fail(exec.status().message());
  Executor &e = **exec;
  if (Status s = e.allocate(art); !s)
    return fail(s.message());
  if (Status s = initParams(e, seed); !s)
    return fail(s.message());
  std::ifstream in(positional[1], std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  if (static_cast<int64_t>(text.size()) < T + 1)
    return fail(positional[1] + " holds " + std::to_string(text.size()) +
                " bytes; the context needs " + std::to_string(T + 1));
  std::vector<int32_t> tokens(B * T), targets(B * T);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      tokens[b * T + t] = static_cast<unsigned char>(text[t]);
      targets[b * T + t] = static_cast<unsigned char>(text[t + 1]);
    }
  auto role = [&](const char *r) {
    for (const auto &[name, buf] : train.inputs)
      if (name == r)
        return art->buffers[buf].name;
    return std::string();
  };
  Scalars sc;
  sc.step = 1;
  if (Status s = e.uploadInts(role("tokens"), tokens); !s)
    return fail(s.message());
  if (Status s = e.uploadInts(role("targets"), targets); !s)
    return fail(s.message());
  if (Status s = e.writeScalars(sc); !s)
    return fail(s.message());
  double setup = seconds(t0);
  auto t1 = std::chrono::steady_clock::now();
  if (Status s = e.runOps(EntryKind::Train, 0, range.end); !s)
    return fail(s.message());
  double forward = seconds(t1);

  auto get = [&](int buf) { return e.downloadFloats(art->buffers[buf].name); };
  auto q = get(range.original(f.args[0])), k = get(range.original(f.args[1])),
       v = get(range.original(f.args[2])), o = get(range.final(f.args[3]));
  if (!q || !k || !v || !o)
    return fail("cannot download q, k, v, o");
  // Original patterns: the sample step's decode layouts, one per head group.
  std::vector<const stc::pattern::Pattern *> patterns;
  for (int l : decode->layouts)
    patterns.push_back(&art->layouts[l].pattern);
  const int64_t perGroup = decode->attrs.headsPerLayout;

  // Rows: the ends, the middle, and seeded random ones (batch 0).
  std::vector<int64_t> picks = {0, 1, T / 2, T - 1};
  stc::rt::SplitMix64 rng(seed * 7919 + 13);
  while (static_cast<int64_t>(picks.size()) < std::max<int64_t>(rows, 4))
    picks.push_back(static_cast<int64_t>(rng.uniform() * T) % T);
  std::sort(picks.begin(), picks.end());
  picks.erase(std::unique(picks.begin(), picks.end()), picks.end());
  const bool bf16 = art->buffers[f.args[3]].dtype == stc::abi::DType::BF16;
  const double tol = bf16 ? 2e-2 : 1e-4;
  double worst = 0;
  int64_t keysSeen = 0;
  for (int64_t r : picks) {
    double rowErr = 0;
    for (int64_t h = 0; h < H; ++h) {
      const stc::pattern::Pattern &p = *patterns[h / perGroup];
      std::vector<int64_t> keys;
      p.forEachAllowedKey(r, T, [&](int64_t key) { keys.push_back(key); });
      keysSeen += static_cast<int64_t>(keys.size());
      std::vector<double> s(keys.size());
      double m = -INFINITY;
      for (size_t j = 0; j < keys.size(); ++j) {
        double dot = 0;
        for (int64_t d = 0; d < dk; ++d)
          dot += static_cast<double>((*q)[(r * H + h) * dk + d]) *
                 static_cast<double>((*k)[(keys[j] * H + h) * dk + d]);
        s[j] = at.scale * dot;
        m = std::max(m, s[j]);
      }
      double z = 0;
      for (double &x : s)
        z += (x = std::exp(x - m));
      double num = 0, den = 0;
      for (int64_t d = 0; d < dv; ++d) {
        double ref = 0;
        for (size_t j = 0; j < keys.size(); ++j)
          ref += s[j] / z * static_cast<double>((*v)[(keys[j] * H + h) * dv + d]);
        double got = (*o)[(r * H + h) * dv + d];
        num += (got - ref) * (got - ref);
        den += ref * ref;
      }
      rowErr = std::max(rowErr, std::sqrt(num / std::max(den, 1e-30)));
    }
    worst = std::max(worst, rowErr);
    std::printf("row %9lld: relative L2 error %.3g over %lld heads\n",
                static_cast<long long>(r), rowErr, static_cast<long long>(H));
  }
  std::printf("{\"n\": %lld, \"heads\": %lld, \"rows\": %zu, \"keys\": %lld, "
              "\"worst_rel_err\": %.3g, \"tolerance\": %.1g, \"setup_s\": "
              "%.2f, \"forward_to_first_attention_s\": %.3f, \"device\": "
              "\"%s\"}\n",
              static_cast<long long>(T), static_cast<long long>(H),
              picks.size(), static_cast<long long>(keysSeen), worst, tol,
              setup, forward, device.c_str());
  return worst <= tol ? 0 : 1;
}
