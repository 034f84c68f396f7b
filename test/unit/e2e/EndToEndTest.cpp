//===- EndToEndTest.cpp - Compiled models, run by the runtime -------------===//
//
// Tests on what `stc compile` really writes: the tiny example, compiled by
// the build into STC_TEST_ARTIFACT_DIR/tiny (test/CMakeLists.txt, target
// stc-test-artifacts; the environment variable of that name overrides the
// build's directory). Without it (a runtime-only build) every test skips
// and says why.
//
//  - the whole model's gradients (train_step, fp64 CPU executor) against
//    central finite differences of eval_step's loss, for elements of every
//    parameter; AdamW with lr 0 leaves the parameters as they were;
//  - training on real text gets far below 8 bits/byte;
//  - sampling is deterministic per seed, greedy at temperature 0;
//  - sample_step (KV-cache decode) agrees with eval_step's batched forward;
//  - a damaged artifact is refused, naming what is wrong;
//  - a checkpoint restores the compiled model exactly.
//
// Every expectation compares the code under test with an independent
// computation or with another run, never with numbers it printed before.
//
//===----------------------------------------------------------------------===//

#include "test/unit/Support.h"
#include "abi/DType.h"
#include "abi/Limits.h"
#include "runtime/Artifact.h"
#include "runtime/Checkpoint.h"
#include "runtime/Data.h"
#include "runtime/Executor.h"
#include "runtime/Init.h"
#include "runtime/Safetensors.h"
#include "runtime/Train.h"
#include "runtime/cpu/CpuExecutor.h"
#include "runtime/support/Json.h"
#include "runtime/support/Random.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#ifndef STC_TEST_ARTIFACT_DIR
#define STC_TEST_ARTIFACT_DIR ""
#endif

using namespace stc::rt;
namespace fs = std::filesystem;

namespace {

constexpr double kLn2 = 0.693147180559945309417;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// The environment's STC_TEST_ARTIFACT_DIR (to run the tests on other
/// compiler output) or the build's.
std::string artifactRoot() {
  const char *env = std::getenv("STC_TEST_ARTIFACT_DIR");
  return env && *env ? std::string(env) : std::string(STC_TEST_ARTIFACT_DIR);
}

std::string tinyDir() { return artifactRoot() + "/tiny"; }

bool haveTiny() { return fs::exists(tinyDir() + "/manifest.json"); }

#define REQUIRE_TINY()                                                         \
  do {                                                                         \
    if (!haveTiny())                                                           \
      GTEST_SKIP() << "no compiled tiny artifact at " << tinyDir()             \
                   << " (a runtime-only build: the compiler builds it as "     \
                      "target stc-test-artifacts)";                            \
  } while (0)

#define ASSERT_OK(expr)                                                        \
  do {                                                                         \
    Status s_ = (expr);                                                        \
    ASSERT_TRUE(s_.isOk()) << s_.message();                                    \
  } while (0)

/// The tiny artifact, loaded once per process.
std::shared_ptr<const Artifact> tinyArtifact() {
  static std::shared_ptr<const Artifact> cached;
  if (!cached) {
    auto a = Artifact::load(tinyDir());
    if (!a) {
      ADD_FAILURE() << "cannot load " << tinyDir() << ": "
                    << a.status().message();
      return nullptr;
    }
    cached = std::make_shared<const Artifact>(std::move(*a));
  }
  return cached;
}

std::unique_ptr<CpuExecutor>
makeCpu(CpuExecutor::Precision p = CpuExecutor::Precision::F32) {
  CpuExecutor::Options o;
  o.precision = p;
  auto e = std::make_unique<CpuExecutor>(o);
  Status s = e->allocate(tinyArtifact());
  EXPECT_TRUE(s.isOk()) << s.message();
  return e;
}

/// /usr/share/common-licenses/* (regular files; the symlinks there are
/// aliases) concatenated in sorted name order; a built-in paragraph when the
/// directory is absent. `fromLicenses` says which.
std::string licenseText(bool *fromLicenses = nullptr) {
  static std::string cached;
  static bool cachedFromLicenses = false;
  if (cached.empty()) {
    std::error_code ec;
    std::vector<fs::path> files;
    for (const auto &e :
         fs::directory_iterator("/usr/share/common-licenses", ec))
      if (!e.is_symlink() && e.is_regular_file())
        files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto &f : files) {
      std::ifstream in(f, std::ios::binary);
      cached.append(std::istreambuf_iterator<char>(in),
                    std::istreambuf_iterator<char>());
    }
    cachedFromLicenses = cached.size() > 20000;
    if (!cachedFromLicenses) {
      const std::string para =
          "The quick brown fox jumps over the lazy dog. A journey of a "
          "thousand miles begins with a single step. It was the best of "
          "times, it was the worst of times, it was the age of wisdom, it was "
          "the age of foolishness, it was the epoch of belief, it was the "
          "epoch of incredulity, it was the season of Light, it was the "
          "season of Darkness, it was the spring of hope, it was the winter "
          "of despair.\n";
      cached.clear();
      while (cached.size() < 40000)
        cached += para;
    }
  }
  if (fromLicenses)
    *fromLicenses = cachedFromLicenses;
  return cached;
}

/// A fixed English text for the fixed batches (independent of the system).
const std::string &fixedText() {
  static const std::string text =
      "Sparse Transformers factorize attention so that each position attends "
      "to a subset of the previous positions: a local window and a strided "
      "summary. With two such heads every position can reach every earlier "
      "one in two steps, while the cost per layer grows as n sqrt(n) rather "
      "than n squared. This sentence is only here to be predicted, one byte "
      "at a time, by a very small model that knows nothing yet about "
      "English, punctuation, or the letters that usually follow a space. "
      "Gradients, checked numerically, keep the compiler honest.";
  return text;
}

std::string tempDir(const std::string &tag) {
  fs::path base = fs::temp_directory_path() /
                  ("stc-e2e-" + tag + "-" + std::to_string(::getpid()));
  fs::remove_all(base);
  fs::create_directories(base);
  return base.string();
}

const std::string &roleName(const Artifact &a, EntryKind k, bool input,
                            const char *role) {
  const Entry &e = a.entry(k);
  return a.buffers[input ? e.input(role) : e.output(role)].name;
}

/// B windows of T+1 bytes from `text`, window b starting at starts[b].
void fixedBatch(const std::string &text, const std::vector<int64_t> &starts,
                int64_t T, std::vector<int32_t> &tokens,
                std::vector<int32_t> &targets) {
  tokens.clear();
  targets.clear();
  for (int64_t s : starts)
    for (int64_t t = 0; t < T; ++t) {
      tokens.push_back(static_cast<unsigned char>(text.at(s + t)));
      targets.push_back(static_cast<unsigned char>(text.at(s + t + 1)));
    }
}

/// Bytes outside printable ASCII as \xNN.
std::string printable(const std::string &s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 32 && c < 127 && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

double mean(const std::vector<double> &v) {
  double s = 0;
  for (double x : v)
    s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

/// Uploads the batch to an entry's inputs, runs it and returns its losses.
Expected<std::vector<double>> runLosses(CpuExecutor &e, EntryKind k,
                                        const std::vector<int32_t> &tokens,
                                        const std::vector<int32_t> &targets) {
  const Artifact &a = e.artifact();
  STC_RETURN_IF_ERROR(e.uploadInts(roleName(a, k, true, "tokens"), tokens));
  STC_RETURN_IF_ERROR(e.uploadInts(roleName(a, k, true, "targets"), targets));
  STC_RETURN_IF_ERROR(e.run(k));
  return e.downloadDoubles(roleName(a, k, false, "losses"));
}

/// Trains with the CLI's schedule (warmup steps/20, floor lr/10); returns
/// every step's loss.
Expected<std::vector<double>> trainSteps(Executor &e, const ByteDataset &data,
                                         int64_t steps, double lr,
                                         uint64_t seed, int64_t startStep = 0) {
  TrainOptions o;
  o.steps = steps;
  o.startStep = startStep;
  o.learningRate = lr;
  o.minLearningRate = lr / 10;
  o.warmupSteps = std::max<int64_t>(1, steps / 20);
  o.seed = seed;
  std::vector<double> losses;
  o.onStep = [&](const StepReport &r) {
    losses.push_back(r.loss);
    return true;
  };
  auto r = train(e, data, o);
  if (!r)
    return r.status();
  return losses;
}

ByteDataset textDataset(int64_t context) {
  auto d = ByteDataset::fromBytes(licenseText(), context, "licenses");
  EXPECT_TRUE(d.hasValue()) << d.status().message();
  return *d;
}

/// A small model trained briefly on the license text (f32).
std::unique_ptr<CpuExecutor> brieflyTrained(int64_t steps, uint64_t seed) {
  auto e = makeCpu();
  Status s = initParams(*e, seed);
  EXPECT_TRUE(s.isOk()) << s.message();
  auto losses = trainSteps(*e, textDataset(e->artifact().model.context), steps,
                           3e-3, seed);
  EXPECT_TRUE(losses.hasValue()) << losses.status().message();
  return e;
}

//===----------------------------------------------------------------------===//
// Whole-model gradients in fp64
//===----------------------------------------------------------------------===//

/// The index of the train_step adamw op that updates p with its gradient
/// (a multi-tensor op: param_i at i, grad_i at n + i), or the op count.
size_t adamOf(const Artifact &a, const Param &p) {
  const Entry &tr = a.entry(EntryKind::Train);
  size_t found = tr.ops.size();
  for (size_t i = 0; i < tr.ops.size(); ++i) {
    const Op &op = tr.ops[i];
    if (op.kind != OpKind::AdamW)
      continue;
    const size_t n = op.attrs.counts.size();
    for (size_t t = 0; t < n; ++t)
      if (op.args[t] == p.buffer && op.args[n + t] == p.grad)
        found = i;
  }
  return found;
}

/// Where the memory plan lets an op after a parameter's adamw op write over
/// bytes of that parameter's gradient buffer (so the gradient could not be
/// read after the step): one line per clash; empty when it cannot happen.
std::vector<std::string> gradClobbers(const Artifact &a) {
  std::vector<std::string> out;
  const Entry &tr = a.entry(EntryKind::Train);
  for (const Param &p : a.params) {
    const Buffer &g = a.buffers[p.grad];
    const size_t adam = adamOf(a, p);
    if (adam == tr.ops.size()) {
      out.push_back("param " + p.name + ": no adamw op reads its gradient " +
                    g.name);
      continue;
    }
    for (size_t j = adam + 1; j < tr.ops.size(); ++j) {
      const Op &op = tr.ops[j];
      std::vector<stc::abi::Arg> specs = stc::abi::signature(op.kind, op.attrs);
      for (size_t k = 0; k < specs.size() && k < op.args.size(); ++k) {
        if (specs[k].role == Role::In)
          continue;
        const Buffer &w = a.buffers[op.args[k]];
        if (w.offset < g.offset + g.bytes && g.offset < w.offset + w.bytes)
          out.push_back("param " + p.name + ": gradient " + g.name +
                        " (adamw at op " + std::to_string(adam) +
                        ") is overwritten by op " + std::to_string(j) + " (" +
                        opKindName(op.kind) + ") writing " + w.name);
      }
    }
  }
  return out;
}

TEST(EndToEnd, TinyGradientsMatchFiniteDifferencesInFp64) {
  REQUIRE_TINY();
  auto art = tinyArtifact();
  ASSERT_TRUE(art);
  const Artifact &a = *art;
  ASSERT_TRUE(a.entry(EntryKind::Train).present);
  ASSERT_TRUE(a.entry(EntryKind::Eval).present);
  auto e = makeCpu(CpuExecutor::Precision::F64);
  ASSERT_STREQ(e->name(), "cpu-f64");
  ASSERT_OK(initParams(*e, 7));

  // Move off the initial point (gamma = 1, biases = 0, small weights), where
  // some gradients vanish by symmetry and attention is nearly uniform.
  SplitMix64 rng(0x5eed);
  for (const Param &p : a.params) {
    auto v = e->downloadDoubles(a.buffers[p.buffer].name);
    ASSERT_TRUE(v.hasValue()) << v.status().message();
    double amp = p.init.dist == InitSpec::Dist::Ones ? 0.2 : 0.1;
    for (double &x : *v)
      x += (2 * rng.uniform() - 1) * amp;
    ASSERT_OK(e->uploadDoubles(a.buffers[p.buffer].name, *v));
  }

  const int64_t B = a.model.batch, T = a.model.context;
  std::vector<int64_t> starts;
  for (int64_t b = 0; b < B; ++b)
    starts.push_back(b * 97);
  std::vector<int32_t> tokens, targets;
  fixedBatch(fixedText(), starts, T, tokens, targets);

  Scalars sc;
  sc.learningRate = 0;
  sc.step = 1;
  sc.dropoutSeed = 12345;
  ASSERT_OK(e->writeScalars(sc));

  auto before = [&](int Param::*which) {
    std::vector<std::vector<double>> vals;
    for (const Param &p : a.params) {
      auto v = e->downloadDoubles(a.buffers[p.*which].name);
      EXPECT_TRUE(v.hasValue());
      vals.push_back(v ? *v : std::vector<double>());
    }
    return vals;
  };
  const auto params0 = before(&Param::buffer);

  auto evalLosses = runLosses(*e, EntryKind::Eval, tokens, targets);
  ASSERT_TRUE(evalLosses.hasValue()) << evalLosses.status().message();
  auto trainLosses = runLosses(*e, EntryKind::Train, tokens, targets);
  ASSERT_TRUE(trainLosses.hasValue()) << trainLosses.status().message();
  // Gradients: read right after the step, before anything else runs.
  const auto gradsAfterStep = before(&Param::grad);
  const auto params1 = before(&Param::buffer);
  const auto moments1 = before(&Param::adamM);

  // train_step's loss is eval_step's (dropout is 0 in tiny).
  ASSERT_EQ(evalLosses->size(), trainLosses->size());
  double worstLoss = 0;
  for (size_t i = 0; i < evalLosses->size(); ++i)
    worstLoss =
        std::max(worstLoss, std::abs((*evalLosses)[i] - (*trainLosses)[i]));
  EXPECT_LT(worstLoss, 1e-12) << "train_step and eval_step losses differ";
  const double loss0 = mean(*evalLosses);
  std::printf("[ fp64     ] loss at the checked point: %.6f bits/byte\n",
              loss0);
  EXPECT_TRUE(std::isfinite(loss0));

  // AdamW with lr 0: parameters exactly as they were.
  for (size_t p = 0; p < a.params.size(); ++p)
    EXPECT_EQ(params0[p], params1[p])
        << "lr 0 moved parameter " << a.params[p].name;

  // The memory plan must not overwrite a gradient after its adamw op;
  // otherwise read them from a run of the ops before the first adamw.
  const std::vector<std::string> clobbers = gradClobbers(a);
  for (const auto &c : clobbers)
    std::printf("[ plan     ] %s\n", c.c_str());
  const Entry &tr = a.entry(EntryKind::Train);
  size_t firstAdam = tr.ops.size();
  for (size_t i = 0; i < tr.ops.size() && firstAdam == tr.ops.size(); ++i)
    if (tr.ops[i].kind == OpKind::AdamW)
      firstAdam = i;
  ASSERT_LT(firstAdam, tr.ops.size()) << "train_step has no adamw op";
  for (size_t i = firstAdam; i < tr.ops.size(); ++i)
    EXPECT_EQ(tr.ops[i].kind, OpKind::AdamW)
        << "train_step op " << i << " after the first adamw is "
        << opKindName(tr.ops[i].kind);
  // The forward and backward again (parameters unchanged, moments unused).
  ASSERT_OK(
      e->uploadInts(roleName(a, EntryKind::Train, true, "tokens"), tokens));
  ASSERT_OK(
      e->uploadInts(roleName(a, EntryKind::Train, true, "targets"), targets));
  ASSERT_OK(e->runOps(EntryKind::Train, 0, firstAdam));
  const auto gradsPrefix = before(&Param::grad);
  if (clobbers.empty()) {
    std::printf("[ plan     ] no gradient is overwritten after its adamw "
                "op: reading them after train_step\n");
    for (size_t p = 0; p < a.params.size(); ++p)
      EXPECT_EQ(gradsAfterStep[p], gradsPrefix[p])
          << "gradient of " << a.params[p].name
          << " after train_step differs from the one before its adamw op";
  }
  const auto &grads = clobbers.empty() ? gradsAfterStep : gradsPrefix;

  // AdamW really ran on these gradients: step 1 from m = 0 gives
  // m = (1 - beta1) * g * clip scale, clip scale from the norm of all
  // gradients (checks sumsq covers every parameter).
  double normSq = 0;
  for (const auto &g : grads)
    for (double x : g)
      normSq += x * x;
  for (size_t p = 0; p < a.params.size(); ++p) {
    const size_t at = adamOf(a, a.params[p]);
    ASSERT_LT(at, tr.ops.size()) << a.params[p].name;
    const Op *adam = &tr.ops[at];
    double clip = adam->attrs.clip, c = 1;
    if (clip > 0 && normSq > 0)
      c = std::min(1.0, clip / std::sqrt(normSq));
    double worst = 0, scale = 0;
    for (size_t i = 0; i < grads[p].size(); ++i) {
      double want = (1 - adam->attrs.beta1) * grads[p][i] * c;
      worst = std::max(worst, std::abs(moments1[p][i] - want));
      scale = std::max(scale, std::abs(want));
    }
    EXPECT_LE(worst, 1e-12 * std::max(scale, 1e-30) + 1e-300)
        << "adam_m of " << a.params[p].name
        << " is not (1 - beta1) * clipped gradient (gradient norm "
        << std::sqrt(normSq) << ", clip " << clip << ")";
  }

  // Central differences of eval_step's mean loss, several elements of every
  // parameter: the largest gradient, two random nonzero ones, one anywhere.
  const double eps = 1e-5;
  auto lossAt = [&]() {
    auto l = runLosses(*e, EntryKind::Eval, tokens, targets);
    EXPECT_TRUE(l.hasValue()) << l.status().message();
    return l ? mean(*l) : NAN;
  };
  EXPECT_NEAR(lossAt(), loss0, 1e-13) << "eval_step is not repeatable";
  double worstRel = 0;
  std::string worstWhere;
  int checked = 0, failures = 0;
  for (size_t p = 0; p < a.params.size(); ++p) {
    const Param &par = a.params[p];
    const std::string &name = a.buffers[par.buffer].name;
    const std::vector<double> &g = grads[p];
    std::vector<double> v = params0[p];
    std::vector<size_t> nonzero;
    size_t big = 0;
    for (size_t i = 0; i < g.size(); ++i) {
      if (g[i] != 0)
        nonzero.push_back(i);
      if (std::abs(g[i]) > std::abs(g[big]))
        big = i;
    }
    std::set<size_t> pick = {big};
    SplitMix64 r(0xfd + p);
    for (int k = 0; k < 2 && !nonzero.empty(); ++k)
      pick.insert(nonzero[r.below(nonzero.size())]);
    pick.insert(static_cast<size_t>(r.below(g.size())));
    double paramWorst = 0, paramWorstAbs = 0;
    for (size_t i : pick) {
      const double x = v[i];
      v[i] = x + eps;
      ASSERT_OK(e->uploadDoubles(name, v));
      double lp = lossAt();
      v[i] = x - eps;
      ASSERT_OK(e->uploadDoubles(name, v));
      double lm = lossAt();
      v[i] = x;
      ASSERT_OK(e->uploadDoubles(name, v));
      double fd = (lp - lm) / (2 * eps);
      double abs = std::abs(fd - g[i]);
      double rel = abs / std::max(std::abs(fd), std::abs(g[i]));
      // Relative error means something only above the differences' noise
      // (~1e-10 here).
      if (std::max(std::abs(fd), std::abs(g[i])) > 1e-6)
        paramWorst = std::max(paramWorst, rel);
      paramWorstAbs = std::max(paramWorstAbs, abs);
      bool ok = abs < 1e-7 || rel < 1e-4;
      ++checked;
      if (!ok)
        ++failures;
      EXPECT_TRUE(ok) << "gradient of " << par.name << "[" << i
                      << "]: train_step gives " << g[i]
                      << ", finite differences " << fd << " (abs error " << abs
                      << ", rel " << rel << ")";
      if (std::abs(g[i]) > 1e-6 && rel > worstRel) {
        worstRel = rel;
        worstWhere = par.name + "[" + std::to_string(i) + "]";
      }
    }
    std::printf("[ grad     ] %-16s max|g| %.3e  worst: rel %.2e abs %.2e\n",
                par.name.c_str(), std::abs(g[big]), paramWorst, paramWorstAbs);
  }
  std::printf("[ grad     ] %d elements of %zu parameters, %d mismatches; max "
              "rel error (|g| > 1e-6) %.3e at %s\n",
              checked, a.params.size(), failures, worstRel, worstWhere.c_str());
}

/// The fp64 executor computes the same function as the f32 one.
TEST(EndToEnd, Fp64ExecutorAgreesWithF32) {
  REQUIRE_TINY();
  auto f32 = makeCpu();
  auto f64 = makeCpu(CpuExecutor::Precision::F64);
  ASSERT_OK(initParams(*f32, 3));
  ASSERT_OK(initParams(*f64, 3));
  const Artifact &a = f32->artifact();
  std::vector<int64_t> starts;
  for (int64_t b = 0; b < a.model.batch; ++b)
    starts.push_back(11 + b * 53);
  std::vector<int32_t> tokens, targets;
  fixedBatch(fixedText(), starts, a.model.context, tokens, targets);
  Scalars sc;
  sc.learningRate = 1e-2f;
  sc.step = 1;
  ASSERT_OK(f32->writeScalars(sc));
  ASSERT_OK(f64->writeScalars(sc));
  // A real step (lr > 0) in both, then the loss in both.
  ASSERT_TRUE(runLosses(*f32, EntryKind::Train, tokens, targets).hasValue());
  ASSERT_TRUE(runLosses(*f64, EntryKind::Train, tokens, targets).hasValue());
  auto l32 = runLosses(*f32, EntryKind::Eval, tokens, targets);
  auto l64 = runLosses(*f64, EntryKind::Eval, tokens, targets);
  ASSERT_TRUE(l32.hasValue() && l64.hasValue());
  std::printf("[ f32/f64  ] eval loss after one step: f32 %.7f, f64 %.7f\n",
              mean(*l32), mean(*l64));
  EXPECT_NEAR(mean(*l32), mean(*l64), 1e-4);
  // f64 keeps more than f32 can hold: not just the f32 path in disguise.
  auto w = f64->downloadDoubles(a.buffers[a.params[0].buffer].name);
  ASSERT_TRUE(w.hasValue());
  bool beyondFloat = false;
  for (double x : *w)
    beyondFloat |= static_cast<double>(static_cast<float>(x)) != x;
  EXPECT_TRUE(beyondFloat) << "the fp64 executor's parameters after a step "
                              "are all exactly representable as f32";
}

//===----------------------------------------------------------------------===//
// Training on real text
//===----------------------------------------------------------------------===//

TEST(EndToEnd, TinyTrainsOnRealText) {
  REQUIRE_TINY();
  bool fromLicenses = false;
  const std::string text = licenseText(&fromLicenses);
  if (fromLicenses)
    std::printf("[ data     ] /usr/share/common-licenses/*: %zu bytes\n",
                text.size());
  else
    std::printf("[ data     ] /usr/share/common-licenses is absent: training "
                "on a built-in paragraph repeated (%zu bytes); the bound is "
                "loose for such text\n",
                text.size());
  auto e = makeCpu();
  ASSERT_OK(initParams(*e, 1));
  auto losses =
      trainSteps(*e, textDataset(e->artifact().model.context), 300, 3e-3, 1);
  ASSERT_TRUE(losses.hasValue()) << losses.status().message();
  ASSERT_EQ(losses->size(), 300u);
  double first = (*losses)[0];
  double last20 = 0;
  for (size_t i = losses->size() - 20; i < losses->size(); ++i)
    last20 += (*losses)[i];
  last20 /= 20;
  std::printf("[ train    ] tiny, batch %lld, 300 steps, lr 3e-3: first loss "
              "%.3f, mean of the last 20 %.3f bits/byte\n",
              static_cast<long long>(e->artifact().model.batch), first, last20);
  // Untrained: about log2(256) = 8 bits.
  EXPECT_NEAR(first, 8.0, 0.5);
  // Below 4.5 bits (the brief's bound) and clearly below the text's byte
  // frequencies alone (unigram entropy, 4.64 bits for the licenses): the
  // model must be using context. Measured about 3.4 (seeds 1-4: 3.38-3.54).
  std::array<double, 256> freq{};
  for (unsigned char c : text)
    freq[c] += 1;
  double unigram = 0;
  for (double f : freq)
    if (f > 0)
      unigram -= f / text.size() * std::log2(f / text.size());
  std::printf("[ train    ] unigram entropy of the text: %.3f bits/byte\n",
              unigram);
  EXPECT_LT(last20, 4.5);
  EXPECT_LT(last20, unigram - 0.5);
}

//===----------------------------------------------------------------------===//
// Sampling
//===----------------------------------------------------------------------===//

/// `count` bytes after the prompt "The " at temperature 1.
SampleOptions samplingAfterThe(int64_t count, uint64_t seed) {
  SampleOptions o;
  o.prompt = "The ";
  o.count = count;
  o.temperature = 1.0;
  o.seed = seed;
  return o;
}

/// How many of the artifact's session buffers share bytes with a buffer an
/// op of `kind` uses.
int cachesSharingBytesWith(const Artifact &a, EntryKind kind) {
  std::set<int> used;
  for (const Op &op : a.entry(kind).ops)
    used.insert(op.args.begin(), op.args.end());
  int shared = 0;
  for (const Buffer &c : a.buffers) {
    if (!c.session)
      continue;
    for (int i : used) {
      const Buffer &b = a.buffers[static_cast<size_t>(i)];
      if (b.offset < c.offset + c.bytes && c.offset < b.offset + b.bytes) {
        ++shared;
        break;
      }
    }
  }
  return shared;
}

TEST(EndToEnd, SamplingCachesShareBytesWithTheOtherSteps) {
  REQUIRE_TINY();
  auto e = brieflyTrained(20, 5);
  const Artifact &a = e->artifact();
  int caches = 0;
  for (const Buffer &b : a.buffers)
    caches += b.session;
  EXPECT_EQ(caches, 2 * a.model.layers) << "a k and a v cache per layer";
  EXPECT_EQ(cachesSharingBytesWith(a, EntryKind::Train), caches);
  EXPECT_EQ(cachesSharingBytesWith(a, EntryKind::Eval), caches);
  // An evaluation between two samplings overwrites the caches' bytes; each
  // sampling session refills them from position 0, so both agree.
  SampleOptions o = samplingAfterThe(40, 3);
  auto s1 = sample(*e, o);
  ASSERT_TRUE(s1.hasValue()) << s1.status().message();
  EvalOptions eo;
  eo.maxWindows = 2;
  ASSERT_TRUE(evaluate(*e, textDataset(a.model.context), eo).hasValue());
  auto s2 = sample(*e, o);
  ASSERT_TRUE(s2.hasValue()) << s2.status().message();
  EXPECT_EQ(*s1, *s2);
}

TEST(EndToEnd, SamplingIsDeterministicPerSeed) {
  REQUIRE_TINY();
  auto e = brieflyTrained(60, 5);
  SampleOptions o = samplingAfterThe(50, 11);
  auto s1 = sample(*e, o);
  auto s2 = sample(*e, o);
  o.seed = 12;
  auto s3 = sample(*e, o);
  ASSERT_TRUE(s1.hasValue()) << s1.status().message();
  ASSERT_TRUE(s2.hasValue() && s3.hasValue());
  EXPECT_EQ(s1->size(), 50u);
  EXPECT_EQ(*s1, *s2) << "the same seed sampled differently";
  EXPECT_NE(*s1, *s3) << "seeds 11 and 12 sampled the same 50 bytes";

  o.temperature = 0;
  o.seed = 11;
  auto g1 = sample(*e, o);
  o.seed = 99;
  auto g2 = sample(*e, o);
  ASSERT_TRUE(g1.hasValue() && g2.hasValue());
  EXPECT_EQ(*g1, *g2) << "greedy sampling depends on the seed";

  // Greedy is the argmax of sample_step's logits at every step (every row
  // of the sample step fed the same sequence; row 0 read).
  const Artifact &a = e->artifact();
  const std::string &tok = roleName(a, EntryKind::Sample, true, "token");
  const std::string &logitsBuf =
      roleName(a, EntryKind::Sample, false, "logits");
  std::string seq = o.prompt, greedy;
  for (int64_t pos = 0; static_cast<int64_t>(greedy.size()) < o.count; ++pos) {
    ASSERT_OK(e->uploadInts(
        tok, std::vector<int32_t>(static_cast<size_t>(a.model.sampleBatch),
                                  static_cast<unsigned char>(seq[pos]))));
    Scalars sc;
    sc.step = 1;
    sc.position = static_cast<int32_t>(pos);
    ASSERT_OK(e->writeScalars(sc));
    ASSERT_OK(e->run(EntryKind::Sample));
    if (pos + 1 < static_cast<int64_t>(o.prompt.size()))
      continue;
    auto l = e->downloadFloats(logitsBuf);
    ASSERT_TRUE(l.hasValue());
    int best = 0;
    for (int j = 1; j < 256 && j < static_cast<int>(l->size()); ++j)
      if ((*l)[j] > (*l)[best])
        best = j;
    greedy += static_cast<char>(best);
    seq += static_cast<char>(best);
  }
  EXPECT_EQ(*g1, greedy);
  std::printf("[ sample   ] seed 11: \"%s\"\n[ sample   ] greedy:  \"%s\"\n",
              printable(*s1).c_str(), printable(*g1).c_str());
}

TEST(EndToEnd, SequencesDrawnAtOnceAreTheOnesDrawnAlone) {
  // The sample step's rows are independent sequences: drawing S at once
  // with seed s gives, byte for byte, the S draws of one with seeds s + i,
  // past the context (the sliding window) too, with top-k and top-p.
  REQUIRE_TINY();
  auto e = brieflyTrained(40, 5);
  const int64_t S = e->artifact().model.sampleBatch;
  ASSERT_GE(S, 2) << "the tiny test artifact draws its batch at once";
  SampleOptions o = samplingAfterThe(e->artifact().model.context + 30, 21);
  o.topK = 40;
  o.topP = 0.95;
  o.sequences = S;
  auto all = sampleSequences(*e, o);
  ASSERT_TRUE(all.hasValue()) << all.status().message();
  ASSERT_EQ(static_cast<int64_t>(all->size()), S);
  std::set<std::string> distinct;
  for (int64_t i = 0; i < S; ++i) {
    SampleOptions one = o;
    one.sequences = 1;
    one.seed = o.seed + static_cast<uint64_t>(i);
    auto alone = sample(*e, one);
    ASSERT_TRUE(alone.hasValue()) << alone.status().message();
    EXPECT_EQ((*all)[i], *alone) << "sequence " << i;
    distinct.insert(*alone);
  }
  EXPECT_EQ(static_cast<int64_t>(distinct.size()), S)
      << "different seeds drew the same bytes";
  // Fewer than S at once: the spare rows are computed and ignored.
  o.sequences = S - 1;
  auto fewer = sampleSequences(*e, o);
  ASSERT_TRUE(fewer.hasValue()) << fewer.status().message();
  for (int64_t i = 0; i < S - 1; ++i)
    EXPECT_EQ((*fewer)[i], (*all)[i]) << "sequence " << i;
  o.sequences = S + 1;
  EXPECT_MENTIONS(sampleSequences(*e, o).status().message(),
                  std::to_string(S + 1) + " sequences at once; the artifact's "
                  "sample step draws 1 .. " + std::to_string(S));
}

//===----------------------------------------------------------------------===//
// sample_step (KV cache) against eval_step (batched forward)
//===----------------------------------------------------------------------===//

/// For the rows of an eval batch: eval_step's per-position loss and
/// -log2 softmax(sample_step's logits)[target] feeding the rows' tokens one
/// position at a time, sample_batch rows at once (the sample step's row s
/// decodes eval row s; spare rows repeat row 0). Returns the largest
/// difference.
double decodeVsBatch(CpuExecutor &e, const std::string &text) {
  const Artifact &a = e.artifact();
  const int64_t B = a.model.batch, T = a.model.context, V = a.model.vocab,
                S = a.model.sampleBatch;
  std::vector<int64_t> starts;
  for (int64_t b = 0; b < B; ++b)
    starts.push_back(1000 + b * 517);
  std::vector<int32_t> tokens, targets;
  fixedBatch(text, starts, T, tokens, targets);
  Scalars sc;
  sc.step = 1;
  EXPECT_TRUE(e.writeScalars(sc).isOk());
  auto losses = runLosses(e, EntryKind::Eval, tokens, targets);
  EXPECT_TRUE(losses.hasValue()) << losses.status().message();
  if (!losses)
    return INFINITY;
  const std::string &tok = roleName(a, EntryKind::Sample, true, "token");
  const std::string &logitsBuf =
      roleName(a, EntryKind::Sample, false, "logits");
  double worst = 0;
  for (int64_t b0 = 0; b0 < B; b0 += S)
    for (int64_t t = 0; t < T; ++t) {
      std::vector<int32_t> column(static_cast<size_t>(S));
      for (int64_t s = 0; s < S; ++s)
        column[s] = tokens[(b0 + s < B ? b0 + s : 0) * T + t];
      EXPECT_TRUE(e.uploadInts(tok, column).isOk());
      sc.position = static_cast<int32_t>(t);
      EXPECT_TRUE(e.writeScalars(sc).isOk());
      Status st = e.run(EntryKind::Sample);
      EXPECT_TRUE(st.isOk()) << st.message();
      auto all = e.downloadDoubles(logitsBuf);
      EXPECT_TRUE(all.hasValue());
      if (!all)
        return INFINITY;
      for (int64_t s = 0; s < S && b0 + s < B; ++s) {
        const int64_t b = b0 + s;
        const double *l = all->data() + s * V;
        double mx = -INFINITY;
        for (int64_t j = 0; j < V; ++j)
          mx = std::max(mx, l[j]);
        double sum = 0;
        for (int64_t j = 0; j < V; ++j)
          sum += std::exp(l[j] - mx);
        double bits = (mx + std::log(sum) - l[targets[b * T + t]]) / kLn2;
        double d = std::abs(bits - (*losses)[b * T + t]);
        EXPECT_LT(d, 1e-3) << "row " << b << " position " << t
                           << ": eval_step loss " << (*losses)[b * T + t]
                           << ", from sample_step's logits " << bits;
        worst = std::max(worst, d);
      }
    }
  return worst;
}

TEST(EndToEnd, SampleStepMatchesEvalStep) {
  REQUIRE_TINY();
  auto e = brieflyTrained(60, 9);
  const std::string text = licenseText();
  ASSERT_GE(e->artifact().model.sampleBatch, 2)
      << "decode several sequences at once";
  double w32 = decodeVsBatch(*e, text);
  std::printf("[ decode   ] f32: max |eval loss - decode loss| = %.3e bits\n",
              w32);

  // The same in fp64, where only rounding (~1e-12) may differ.
  std::string ckpt = tempDir("decode") + "/trained.ckpt";
  ASSERT_OK(saveCheckpoint(*e, ckpt, 60));
  auto f64 = makeCpu(CpuExecutor::Precision::F64);
  auto step = loadCheckpoint(*f64, ckpt);
  ASSERT_TRUE(step.hasValue()) << step.status().message();
  double w64 = decodeVsBatch(*f64, text);
  std::printf("[ decode   ] f64: max |eval loss - decode loss| = %.3e bits\n",
              w64);
  EXPECT_LT(w64, 1e-9);
  fs::remove_all(fs::path(ckpt).parent_path());
}

std::shared_ptr<const Artifact> inputArtifact(const std::string &name);

TEST(EndToEnd, SplitDecodingMatchesEvalStep) {
  // tiny compiled with --decode-splits 3: each sampled query's keys are
  // dealt to 3 parts (attention_decode_split) and merged
  // (attention_decode_combine); the sample step still reproduces eval_step's
  // losses, to rounding in fp64.
  REQUIRE_TINY();
  auto art = inputArtifact("tiny-split");
  if (!art)
    GTEST_SKIP() << "no compiled tiny-split artifact under " << artifactRoot();
  int splitOps = 0, combineOps = 0;
  for (const Op &op : art->entry(EntryKind::Sample).ops) {
    splitOps += op.kind == OpKind::AttentionDecodeSplit;
    combineOps += op.kind == OpKind::AttentionDecodeCombine;
    if (op.kind == OpKind::AttentionDecodeSplit)
      EXPECT_EQ(op.attrs.splits, 3);
    EXPECT_NE(op.kind, OpKind::AttentionDecode);
  }
  EXPECT_EQ(splitOps, art->model.layers);
  EXPECT_EQ(combineOps, art->model.layers);
  for (auto precision :
       {CpuExecutor::Precision::F64, CpuExecutor::Precision::F32}) {
    CpuExecutor::Options o;
    o.precision = precision;
    CpuExecutor e(o);
    ASSERT_OK(e.allocate(art));
    ASSERT_OK(initParams(e, 7));
    double worst = decodeVsBatch(e, licenseText());
    std::printf("[ decode   ] %s, 3 splits: max |eval loss - decode loss| = "
                "%.3e bits\n",
                e.name(), worst);
    if (precision == CpuExecutor::Precision::F64)
      EXPECT_LT(worst, 1e-9);
  }
}

//===----------------------------------------------------------------------===//
// Damaged artifacts
//===----------------------------------------------------------------------===//

std::string copyTiny(const std::string &tag) {
  std::string dir = tempDir(tag) + "/tiny";
  fs::copy(tinyDir(), dir, fs::copy_options::recursive);
  return dir;
}

json::Value readManifest(const std::string &dir) {
  auto text = readFile(dir + "/manifest.json");
  EXPECT_TRUE(text.hasValue());
  auto v = json::parse(text ? *text : std::string());
  EXPECT_TRUE(v.hasValue()) << v.status().message();
  return v ? *v : json::Value();
}

void writeManifest(const std::string &dir, const json::Value &v) {
  std::ofstream out(dir + "/manifest.json", std::ios::binary | std::ios::trunc);
  out << json::write(v, 1);
}

TEST(EndToEnd, DamagedArtifactIsRefused) {
  REQUIRE_TINY();
  // The copy itself loads (and so does a rewritten, undamaged manifest).
  {
    std::string dir = copyTiny("intact");
    writeManifest(dir, readManifest(dir));
    auto a = Artifact::load(dir);
    EXPECT_TRUE(a.hasValue()) << a.status().message();
    fs::remove_all(fs::path(dir).parent_path());
  }
  // One byte of one kernel source flipped.
  {
    std::string dir = copyTiny("kernel");
    json::Value m = readManifest(dir);
    const json::Value &ks = *m.find("kernels");
    ASSERT_GT(ks.size(), 2u);
    const json::Value &k = ks.asArray()[ks.size() / 2];
    std::string name = k.find("name")->asString();
    std::string path = dir + "/" + k.find("source")->asString();
    auto src = readFile(path);
    ASSERT_TRUE(src.hasValue());
    std::string bytes = *src;
    bytes[bytes.size() / 2] ^= 0x20;
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << bytes;
    }
    auto a = Artifact::load(dir);
    ASSERT_FALSE(a.hasValue()) << "a kernel with a flipped byte loaded";
    std::printf("[ damage   ] %s\n", a.status().message().c_str());
    EXPECT_MENTIONS(a.status().message(), name);
    fs::remove_all(fs::path(dir).parent_path());
  }
  // Another manifest version.
  for (int64_t version : {stc::abi::kArtifactVersion + 1, int64_t(0)}) {
    std::string dir = copyTiny("version");
    json::Value m = readManifest(dir);
    m.set("version", version);
    writeManifest(dir, m);
    auto a = Artifact::load(dir);
    ASSERT_FALSE(a.hasValue()) << "version " << version << " loaded";
    std::printf("[ damage   ] %s\n", a.status().message().c_str());
    EXPECT_MENTIONS(a.status().message(), "version");
    fs::remove_all(fs::path(dir).parent_path());
  }
  // A buffer the program uses removed from the buffer table: an activation
  // and a parameter's value.
  const Artifact &t = *tinyArtifact();
  std::vector<std::string> victims;
  for (const Op &op : t.entry(EntryKind::Train).ops)
    if (op.kind == OpKind::LayerNormFwd) {
      victims.push_back(t.buffers[op.args[3]].name); // y
      break;
    }
  victims.push_back(t.buffers[t.params.back().buffer].name);
  ASSERT_EQ(victims.size(), 2u);
  for (const std::string &victim : victims) {
    std::string dir = copyTiny("buffer");
    json::Value m = readManifest(dir);
    json::Value::Array &bufs = m.find("buffers")->asArray();
    size_t n = bufs.size();
    bufs.erase(std::remove_if(bufs.begin(), bufs.end(),
                              [&](const json::Value &b) {
                                return b.find("name")->asString() == victim;
                              }),
               bufs.end());
    ASSERT_EQ(bufs.size(), n - 1);
    writeManifest(dir, m);
    auto a = Artifact::load(dir);
    // Every later buffer index now names another buffer (or none): some
    // dtype, size, role or range check must catch it.
    ASSERT_FALSE(a.hasValue()) << "loaded without buffer " << victim;
    std::printf("[ damage   ] %s\n", a.status().message().c_str());
    fs::remove_all(fs::path(dir).parent_path());
  }
}

//===----------------------------------------------------------------------===//
// Checkpoints of the compiled model
//===----------------------------------------------------------------------===//

TEST(EndToEnd, CheckpointRestoresTheTrainedModel) {
  REQUIRE_TINY();
  const int64_t steps = 40;
  auto e = brieflyTrained(steps, 3);
  auto data = textDataset(e->artifact().model.context);
  EvalOptions eo;
  eo.maxWindows = 8;
  auto before = evaluate(*e, data, eo);
  ASSERT_TRUE(before.hasValue()) << before.status().message();

  std::string dir = tempDir("ckpt");
  std::string path = dir + "/tiny.ckpt";
  ASSERT_OK(saveCheckpoint(*e, path, steps));

  auto fresh = makeCpu();
  ASSERT_OK(initParams(*fresh, 3));
  auto untrained = evaluate(*fresh, data, eo);
  ASSERT_TRUE(untrained.hasValue());
  auto step = loadCheckpoint(*fresh, path);
  ASSERT_TRUE(step.hasValue()) << step.status().message();
  EXPECT_EQ(*step, steps);
  auto after = evaluate(*fresh, data, eo);
  ASSERT_TRUE(after.hasValue());
  std::printf("[ ckpt     ] eval loss: trained %.6f, restored %.6f, "
              "untrained %.6f bits/byte\n",
              before->bitsPerByte, after->bitsPerByte, untrained->bitsPerByte);
  EXPECT_EQ(before->bitsPerByte, after->bitsPerByte);
  EXPECT_GT(untrained->bitsPerByte - after->bitsPerByte, 0.5)
      << "the restored model is no better than an untrained one";

  // Every persistent buffer is back, bit for bit.
  const Artifact &a = e->artifact();
  for (size_t i = 0; i < a.buffers.size(); ++i) {
    const Buffer &b = a.buffers[i];
    if (!b.persistent || static_cast<int>(i) == a.scalars)
      continue;
    std::vector<uint8_t> x(b.bytes), y(b.bytes);
    ASSERT_OK(e->download(b.name, x.data(), x.size()));
    ASSERT_OK(fresh->download(b.name, y.data(), y.size()));
    EXPECT_EQ(x, y) << "buffer " << b.name << " differs after restoring";
  }

  // Optimizer state too: one more step from both gives the same loss.
  auto l1 = trainSteps(*e, data, steps + 1, 3e-3, 3, steps);
  auto l2 = trainSteps(*fresh, data, steps + 1, 3e-3, 3, steps);
  ASSERT_TRUE(l1.hasValue() && l2.hasValue());
  ASSERT_EQ(l1->size(), 1u);
  ASSERT_EQ(l2->size(), 1u);
  EXPECT_EQ((*l1)[0], (*l2)[0]);
  fs::remove_all(dir);
}

//===----------------------------------------------------------------------===//
// stc-normalize-patterns: the rewritten program is the written one
//===----------------------------------------------------------------------===//

/// A compiled artifact of test/inputs, or nullptr when the build has none.
std::shared_ptr<const Artifact> inputArtifact(const std::string &name) {
  std::string dir = artifactRoot() + "/" + name;
  if (!fs::exists(dir + "/manifest.json"))
    return nullptr;
  auto a = Artifact::load(dir);
  EXPECT_TRUE(a.hasValue()) << dir << ": " << a.status().message();
  return a ? std::make_shared<const Artifact>(std::move(*a)) : nullptr;
}

int64_t countOps(const Artifact &a, EntryKind k, OpKind kind) {
  const auto &ops = a.entry(k).ops;
  return std::count_if(ops.begin(), ops.end(),
                       [&](const Op &op) { return op.kind == kind; });
}

/// Each artifact on its own CPU executor at `precision`, initialised with
/// the same seed and trained `steps` steps on the same data; `losses` has
/// one list per artifact (fewer on a failure, which is reported).
struct TrainedAlike {
  std::vector<std::unique_ptr<CpuExecutor>> runs;
  std::vector<std::vector<double>> losses;
};
TrainedAlike trainAlike(
    std::initializer_list<std::shared_ptr<const Artifact>> artifacts,
    CpuExecutor::Precision precision, const ByteDataset &data, int64_t steps) {
  TrainedAlike t;
  for (const auto &artifact : artifacts) {
    CpuExecutor::Options o;
    o.precision = precision;
    auto e = std::make_unique<CpuExecutor>(o);
    Status s = e->allocate(artifact);
    if (s.isOk())
      s = initParams(*e, 21);
    auto l = s.isOk() ? trainSteps(*e, data, steps, 3e-3, 9)
                      : Expected<std::vector<double>>(s);
    if (!l) {
      ADD_FAILURE() << l.status().message();
      break;
    }
    t.runs.push_back(std::move(e));
    t.losses.push_back(*l);
  }
  return t;
}

/// A normalized program and the same model compiled as written train alike:
/// a few steps (forward, every gradient, dropout replay, AdamW) agree to
/// rounding in fp64 and closely in f32. (The permutations keep every sum's
/// terms and order: bit-identical. The split merges two partial softmaxes:
/// rounding differences only.)
void expectTrainAlike(const std::shared_ptr<const Artifact> &normalized,
                      const std::shared_ptr<const Artifact> &written,
                      const char *tag, double f32Tolerance = 5e-5) {
  ASSERT_EQ(normalized->params.size(), written->params.size());
  ByteDataset data = textDataset(normalized->model.context);
  for (auto precision :
       {CpuExecutor::Precision::F64, CpuExecutor::Precision::F32}) {
    bool f64 = precision == CpuExecutor::Precision::F64;
    SCOPED_TRACE(f64 ? "fp64" : "f32");
    auto [runs, losses] = trainAlike({normalized, written}, precision, data, 4);
    ASSERT_EQ(losses.size(), 2u);
    double tol = f64 ? 1e-12 : 2e-5;
    ASSERT_EQ(losses[0].size(), losses[1].size());
    for (size_t i = 0; i < losses[0].size(); ++i)
      EXPECT_NEAR(losses[0][i], losses[1][i], tol * std::fabs(losses[1][i]))
          << "step " << i;
    double worst = 0;
    for (size_t p = 0; p < written->params.size(); ++p) {
      const std::string &name =
          written->buffers[written->params[p].buffer].name;
      auto a = runs[0]->downloadDoubles(
          normalized->buffers[normalized->params[p].buffer].name);
      auto b = runs[1]->downloadDoubles(name);
      ASSERT_TRUE(a.hasValue() && b.hasValue()) << name;
      ASSERT_EQ(a->size(), b->size()) << name;
      for (size_t i = 0; i < a->size(); ++i)
        worst = std::max(worst, std::fabs((*a)[i] - (*b)[i]));
    }
    std::printf("[%s] %s: losses %.9f .. %.9f, largest parameter "
                "difference after 4 steps %.3g\n",
                tag, f64 ? "fp64" : "f32 ", losses[0].front(), losses[0].back(),
                worst);
    // f32: a few ulps of the merge, through four AdamW steps of lr 3e-3
    // (AdamW divides each gradient element by its own magnitude, so an
    // element near 0 turns ulps into a visible share of a step: 1.85e-5 for
    // score-mods on one machine, where OpenBLAS's kernels for its CPU sum
    // in another order than on the machine that set 1e-5). fp64 above is
    // the exactness check.
    EXPECT_LE(worst, f64 ? 1e-12 : f32Tolerance);
  }
}

// test/inputs/normalize-small.mlir compiled twice: its strided(2) and
// strided(47) heads run permuted as fixed(n / l, 0), its fixed(16, 4) layer
// split into fixed(16, 0) and the gathered summaries, in one; all as written
// in the other. A few training steps (forward, every gradient, dropout
// replay, AdamW) agree to rounding in fp64 and closely in f32. (The
// permutations keep every sum's terms and order: bit-identical. The split
// merges two partial softmaxes: rounding differences only.)
TEST(Normalization, NormalizedProgramsTrainLikeTheWrittenOnes) {
  auto normalized = inputArtifact("normalize-small");
  auto written = inputArtifact("normalize-small-as-written");
  if (!normalized || !written)
    GTEST_SKIP() << "no compiled normalize-small artifacts under "
                 << artifactRoot() << " (a runtime-only build)";
  // The rewrites are there, and only there: forward q, k, v, o of two
  // layers, backward dy, dq, dk, dv; the summaries' keys read through the
  // gather in the forward and the backward, their dk and dv added back;
  // the second forward merging the first's result.
  for (OpKind kind : {OpKind::StridePermute, OpKind::SummaryGather,
                      OpKind::SummaryScatter, OpKind::AttentionMerge}) {
    EXPECT_EQ(countOps(*written, EntryKind::Train, kind), 0);
    EXPECT_EQ(countOps(*normalized, EntryKind::Sample, kind), 0);
  }
  EXPECT_EQ(countOps(*normalized, EntryKind::Train, OpKind::StridePermute),
            2 * 8);
  EXPECT_EQ(countOps(*normalized, EntryKind::Eval, OpKind::StridePermute),
            2 * 4);
  // stc-fold-summary-gathers moved the gathers into the summaries'
  // attention (forward and backward) and the scatters into its backward.
  for (OpKind kind : {OpKind::SummaryGather, OpKind::SummaryScatter})
    EXPECT_EQ(countOps(*normalized, EntryKind::Train, kind), 0);
  const auto &ops = normalized->entry(EntryKind::Train).ops;
  int64_t gathering = 0, accumulating = 0;
  for (const Op &op : ops) {
    if (op.attrs.gatherBlock == 0)
      continue;
    EXPECT_EQ(op.attrs.gatherBlock, 16);
    EXPECT_EQ(op.attrs.gatherSummary, 4);
    ++gathering;
    accumulating += op.attrs.accumulate;
  }
  EXPECT_EQ(gathering, 2);    // the forward and the backward
  EXPECT_EQ(accumulating, 1); // the backward adds into the keys' dk, dv
  // The summaries' forward merges the local result (no attention_merge).
  for (EntryKind k : {EntryKind::Train, EntryKind::Eval}) {
    EXPECT_EQ(countOps(*normalized, k, OpKind::AttentionMerge), 0);
    int64_t merging = 0;
    for (const Op &op : normalized->entry(k).ops)
      merging += op.kind == OpKind::AttentionFwd && op.attrs.merge;
    EXPECT_EQ(merging, 1);
  }

  expectTrainAlike(normalized, written, " normalize");
}

// test/inputs/union-split.mlir compiled twice: its two union layers split
// (st.attention_split with stride: the other members less strided(l) over
// the keys, strided(l) as fixed(n / l, 0) over the stride permutation, one
// softmax), and as written. The split programs train like the written ones.
TEST(Normalization, SplitUnionsTrainLikeTheWrittenOnes) {
  auto normalized = inputArtifact("union-split");
  auto written = inputArtifact("union-split-as-written");
  if (!normalized || !written)
    GTEST_SKIP() << "no compiled union-split artifacts under " << artifactRoot()
                 << " (a runtime-only build)";
  EXPECT_EQ(countOps(*written, EntryKind::Train, OpKind::StridePermute), 0);
  // Per layer, the forward permutes q, k, v and restores o and lse; the
  // backward permutes q, o, lse, dy, k, v and restores dq, dk, dv.
  EXPECT_EQ(countOps(*normalized, EntryKind::Eval, OpKind::StridePermute),
            2 * 5);
  EXPECT_EQ(countOps(*normalized, EntryKind::Train, OpKind::StridePermute),
            2 * (5 + 9));
  EXPECT_EQ(countOps(*normalized, EntryKind::Sample, OpKind::StridePermute), 0);
  for (EntryKind k : {EntryKind::Train, EntryKind::Eval}) {
    int64_t merging = 0;
    for (const Op &op : normalized->entry(k).ops)
      merging += op.kind == OpKind::AttentionFwd && op.attrs.merge;
    EXPECT_EQ(merging, 2);
  }
  // The blocks the evaluation step's attention visits per head: the split
  // layouts' (61 + 96), fewer than the unions' (136 + 108; stc inspect).
  auto blocks = [](const Artifact &a) {
    int64_t total = 0;
    for (const Op &op : a.entry(EntryKind::Eval).ops)
      if (op.kind == OpKind::AttentionFwd)
        for (int l : op.layouts)
          total += a.layouts[l].blocks.numBlocks();
    return total;
  };
  EXPECT_EQ(blocks(*written), 136 + 108);
  EXPECT_EQ(blocks(*normalized), 61 + 96);
  expectTrainAlike(normalized, written, "union split");
}

// test/inputs/score-mods.mlir compiled twice: the soft-capped strided and
// fixed layers normalized (permuted, split into the local blocks and the
// gathered summaries: each part applies the cap), the ALiBi layers as
// written in both (ALiBi reads positions, which normalization renumbers).
// The two programs train alike.
TEST(Normalization, ScoreModsTrainLikeTheWrittenOnes) {
  auto normalized = inputArtifact("score-mods");
  auto written = inputArtifact("score-mods-as-written");
  if (!normalized || !written)
    GTEST_SKIP() << "no compiled score-mods artifacts under "
                 << artifactRoot() << " (a runtime-only build)";
  // Normalized: one strided head group permuted, one fixed layer split
  // (its summaries' forward merging the local blocks' result).
  int64_t merging = 0;
  for (const Op &op : normalized->entry(EntryKind::Train).ops)
    merging += op.kind == OpKind::AttentionFwd && op.attrs.merge;
  EXPECT_EQ(merging, 1);
  EXPECT_EQ(countOps(*normalized, EntryKind::Train, OpKind::StridePermute), 8);
  EXPECT_EQ(countOps(*written, EntryKind::Train, OpKind::StridePermute), 0);
  // Every attention op of both carries its layer's modifications.
  for (const auto &art : {normalized, written})
    for (EntryKind k : {EntryKind::Train, EntryKind::Eval, EntryKind::Sample})
      for (const Op &op : art->entry(k).ops)
        if (op.kind == OpKind::AttentionFwd || op.kind == OpKind::AttentionBwd ||
            op.kind == OpKind::AttentionDecode ||
            op.kind == OpKind::AttentionDecodeSplit)
          EXPECT_GT(op.attrs.softcap, 0.0) << opKindName(op.kind);
  expectTrainAlike(normalized, written, "score mods");
}

// test/inputs/score-mods.mlir compiled with attention as the unfused chain
// (stc compile --no-fuse-softmax: scores, one launch per score
// modification, masked softmax, weighted sum, and their gradients over
// [B, H, T, T] tensors) trains like the fused kernels: the same function
// computed two independent ways, forward and backward.
TEST(Normalization, UnfusedChainTrainsLikeFusedAttention) {
  auto fused = inputArtifact("score-mods-as-written");
  auto unfused = inputArtifact("score-mods-unfused");
  if (!fused || !unfused)
    GTEST_SKIP() << "no compiled score-mods artifacts under "
                 << artifactRoot() << " (a runtime-only build)";
  EXPECT_EQ(countOps(*unfused, EntryKind::Train, OpKind::AttentionFwd), 0);
  EXPECT_EQ(countOps(*unfused, EntryKind::Train, OpKind::AttentionScores), 4);
  EXPECT_EQ(countOps(*unfused, EntryKind::Train, OpKind::AttentionScoresBwd), 4);
  EXPECT_EQ(countOps(*unfused, EntryKind::Train, OpKind::ScoreMod), 7);
  EXPECT_EQ(countOps(*unfused, EntryKind::Train, OpKind::ScoreModBwd), 7);
  EXPECT_EQ(countOps(*unfused, EntryKind::Train, OpKind::MaskedSoftmaxBwd), 4);
  EXPECT_EQ(countOps(*unfused, EntryKind::Train, OpKind::WeightedSumBwd), 4);
  // Sampling decodes the chain as the one attention it computes.
  EXPECT_EQ(countOps(*unfused, EntryKind::Sample, OpKind::AttentionDecode) +
                countOps(*unfused, EntryKind::Sample,
                         OpKind::AttentionDecodeSplit),
            4);
  // f32: the chain stores its scores and probabilities between launches,
  // roundings the fused kernels do not make.
  expectTrainAlike(unfused, fused, "unfused   ");
}

// normalize-small compiled with stc-schedule-recompute's paper policy (each
// block's backward recomputes the block's forward: layer norms,
// projections, normalized attention, GELU, dropout replayed from its salt,
// from the block's input) and its cheap policy (layer norms and elementwise
// ops only). The values are the stored ones, so a few training steps give
// the same losses and parameters, bit for bit, in fp64 and f32, from smaller
// arenas.
TEST(Recompute, PoliciesTrainBitIdentically) {
  auto kept = inputArtifact("normalize-small");
  auto recomputed = inputArtifact("normalize-small-recompute");
  if (!kept || !recomputed)
    GTEST_SKIP() << "no compiled normalize-small artifacts under "
                 << artifactRoot() << " (a runtime-only build)";
  // The forward runs again: one more attention per layer in train_step.
  EXPECT_EQ(countOps(*recomputed, EntryKind::Eval, OpKind::AttentionFwd),
            countOps(*kept, EntryKind::Eval, OpKind::AttentionFwd));
  EXPECT_EQ(countOps(*recomputed, EntryKind::Train, OpKind::AttentionFwd),
            2 * countOps(*kept, EntryKind::Train, OpKind::AttentionFwd));
  // The attention branch's dropout runs again (the block's inner residual
  // sum is recomputed); the feed-forward's only feeds the kept output.
  EXPECT_EQ(2 * countOps(*recomputed, EntryKind::Train, OpKind::DropoutFwd),
            3 * countOps(*kept, EntryKind::Train, OpKind::DropoutFwd));
  std::printf("[ recompute] arena: kept %lld bytes, recomputed %lld bytes\n",
              static_cast<long long>(kept->arenaBytes),
              static_cast<long long>(recomputed->arenaBytes));
  EXPECT_LT(recomputed->arenaBytes, kept->arenaBytes);
  ASSERT_EQ(kept->params.size(), recomputed->params.size());

  // The cheap policy: layer norms, residual sums, dropout and GELU only.
  auto cheap = inputArtifact("normalize-small-cheap");
  ASSERT_TRUE(cheap);
  EXPECT_EQ(countOps(*cheap, EntryKind::Train, OpKind::AttentionFwd),
            countOps(*kept, EntryKind::Train, OpKind::AttentionFwd));
  EXPECT_EQ(countOps(*cheap, EntryKind::Train, OpKind::Gemm),
            countOps(*kept, EntryKind::Train, OpKind::Gemm));
  EXPECT_GT(countOps(*cheap, EntryKind::Train, OpKind::LayerNormFwd),
            countOps(*kept, EntryKind::Train, OpKind::LayerNormFwd));
  std::printf("[ recompute] arena with the cheap policy: %lld bytes\n",
              static_cast<long long>(cheap->arenaBytes));
  EXPECT_LT(cheap->arenaBytes, kept->arenaBytes);

  // The gemm policy: the GEMMs too, but no attention.
  auto gemm = inputArtifact("normalize-small-gemm");
  ASSERT_TRUE(gemm);
  EXPECT_EQ(countOps(*gemm, EntryKind::Train, OpKind::AttentionFwd),
            countOps(*kept, EntryKind::Train, OpKind::AttentionFwd));
  EXPECT_GT(countOps(*gemm, EntryKind::Train, OpKind::Gemm),
            countOps(*kept, EntryKind::Train, OpKind::Gemm));
  std::printf("[ recompute] arena with the gemm policy: %lld bytes\n",
              static_cast<long long>(gemm->arenaBytes));
  EXPECT_LT(gemm->arenaBytes, cheap->arenaBytes);

  ByteDataset data = textDataset(kept->model.context);
  for (auto precision :
       {CpuExecutor::Precision::F64, CpuExecutor::Precision::F32}) {
    SCOPED_TRACE(precision == CpuExecutor::Precision::F64 ? "fp64" : "f32");
    auto [runs, losses] =
        trainAlike({kept, recomputed, cheap, gemm}, precision, data, 3);
    ASSERT_EQ(losses.size(), 4u);
    EXPECT_EQ(losses[0], losses[1]);
    EXPECT_EQ(losses[0], losses[2]);
    EXPECT_EQ(losses[0], losses[3]);
    for (const Param &p : kept->params) {
      const std::string &name = kept->buffers[p.buffer].name;
      auto a = runs[0]->downloadDoubles(name);
      for (size_t r = 1; r < runs.size(); ++r) {
        auto b = runs[r]->downloadDoubles(name);
        ASSERT_TRUE(a.hasValue() && b.hasValue()) << name;
        EXPECT_EQ(*a, *b) << "parameter " << name << " after 3 steps, run "
                          << r;
      }
    }
  }
}

// test/inputs/atomic-small.mlir compiled with the fast attention backward
// (attention_bwd_prep, attention_bwd_atomic per key set, cast) and with
// --deterministic (attention_bwd, and accumulate for the split fixed
// layer's second dq): the same sums in the same order on the CPU reference,
// so fp64 training is bit-identical; in f32 only dq's rounding differs (fp32
// sum, then bf16, against bf16 directly).
TEST(AttentionBackward, AtomicAndDeterministicTrainAlike) {
  auto atomic = inputArtifact("atomic-small");
  auto det = inputArtifact("atomic-small-deterministic");
  if (!atomic || !det)
    GTEST_SKIP() << "no compiled atomic-small artifacts under "
                 << artifactRoot() << " (a runtime-only build)";
  // Two layers, the second split: 3 atomic backwards after 2 preps, one
  // cast per layer; the deterministic program has none of them.
  EXPECT_EQ(countOps(*atomic, EntryKind::Train, OpKind::AttentionBwdPrep), 2);
  EXPECT_EQ(countOps(*atomic, EntryKind::Train, OpKind::AttentionBwdAtomic), 3);
  EXPECT_EQ(countOps(*atomic, EntryKind::Train, OpKind::Cast), 2);
  EXPECT_EQ(countOps(*atomic, EntryKind::Train, OpKind::AttentionBwd), 0);
  EXPECT_EQ(countOps(*det, EntryKind::Train, OpKind::AttentionBwd), 3);
  EXPECT_EQ(countOps(*det, EntryKind::Train, OpKind::AttentionBwdAtomic), 0);

  ByteDataset data = textDataset(atomic->model.context);
  for (auto precision :
       {CpuExecutor::Precision::F64, CpuExecutor::Precision::F32}) {
    const bool f64 = precision == CpuExecutor::Precision::F64;
    SCOPED_TRACE(f64 ? "fp64" : "f32");
    auto [runs, losses] = trainAlike({atomic, det}, precision, data, 3);
    ASSERT_EQ(losses.size(), 2u);
    ASSERT_EQ(losses[0].size(), losses[1].size());
    for (size_t i = 0; i < losses[0].size(); ++i) {
      if (f64)
        EXPECT_EQ(losses[0][i], losses[1][i]) << "step " << i;
      else
        EXPECT_NEAR(losses[0][i], losses[1][i], 1e-3 * losses[1][i])
            << "step " << i;
    }
    if (!f64)
      continue;
    for (const Param &p : atomic->params) {
      const std::string &name = atomic->buffers[p.buffer].name;
      auto a = runs[0]->downloadDoubles(name);
      auto b = runs[1]->downloadDoubles(name);
      ASSERT_TRUE(a.hasValue() && b.hasValue()) << name;
      EXPECT_EQ(*a, *b) << "parameter " << name << " after 3 steps";
    }
  }
}

// A bf16 model's parameters get f32 gradients (stc-autodiff): its weight
// GEMMs write f32, and bias, gain and embedding sums are stored unrounded,
// so gradients hold values no bf16 can.
TEST(MasterWeights, Bf16ParametersGetUnroundedF32Gradients) {
  auto art = inputArtifact("atomic-small");
  if (!art)
    GTEST_SKIP() << "no compiled atomic-small artifact under "
                 << artifactRoot() << " (a runtime-only build)";
  for (const Param &p : art->params) {
    EXPECT_EQ(art->buffers[p.buffer].dtype, DType::BF16) << p.name;
    EXPECT_EQ(art->buffers[p.grad].dtype, DType::F32) << p.name;
  }
  CpuExecutor::Options o;
  auto e = std::make_unique<CpuExecutor>(o);
  ASSERT_OK(e->allocate(art));
  ASSERT_OK(initParams(*e, 5));
  ByteDataset data = textDataset(art->model.context);
  auto losses = trainSteps(*e, data, 1, 1e-3, 1);
  ASSERT_TRUE(losses.hasValue()) << losses.status().message();
  // The step's gradients are still in their buffers (nothing runs after
  // the optimizer).
  for (const Param &p : art->params) {
    auto g = e->downloadFloats(art->buffers[p.grad].name);
    ASSERT_TRUE(g.hasValue()) << p.name;
    int64_t unrounded = 0, nonzero = 0;
    for (float x : *g) {
      nonzero += x != 0;
      unrounded += x != stc::abi::bf16ToFloat(stc::abi::floatToBf16(x));
    }
    if (nonzero > 8) // the key biases' gradients vanish (softmax)
      EXPECT_GT(unrounded, nonzero / 2) << p.name << ": " << nonzero
                                        << " nonzero gradients";
  }
}

// Every GELU, GELU gradient and bias gradient of tiny's linear layers is a
// GEMM epilogue (stc-fuse-gemm-epilogues), and Q, K, V run as gemm_groups
// (stc-group-gemms); the finite-difference test above checks the gradients
// they give.
TEST(EndToEnd, LinearLayersRunInGemmEpilogues) {
  REQUIRE_TINY();
  const Artifact &a = *tinyArtifact();
  const int64_t blocks = a.model.layers;
  for (EntryKind k : {EntryKind::Train, EntryKind::Eval})
    EXPECT_EQ(countOps(a, k, OpKind::GeluFwd), 0) << entryKindName(k);
  EXPECT_EQ(countOps(a, EntryKind::Train, OpKind::GeluBwd), 0);
  EXPECT_EQ(countOps(a, EntryKind::Train, OpKind::BiasGrad), 0);
  int64_t gelu = 0, pre = 0, dgelu = 0, biasGrad = 0, biases = 0;
  for (const Op &op : a.entry(EntryKind::Train).ops) {
    if (op.kind != OpKind::Gemm)
      continue;
    gelu += op.attrs.gelu;
    pre += op.attrs.geluPre;
    dgelu += op.attrs.dgelu;
    biasGrad += op.attrs.biasGrad;
    biases += op.attrs.bias;
  }
  EXPECT_EQ(gelu, blocks);
  EXPECT_EQ(pre, blocks); // the backward reads gelu's argument
  EXPECT_EQ(dgelu, blocks);
  EXPECT_EQ(biasGrad, biases); // every forward bias gets its gradient so
  // Each block's Q, K, V projections are one gemm_group (stc-group-gemms),
  // and their weight and bias gradients another, at equal distances.
  EXPECT_EQ(countOps(a, EntryKind::Train, OpKind::GemmGroup), 2 * blocks);
  EXPECT_EQ(countOps(a, EntryKind::Eval, OpKind::GemmGroup), blocks);
  for (const Op &op : a.entry(EntryKind::Train).ops) {
    if (op.kind != OpKind::GemmGroup)
      continue;
    EXPECT_EQ(op.attrs.widths.size(), 3u);
    EXPECT_NE(op.attrs.bias, op.attrs.biasGrad);
    // The lists lie side by side: B_i and C_i at equal distances.
    const size_t n = op.attrs.widths.size();
    for (size_t first : {size_t(1), 1 + n}) {
      const int64_t step =
          a.buffers[op.args[first + 1]].offset - a.buffers[op.args[first]].offset;
      EXPECT_GT(step, 0);
      EXPECT_EQ(a.buffers[op.args[first + 2]].offset -
                    a.buffers[op.args[first + 1]].offset,
                step);
    }
  }
}

// A bf16 model keeps f32 master weights: AdamW updates them, the bf16
// values are them rounded, and updates far below bf16's resolution add up
// instead of vanishing. Checkpoints carry them.
TEST(MasterWeights, SmallUpdatesAccumulateAndCheckpointsKeepThem) {
  auto art = inputArtifact("atomic-small");
  if (!art)
    GTEST_SKIP() << "no compiled atomic-small artifact under "
                 << artifactRoot() << " (a runtime-only build)";
  for (const Param &p : art->params) {
    ASSERT_GE(p.master, 0) << p.name;
    EXPECT_EQ(art->buffers[p.master].dtype, DType::F32);
  }
  CpuExecutor::Options o;
  auto e = std::make_unique<CpuExecutor>(o);
  ASSERT_OK(e->allocate(art));
  ASSERT_OK(initParams(*e, 5));
  const Param *wp = nullptr;
  for (const Param &p : art->params)
    if (p.name == "block0.attn.q.w")
      wp = &p;
  ASSERT_NE(wp, nullptr);
  const Param &w = *wp;
  const std::string value = art->buffers[w.buffer].name,
                    master = art->buffers[w.master].name;
  auto v0 = e->downloadFloats(value);
  auto m0 = e->downloadFloats(master);
  ASSERT_TRUE(v0.hasValue() && m0.hasValue());
  EXPECT_EQ(*v0, *m0) << "master weights start at the values";

  // lr 1e-5: each step moves a weight by about 1e-5, far below half a bf16
  // ulp of weights of size 0.02 (6e-5).
  ByteDataset data = textDataset(art->model.context);
  auto losses = trainSteps(*e, data, 3, 1e-5, 7);
  ASSERT_TRUE(losses.hasValue()) << losses.status().message();
  auto v1 = e->downloadFloats(value);
  auto m1 = e->downloadFloats(master);
  ASSERT_TRUE(v1.hasValue() && m1.hasValue());
  size_t masterMoved = 0;
  for (size_t i = 0; i < m1->size(); ++i) {
    masterMoved += (*m1)[i] != (*m0)[i];
    EXPECT_EQ((*v1)[i], stc::abi::bf16ToFloat(stc::abi::floatToBf16((*m1)[i])))
        << "value " << i << " is not its master weight rounded";
  }
  std::printf("[ master   ] %s: %zu of %zu master weights moved\n",
              w.name.c_str(), masterMoved, m1->size());
  EXPECT_GT(masterMoved, m1->size() * 9 / 10);

  std::string path = tempDir("master") + "/m.ckpt";
  ASSERT_OK(saveCheckpoint(*e, path, 3));
  auto fresh = std::make_unique<CpuExecutor>(o);
  ASSERT_OK(fresh->allocate(art));
  ASSERT_OK(initParams(*fresh, 6));
  ASSERT_TRUE(loadCheckpoint(*fresh, path).hasValue());
  auto m2 = fresh->downloadFloats(master);
  ASSERT_TRUE(m2.hasValue());
  EXPECT_EQ(*m2, *m1) << "the checkpoint restores the master weights";

  // A checkpoint without master weights (as an artifact compiled before
  // they existed writes: the same model, no `master` in its parameter
  // table) loads, and the master weights start from its values.
  auto noMaster = std::make_shared<Artifact>(*art);
  for (Param &p : noMaster->params)
    p.master = -1;
  auto old = std::make_unique<CpuExecutor>(o);
  ASSERT_OK(old->allocate(noMaster));
  ASSERT_OK(initParams(*old, 8));
  std::string oldPath = tempDir("master-old") + "/old.ckpt";
  ASSERT_OK(saveCheckpoint(*old, oldPath, 1));
  auto oldValue = old->downloadFloats(value);
  ASSERT_TRUE(oldValue.hasValue());
  auto reader = std::make_unique<CpuExecutor>(o);
  ASSERT_OK(reader->allocate(art));
  ASSERT_OK(initParams(*reader, 9));
  auto step = loadCheckpoint(*reader, oldPath);
  ASSERT_TRUE(step.hasValue()) << step.status().message();
  auto m3 = reader->downloadFloats(master);
  ASSERT_TRUE(m3.hasValue());
  EXPECT_EQ(*m3, *oldValue) << "master weights start from the values";
}

// The bf16 numerics target on the CPU reference (which stores bf16 buffers
// rounded like the GPU): tiny in bf16, with f32 master weights and moments,
// trained 300 steps beside tiny in f32 on the same data from the same seed,
// ends within 2% of its loss (mean of the last 20 steps).
/// Trains `art` 300 steps on the CPU (seed 11, data seed 12) and returns
/// the mean loss of its last 20 steps, or nullopt after a failure; the
/// executor is left in *exec.
std::optional<double> tailLossAfter300(const std::shared_ptr<const Artifact> &art,
                                       const ByteDataset &data,
                                       std::unique_ptr<CpuExecutor> *exec) {
  *exec = std::make_unique<CpuExecutor>(CpuExecutor::Options{});
  Status s = (*exec)->allocate(art);
  if (s.isOk())
    s = initParams(**exec, 11);
  EXPECT_TRUE(s.isOk()) << s.message();
  if (!s.isOk())
    return std::nullopt;
  auto losses = trainSteps(**exec, data, 300, 3e-3, 12);
  EXPECT_TRUE(losses.hasValue()) << losses.status().message();
  if (!losses || losses->size() < 20)
    return std::nullopt;
  double sum = 0;
  for (size_t i = losses->size() - 20; i < losses->size(); ++i)
    sum += (*losses)[i];
  return sum / 20;
}

TEST(MasterWeights, Bf16TinyTrainsLikeF32) {
  REQUIRE_TINY();
  auto bf16 = inputArtifact("tiny-bf16");
  if (!bf16)
    GTEST_SKIP() << "no compiled tiny-bf16 artifact under " << artifactRoot();
  ByteDataset data = textDataset(tinyArtifact()->model.context);
  std::vector<double> tail;
  for (const auto &art : {tinyArtifact(), bf16}) {
    std::unique_ptr<CpuExecutor> e;
    std::optional<double> t = tailLossAfter300(art, data, &e);
    ASSERT_TRUE(t);
    tail.push_back(*t);
  }
  std::printf("[ bf16     ] tiny after 300 steps: f32 %.4f, bf16 %.4f "
              "bits/byte (%.2f%%)\n",
              tail[0], tail[1], 100 * (tail[1] - tail[0]) / tail[0]);
  EXPECT_LT(tail[0], 4.5) << "the f32 run did not learn";
  EXPECT_NEAR(tail[1], tail[0], 0.02 * tail[0]);
}

//===----------------------------------------------------------------------===//
// f16 and dynamic loss scaling
//===----------------------------------------------------------------------===//

std::shared_ptr<const Artifact> f16Artifact() { return inputArtifact("tiny-f16"); }
#define REQUIRE_F16(art)                                                       \
  auto art = f16Artifact();                                                    \
  if (!art)                                                                    \
  GTEST_SKIP() << "no compiled tiny-f16 artifact under " << artifactRoot()

std::vector<float> lossScaleState(const Executor &e) {
  const Artifact &a = e.artifact();
  auto s = e.downloadFloats(a.buffers[a.lossScale].name);
  EXPECT_TRUE(s.hasValue());
  return s.hasValue() ? *s : std::vector<float>{};
}

// The numerics target for f16, like bf16's: tiny in f16 (dynamic loss
// scaling, f32 master weights, moments and parameter gradients) trained
// 300 steps beside tiny in f32 ends within 2% of its loss.
TEST(LossScaling, F16TinyTrainsLikeF32) {
  REQUIRE_TINY();
  REQUIRE_F16(f16);
  ASSERT_GE(f16->lossScale, 0) << "an f16 model has a loss scale";
  EXPECT_EQ(f16->lossScaleInit, stc::abi::kLossScaleInit);
  EXPECT_EQ(tinyArtifact()->lossScale, -1) << "an f32 model has none";
  ByteDataset data = textDataset(tinyArtifact()->model.context);
  std::vector<double> tail;
  int64_t skipped = -1;
  for (const auto &art : {tinyArtifact(), f16}) {
    std::unique_ptr<CpuExecutor> e;
    std::optional<double> t = tailLossAfter300(art, data, &e);
    ASSERT_TRUE(t);
    tail.push_back(*t);
    if (art == f16)
      skipped = static_cast<int64_t>(lossScaleState(*e)[2]);
  }
  std::printf("[ f16      ] tiny after 300 steps: f32 %.4f, f16 %.4f "
              "bits/byte (%.2f%%), %lld steps skipped\n",
              tail[0], tail[1], 100 * (tail[1] - tail[0]) / tail[0],
              static_cast<long long>(skipped));
  EXPECT_LT(tail[0], 4.5) << "the f32 run did not learn";
  EXPECT_NEAR(tail[1], tail[0], 0.02 * tail[0]);
  EXPECT_LT(skipped, 10) << "the scale should settle, not keep overflowing";
}

// A scale far too large overflows the f16 gradients: the step changes no
// parameter and no moment, is reported skipped, and halves the scale; the
// run halves it step by step until the gradients fit, then trains. The
// checkpoint keeps the scale, and --save-grads' export divides by it.
TEST(LossScaling, OverflowSkipsTheStepAndHalvesTheScale) {
  REQUIRE_F16(art);
  auto e = std::make_unique<CpuExecutor>(CpuExecutor::Options{});
  ASSERT_OK(e->allocate(art));
  ASSERT_OK(initParams(*e, 3));
  EXPECT_EQ(lossScaleState(*e),
            (std::vector<float>{float(stc::abi::kLossScaleInit), 0, 0, 0}));
  const float huge = std::ldexp(1.0f, 100);
  ASSERT_OK(e->uploadFloats(art->buffers[art->lossScale].name,
                            {huge, 0, 0, 0}));
  const Param &p = art->params[0];
  auto before = e->downloadFloats(art->buffers[p.master].name);
  ASSERT_TRUE(before.hasValue());
  ByteDataset data = textDataset(art->model.context);
  TrainOptions o;
  o.steps = 120;
  o.stopAfter = 1;
  o.warmupSteps = 1;
  std::vector<StepReport> reports;
  o.onStep = [&](const StepReport &r) {
    reports.push_back(r);
    return true;
  };
  ASSERT_TRUE(train(*e, data, o).hasValue());
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(reports[0].skipped);
  EXPECT_EQ(reports[0].skippedSteps, 1);
  EXPECT_EQ(reports[0].lossScale, double(huge));
  EXPECT_EQ(lossScaleState(*e), (std::vector<float>{huge / 2, 0, 1, 1}));
  auto after = e->downloadFloats(art->buffers[p.master].name);
  ASSERT_TRUE(after.hasValue());
  EXPECT_EQ(*after, *before) << "a skipped step must not move the weights";
  auto moment = e->downloadFloats(art->buffers[p.adamM].name);
  ASSERT_TRUE(moment.hasValue());
  EXPECT_TRUE(std::all_of(moment->begin(), moment->end(),
                          [](float x) { return x == 0.f; }));

  // Resumed: the scale halves until the gradients fit, then steps count.
  o.startStep = 1;
  o.stopAfter = 0;
  ASSERT_TRUE(train(*e, data, o).hasValue());
  const StepReport &last = reports.back();
  EXPECT_FALSE(last.skipped);
  EXPECT_GT(last.skippedSteps, 50) << "2^100 needs many halvings";
  EXPECT_LT(last.skippedSteps, 110);
  EXPECT_LT(last.loss, reports[0].loss - 0.5) << "the run then learns";
  auto trained = e->downloadFloats(art->buffers[p.master].name);
  ASSERT_TRUE(trained.hasValue());
  EXPECT_NE(*trained, *before);

  // The scale travels with the checkpoint.
  const std::vector<float> state = lossScaleState(*e);
  std::string path = tempDir("loss-scale") + "/f16.ckpt";
  ASSERT_OK(saveCheckpoint(*e, path, last.step));
  auto fresh = std::make_unique<CpuExecutor>(CpuExecutor::Options{});
  ASSERT_OK(fresh->allocate(art));
  ASSERT_OK(initParams(*fresh, 4));
  ASSERT_TRUE(loadCheckpoint(*fresh, path).hasValue());
  EXPECT_EQ(lossScaleState(*fresh), state);

  // Exported gradients are the true ones: the buffers divided by the scale
  // the step ran with.
  std::string grads = tempDir("loss-scale") + "/grads.safetensors";
  SafetensorsOptions so;
  so.gradients = true;
  ASSERT_OK(saveSafetensors(*e, grads, so));
  auto raw = e->downloadFloats(art->buffers[p.grad].name);
  ASSERT_TRUE(raw.hasValue());
  std::ifstream in(grads, std::ios::binary);
  std::string file((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  uint64_t headerLen = 0;
  std::memcpy(&headerLen, file.data(), 8);
  auto header = json::parse(file.substr(8, headerLen));
  ASSERT_TRUE(header.hasValue());
  const json::Value *t = header->find(p.name);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->find("dtype")->asString(), "F32") << "f32 parameter gradients";
  const int64_t at = t->find("data_offsets")->asArray()[0].asInt();
  const double scale = lastStepLossScale(state);
  ASSERT_GT(scale, 0);
  for (size_t i = 0; i < raw->size(); i += 97) {
    float x;
    std::memcpy(&x, file.data() + 8 + headerLen + at + 4 * i, 4);
    EXPECT_EQ(x, static_cast<float>((*raw)[i] / scale)) << i;
  }
}

// A checkpoint's loss-scale state is checked when it is read: a scale of 0
// would make every step a silent skip, more skipped steps than steps would
// leave AdamW no step count.
TEST(LossScaling, CheckpointStateIsValidated) {
  REQUIRE_F16(art);
  auto e = std::make_unique<CpuExecutor>(CpuExecutor::Options{});
  ASSERT_OK(e->allocate(art));
  ASSERT_OK(initParams(*e, 3));
  const std::string path = tempDir("loss-scale-state") + "/f16.ckpt";
  const std::string name = art->buffers[art->lossScale].name;
  auto ok = [](const Status &st) { EXPECT_TRUE(st.isOk()) << st.message(); };
  auto roundTrip = [&](std::vector<float> state, int64_t step) {
    ok(e->uploadFloats(name, state));
    ok(saveCheckpoint(*e, path, step));
    auto fresh = std::make_unique<CpuExecutor>(CpuExecutor::Options{});
    ok(fresh->allocate(art));
    return loadCheckpoint(*fresh, path);
  };
  EXPECT_TRUE(roundTrip({1024, 5, 2, 0}, 7).hasValue()) << "a valid state";
  EXPECT_TRUE(roundTrip({0.5f, 0, 7, 1}, 7).hasValue())
      << "every step skipped so far";
  for (const auto &[state, step] :
       std::vector<std::pair<std::vector<float>, int64_t>>{
           {{0, 0, 0, 0}, 7},      // no scale
           {{-8, 0, 0, 0}, 7},     // a negative one
           {{1024, 0, 8, 1}, 7},   // more skipped steps than steps
           {{1024, 2.5f, 0, 0}, 7}, // a fractional count
           {{1024, 0, 0, 2}, 7}}) { // the flag is 0 or 1
    auto loaded = roundTrip(state, step);
    ASSERT_FALSE(loaded.hasValue()) << state[0] << " " << state[2];
    EXPECT_NE(loaded.status().message().find("loss-scale state"),
              std::string::npos)
        << loaded.status().message();
    EXPECT_NE(loaded.status().message().find("valid: a scale > 0"),
              std::string::npos)
        << loaded.status().message();
  }
}

// The manifest's loss_scale is checked: its buffer (persistent, 4 f32),
// its initial scale, and that the ops using a loss scale name it.
TEST(LossScaling, ManifestIsValidated) {
  REQUIRE_F16(art);
  const std::string dir = artifactRoot() + "/tiny-f16";
  std::ifstream in(dir + "/manifest.json");
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  auto expectError = [&](const std::function<void(json::Value &)> &damage,
                         const std::string &want) {
    auto root = json::parse(text);
    ASSERT_TRUE(root.hasValue());
    damage(*root);
    auto a = Artifact::fromJson(*root, dir);
    ASSERT_FALSE(a.hasValue()) << "accepted; wanted: " << want;
    EXPECT_NE(a.status().message().find(want), std::string::npos)
        << a.status().message();
  };
  expectError([](json::Value &m) { m.erase("loss_scale"); },
              "its loss_scale must be the buffer that the manifest's "
              "loss_scale.buffer names (the manifest has none)");
  expectError(
      [&](json::Value &m) {
        m.find("loss_scale")->set("buffer", int64_t(art->scalars));
      },
      "must be persistent with 4 elements of dtype f32");
  expectError(
      [](json::Value &m) { m.find("loss_scale")->set("init", -1.0); },
      "loss_scale.init: is -1.0; valid: a finite number > 0");
  expectError(
      [&](json::Value &m) {
        m.find("loss_scale")->set("buffer", int64_t(art->params[0].adamM));
      },
      "must be persistent with 4 elements of dtype f32");
}

//===----------------------------------------------------------------------===//
// Gradient accumulation
//===----------------------------------------------------------------------===//

// stc train --accumulate 2 on tiny at batch 2 draws each step's 4 windows
// as the batch-4 artifact does, runs the forward and backward on windows
// 0-1 and 2-3, averages the two gradients and takes one optimizer step: the
// same training as one batch of 4 (tiny has no dropout). In fp64 the two
// agree to rounding; in f32 to a few ulps through the steps.
TEST(Accumulation, TwoMicroBatchesTrainLikeOneBatchOfTwiceTheSize) {
  REQUIRE_TINY();
  auto half = inputArtifact("tiny-batch2");
  if (!half)
    GTEST_SKIP() << "no compiled tiny-batch2 artifact under " << artifactRoot();
  ASSERT_EQ(half->model.batch * 2, tinyArtifact()->model.batch);
  auto split = optimizerSplit(*half);
  ASSERT_TRUE(split.hasValue()) << split.status().message();
  EXPECT_EQ(half->entry(EntryKind::Train).ops[*split].kind, OpKind::Sumsq);
  ByteDataset data = textDataset(half->model.context);
  for (auto precision :
       {CpuExecutor::Precision::F64, CpuExecutor::Precision::F32}) {
    const bool f64 = precision == CpuExecutor::Precision::F64;
    SCOPED_TRACE(f64 ? "fp64" : "f32");
    std::vector<std::unique_ptr<CpuExecutor>> runs;
    std::vector<std::vector<double>> losses(2);
    std::vector<std::vector<int64_t>> windows(2);
    for (int r = 0; r < 2; ++r) {
      CpuExecutor::Options o;
      o.precision = precision;
      runs.push_back(std::make_unique<CpuExecutor>(o));
      ASSERT_OK(runs[r]->allocate(r == 0 ? tinyArtifact() : half));
      ASSERT_OK(initParams(*runs[r], 5));
      TrainOptions t;
      t.steps = 4;
      t.learningRate = 3e-3;
      t.minLearningRate = 3e-4;
      t.warmupSteps = 1;
      t.seed = 9;
      t.accumulate = r == 0 ? 1 : 2;
      t.onStep = [&, r](const StepReport &rep) {
        losses[r].push_back(rep.loss);
        windows[r].insert(windows[r].end(), rep.windows.begin(), rep.windows.end());
        return true;
      };
      auto done = train(*runs[r], data, t);
      ASSERT_TRUE(done.hasValue()) << done.status().message();
    }
    EXPECT_EQ(windows[0], windows[1]) << "the two runs saw different data";
    ASSERT_EQ(losses[0].size(), 4u);
    ASSERT_EQ(losses[1].size(), 4u);
    const double tol = f64 ? 1e-12 : 1e-5;
    for (size_t i = 0; i < 4; ++i)
      EXPECT_NEAR(losses[1][i], losses[0][i], tol * losses[0][i]) << "step " << i + 1;
    double worst = 0, scale = 0;
    for (size_t p = 0; p < half->params.size(); ++p) {
      auto a = runs[0]->downloadDoubles(
          tinyArtifact()->buffers[tinyArtifact()->params[p].buffer].name);
      auto b = runs[1]->downloadDoubles(half->buffers[half->params[p].buffer].name);
      ASSERT_TRUE(a.hasValue() && b.hasValue());
      ASSERT_EQ(a->size(), b->size());
      for (size_t i = 0; i < a->size(); ++i) {
        worst = std::max(worst, std::fabs((*a)[i] - (*b)[i]));
        scale = std::max(scale, std::fabs((*a)[i]));
      }
    }
    std::printf("[ accum    ] %s: losses %.9f .. %.9f, largest parameter "
                "difference after 4 steps %.3g (largest parameter %.3g)\n",
                f64 ? "fp64" : "f32 ", losses[1].front(), losses[1].back(),
                worst, scale);
    EXPECT_LE(worst, f64 ? 1e-12 : 1e-5);
    EXPECT_GT(losses[1].front() - losses[1].back(), 0.1) << "no training";
  }
}

// The accumulation API refuses what it cannot do, saying what is wrong.
TEST(Accumulation, MisuseIsAnError) {
  REQUIRE_TINY();
  auto e = makeCpu();
  Status s = e->averageGradients(0.5);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("nothing was accumulated"), std::string::npos)
      << s.message();
  TrainOptions t;
  t.steps = 1;
  t.accumulate = 0;
  ByteDataset data = textDataset(tinyArtifact()->model.context);
  auto r = train(*e, data, t);
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.status().message().find("accumulate is 0; valid: 1 .."),
            std::string::npos)
      << r.status().message();
}

//===----------------------------------------------------------------------===//
// Long contexts: the artifact names layouts, it does not store them
//===----------------------------------------------------------------------===//

/// Loads an artifact of test/inputs and checks what issue-sized contexts
/// need: a manifest under 1 MB and a load (validation, layout rebuilds and
/// fingerprint checks included) under a second (times kTimeScale).
void expectSmallAndQuick(const std::string &name, int64_t context) {
  std::string dir = artifactRoot() + "/" + name;
  if (!fs::exists(dir + "/manifest.json"))
    GTEST_SKIP() << "no compiled " << name << " artifact at " << dir
                 << " (a runtime-only build)";
  int64_t bytes = static_cast<int64_t>(fs::file_size(dir + "/manifest.json"));
  EXPECT_LT(bytes, 1000 * 1000) << "manifest of " << name;
  auto start = std::chrono::steady_clock::now();
  auto a = Artifact::load(dir);
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  ASSERT_TRUE(a.hasValue()) << a.status().message();
  std::printf("[ long     ] %s: manifest %.0f KB, loaded in %.3f s, %zu "
              "layout(s), %lld blocks in the first\n",
              name.c_str(), bytes / 1e3, seconds, a->layouts.size(),
              static_cast<long long>(a->layouts[0].blocks.numBlocks()));
  EXPECT_LT(seconds, 1.0 * stc::test::kTimeScale) << "loading " << name;
  EXPECT_EQ(a->model.context, context);
  int withColumns = 0;
  for (const Layout &l : a->layouts) {
    EXPECT_EQ(l.blocks.n, context);
    if (!l.hasColumns)
      continue;
    // The column view lists the same blocks as the row view.
    ++withColumns;
    EXPECT_EQ(l.rowIdx.size(), l.blocks.colIdx.size());
    EXPECT_EQ(l.colPtr.back(), l.blocks.numBlocks());
  }
  // The training step's backward reads at least one layout by columns.
  EXPECT_GE(withColumns, 1) << name;
}

TEST(LongContext, Enwik8At262144LoadsQuickly) {
  expectSmallAndQuick("enwik8-262k", 262144);
}

TEST(LongContext, SmallModelAtOneMillionLoadsQuickly) {
  expectSmallAndQuick("long-1m", 1048576);
}

} // namespace
