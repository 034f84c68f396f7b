//===- TrainTest.cpp - Executor, training, sampling, checkpoints ----------===//

#include "test/unit/Support.h"
#include "RuntimeTestUtil.h"

#include "abi/Hash.h"
#include "runtime/Checkpoint.h"
#include "runtime/Data.h"
#include "runtime/Executor.h"
#include "runtime/Init.h"
#include "runtime/Train.h"
#include "runtime/c_api.h"
#include "runtime/cpu/CpuExecutor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <tuple>
#include <fstream>

using namespace stc::rt;
using namespace stc::rt::test;

namespace {

std::shared_ptr<const Artifact> loadBuilt(const ArtifactBuilder &b,
                                          const std::string &tag) {
  auto a = Artifact::load(b.writeTemp(tag));
  EXPECT_TRUE(a.hasValue()) << a.status().message();
  if (!a)
    return nullptr;
  return std::make_shared<const Artifact>(std::move(*a));
}

std::unique_ptr<Executor> makeCpu(std::shared_ptr<const Artifact> a,
                                  uint64_t seed = 1) {
  auto e = createExecutor("cpu");
  EXPECT_TRUE(e.hasValue());
  Status s = (*e)->allocate(std::move(a));
  EXPECT_TRUE(s.isOk()) << s.message();
  s = initParams(**e, seed);
  EXPECT_TRUE(s.isOk()) << s.message();
  return std::move(*e);
}

ByteDataset textData(int64_t context) {
  auto d = ByteDataset::fromBytes(trainingText(), context, "text");
  EXPECT_TRUE(d.hasValue());
  return *d;
}

//===----------------------------------------------------------------------===//
// Host random numbers and init
//===----------------------------------------------------------------------===//

TEST(Random, SplitMix64IsTheReferenceGenerator) {
  // First outputs of splitmix64 seeded with 0 (the published sequence).
  SplitMix64 r(0);
  EXPECT_EQ(r.next(), 0xe220a8397b1dcdafull);
  EXPECT_EQ(r.next(), 0x6e789e6aa1b965f4ull);
  EXPECT_EQ(r.next(), 0x06c45d188009454full);
  SplitMix64 u(7);
  for (int i = 0; i < 1000; ++i) {
    double x = u.uniform(), y = u.uniformPositive();
    EXPECT_TRUE(x >= 0 && x < 1);
    EXPECT_TRUE(y > 0 && y <= 1);
    EXPECT_LT(u.below(10), 10u);
  }
}

TEST(Init, DeterministicAndDistributed) {
  InitSpec normal;
  normal.dist = InitSpec::Dist::Normal;
  normal.std = 0.02;
  auto a = initialValues(normal, 10001, 42, "w1");
  EXPECT_EQ(a, initialValues(normal, 10001, 42, "w1"));
  EXPECT_NE(a, initialValues(normal, 10001, 43, "w1"));
  EXPECT_NE(a, initialValues(normal, 10001, 42, "w2"));
  double mean = 0, var = 0;
  for (float x : a)
    mean += x / a.size();
  for (float x : a)
    var += (x - mean) * (x - mean) / a.size();
  EXPECT_NEAR(mean, 0, 0.001);
  EXPECT_NEAR(std::sqrt(var), 0.02, 0.001);
  // A prefix does not depend on the count (pairs are drawn in order).
  auto b = initialValues(normal, 7, 42, "w1");
  for (int i = 0; i < 7; ++i)
    EXPECT_EQ(a[i], b[i]);
  InitSpec ones;
  ones.dist = InitSpec::Dist::Ones;
  EXPECT_EQ(initialValues(ones, 3, 1, "g"), std::vector<float>(3, 1.0f));
}

//===----------------------------------------------------------------------===//
// Executor interface
//===----------------------------------------------------------------------===//

TEST(Executor, ArgumentErrors) {
  auto bad = createExecutor("tpu");
  ASSERT_FALSE(bad.hasValue());
  EXPECT_MENTIONS(bad.status().message(), "unknown executor 'tpu' (available "
                                          "in this build: cpu");
  auto e = createExecutor("cpu");
  ASSERT_TRUE(e.hasValue());
  Executor &ex = **e;
  EXPECT_MENTIONS(ex.run(EntryKind::Train).message(), "allocate() an artifact");
  int32_t one = 1;
  EXPECT_MENTIONS(ex.upload("tokens", &one, 4).message(), "allocate()");

  ArtifactBuilder b = bigramBuilder();
  json::Value m = b.manifest();
  m.find("entries")->erase("sample_step");
  std::string dir = b.writeTemp("nosample");
  writeFile(dir + "/manifest.json", json::write(m));
  auto a = Artifact::load(dir);
  ASSERT_TRUE(a.hasValue()) << a.status().message();
  ASSERT_TRUE(ex.allocate(std::make_shared<const Artifact>(*a)).isOk());
  EXPECT_MENTIONS(ex.upload("tokens", &one, 4).message(),
                  "buffer 'tokens' holds 256 bytes (64 x i32); got 4 bytes");
  EXPECT_MENTIONS(ex.upload("nope", &one, 4).message(),
                  "no buffer named 'nope'");
  EXPECT_MENTIONS(ex.run(EntryKind::Sample).message(),
                  "the artifact has no sample_step entry (it has: train_step, "
                  "eval_step)");
  EXPECT_MENTIONS(ex.uploadFloats("tokens", {1.0f}).message(), "is i32");
  EXPECT_MENTIONS(ex.allocate(std::make_shared<const Artifact>(*a)).message(),
                  "already allocated");
  EXPECT_MENTIONS(ex.runOps(EntryKind::Eval, 2, 9).message(),
                  "eval_step: op range [2, 9) is not within its 3 ops");
  // A token outside the vocabulary fails the step with the op named.
  std::vector<int32_t> toks(64, 3);
  toks[5] = 300;
  ASSERT_TRUE(ex.uploadInts("tokens", toks).isOk());
  ASSERT_TRUE(ex.uploadInts("targets", std::vector<int32_t>(64, 1)).isOk());
  EXPECT_MENTIONS(ex.run(EntryKind::Eval).message(),
                  "eval_step op 0 (embed_fwd): tokens[5] = 300 is outside [0, "
                  "256)");
}

TEST(Executor, ScalarsLayout) {
  Scalars s;
  s.learningRate = 0.5f;
  s.step = 7;
  s.dropoutSeed = 0xdeadbeef;
  s.position = 3;
  auto bytes = packScalars(s);
  Scalars back = unpackScalars(bytes.data());
  EXPECT_EQ(back.learningRate, 0.5f);
  EXPECT_EQ(back.step, 7);
  EXPECT_EQ(back.dropoutSeed, 0xdeadbeefu);
  EXPECT_EQ(back.position, 3);
  for (int i = 16; i < 64; ++i)
    EXPECT_EQ(bytes[i], 0);
}

TEST(Executor, EvalMatchesDirectComputation) {
  // eval_step's losses equal the definition computed from the downloaded
  // parameters (embedding + position, x W, cross-entropy in bits).
  auto art = loadBuilt(bigramBuilder(), "evalcheck");
  ASSERT_TRUE(art);
  auto ex = makeCpu(art, 5);
  std::vector<int32_t> toks(64), tgts(64);
  for (int i = 0; i < 64; ++i) {
    toks[i] = (i * 37) % 256;
    tgts[i] = (i * 11 + 3) % 256;
  }
  ASSERT_TRUE(ex->uploadInts("tokens", toks).isOk());
  ASSERT_TRUE(ex->uploadInts("targets", tgts).isOk());
  // Op by op gives the same as the whole entry.
  ASSERT_TRUE(ex->runOps(EntryKind::Eval, 0, 1).isOk());
  ASSERT_TRUE(ex->runOps(EntryKind::Eval, 1, 3).isOk());
  auto stepwise = ex->downloadFloats("losses");
  ASSERT_TRUE(ex->run(EntryKind::Eval).isOk());
  auto losses = ex->downloadFloats("losses");
  ASSERT_TRUE(stepwise && losses);
  EXPECT_EQ(*stepwise, *losses);
  auto emb = ex->downloadFloats("emb"), pos = ex->downloadFloats("pos0"),
       W = ex->downloadFloats("W");
  ASSERT_TRUE(losses && emb && pos && W);
  for (int r = 0; r < 64; ++r) {
    std::vector<double> x(32), logit(256, 0.0);
    for (int d = 0; d < 32; ++d)
      x[d] = (*emb)[toks[r] * 32 + d] + (*pos)[(r % 16) * 32 + d];
    double mx = -1e300;
    for (int v = 0; v < 256; ++v) {
      for (int d = 0; d < 32; ++d)
        logit[v] += x[d] * (*W)[d * 256 + v];
      mx = std::max(mx, logit[v]);
    }
    double z = 0;
    for (double l : logit)
      z += std::exp(l - mx);
    double bits = (mx + std::log(z) - logit[tgts[r]]) / std::log(2.0);
    EXPECT_NEAR((*losses)[r], bits, 1e-4);
  }
}

//===----------------------------------------------------------------------===//
// Data and schedule
//===----------------------------------------------------------------------===//

TEST(Data, WindowsAndErrors) {
  auto d = ByteDataset::fromBytes("abcdefgh", 4);
  ASSERT_TRUE(d.hasValue());
  EXPECT_EQ(d->numWindows(), 4);
  int32_t t[4], g[4];
  d->window(3, t, g);
  EXPECT_EQ(t[0], 'd');
  EXPECT_EQ(g[3], 'h');
  SplitMix64 rng(1);
  std::vector<int32_t> toks, tgts;
  std::vector<int64_t> starts = d->drawStarts(8, rng);
  ASSERT_EQ(starts.size(), 8u);
  for (int64_t start : starts)
    EXPECT_TRUE(start >= 0 && start < d->numWindows()) << start;
  d->windows(starts.data(), 8, toks, tgts);
  ASSERT_EQ(toks.size(), 32u);
  for (int i = 0; i < 32; ++i)
    EXPECT_EQ(tgts[i], toks[i] + 1) << "targets are the next byte";
  auto shortData = ByteDataset::fromBytes("abcd", 4, "tiny.txt");
  ASSERT_FALSE(shortData.hasValue());
  EXPECT_MENTIONS(shortData.status().message(),
                  "dataset 'tiny.txt' has 4 bytes; a window needs at least "
                  "context + 1 = 5");
  auto missing = ByteDataset::load("/nonexistent/file.txt", 4);
  EXPECT_MENTIONS(missing.status().message(),
                  "cannot open data file '/nonexistent/file.txt'");
  auto directory = ByteDataset::load("/", 4);
  EXPECT_MENTIONS(directory.status().message(), "'/' is a directory");
}

TEST(Train, LearningRateSchedule) {
  TrainOptions o;
  o.steps = 110;
  o.warmupSteps = 10;
  o.learningRate = 1.0;
  o.minLearningRate = 0.1;
  EXPECT_DOUBLE_EQ(scheduledLearningRate(o, 1), 0.1);
  EXPECT_DOUBLE_EQ(scheduledLearningRate(o, 5), 0.5);
  EXPECT_DOUBLE_EQ(scheduledLearningRate(o, 10), 1.0);
  EXPECT_NEAR(scheduledLearningRate(o, 60), 0.55, 1e-12); // half way
  EXPECT_NEAR(scheduledLearningRate(o, 110), 0.1, 1e-12);
  for (int64_t s = 11; s < 110; ++s)
    EXPECT_LE(scheduledLearningRate(o, s + 1), scheduledLearningRate(o, s));
  o.minLearningRate = 2.0;
  EXPECT_MENTIONS(validateTrainOptions(o).message(),
                  "minimum learning rate is 2");
  o.minLearningRate = 0;
  o.learningRate = -1;
  EXPECT_MENTIONS(validateTrainOptions(o).message(), "learning rate is -1");
  o.learningRate = 1;
  o.steps = 0;
  EXPECT_MENTIONS(validateTrainOptions(o).message(), "steps is 0; valid: 1 ..");
}

//===----------------------------------------------------------------------===//
// Training, evaluation, sampling
//===----------------------------------------------------------------------===//

TEST(Train, BigramLearnsText) {
  auto art = loadBuilt(bigramBuilder(), "train");
  ASSERT_TRUE(art);
  auto ex = makeCpu(art);
  std::string text = trainingText();
  // Train on the first 90%, evaluate on the rest.
  size_t split = text.size() * 9 / 10;
  auto trainData = ByteDataset::fromBytes(text.substr(0, split), 16);
  auto testData = ByteDataset::fromBytes(text.substr(split), 16);
  ASSERT_TRUE(trainData && testData);

  auto before = evaluate(*ex, *testData, {64});
  ASSERT_TRUE(before.hasValue()) << before.status().message();
  EXPECT_NEAR(before->bitsPerByte, 8.0, 0.5) << "random init ~ uniform";

  std::string log = makeTempDir("log") + "/train.jsonl";
  TrainOptions o;
  o.steps = 200;
  o.warmupSteps = 10;
  o.learningRate = 3e-2;
  o.minLearningRate = 3e-3;
  o.logPath = log;
  int64_t reports = 0;
  double firstLoss = 0;
  o.onStep = [&](const StepReport &r) {
    if (reports++ == 0)
      firstLoss = r.loss;
    EXPECT_GT(r.tokensPerSecond, 0);
    return true;
  };
  auto res = train(*ex, *trainData, o);
  ASSERT_TRUE(res.hasValue()) << res.status().message();
  EXPECT_EQ(reports, 200);
  EXPECT_EQ(res->lastStep, 200);
  EXPECT_GT(firstLoss, 7.0);
  EXPECT_LT(res->lastLoss, 5.0);

  auto after = evaluate(*ex, *testData);
  ASSERT_TRUE(after.hasValue());
  EXPECT_LT(after->bitsPerByte, 5.0);
  EXPECT_GT(after->windows, 0);

  // The log: one JSON object per step with at least step and loss.
  std::ifstream in(log);
  std::string line;
  int64_t lines = 0;
  while (std::getline(in, line)) {
    auto v = json::parse(line);
    ASSERT_TRUE(v.hasValue()) << line;
    ASSERT_TRUE(v->find("step") && v->find("loss") && v->find("lr"));
    EXPECT_EQ(v->find("step")->asInt(), ++lines);
  }
  EXPECT_EQ(lines, 200);
}

TEST(Train, Bf16ActivationsTrackF32) {
  // The same model with bf16 activations: eval losses from identical
  // parameters agree to bf16 precision, and it trains.
  auto f32 = loadBuilt(bigramBuilder("f32"), "f32");
  auto bf16 = loadBuilt(bigramBuilder("bf16"), "bf16");
  ASSERT_TRUE(f32 && bf16);
  auto e32 = makeCpu(f32, 4), e16 = makeCpu(bf16, 4);
  auto data = textData(16);
  EvalOptions eo;
  eo.maxWindows = 8;
  auto l32 = evaluate(*e32, data, eo), l16 = evaluate(*e16, data, eo);
  ASSERT_TRUE(l32 && l16);
  EXPECT_NEAR(l16->bitsPerByte, l32->bitsPerByte, 0.02);
  // bf16 buffers hold rounded values.
  auto x = e16->downloadFloats("x");
  ASSERT_TRUE(x);
  for (float v : *x)
    EXPECT_EQ(v, bf16ToFloat(floatToBf16(v)));
  TrainOptions o;
  o.steps = 100;
  o.warmupSteps = 10;
  o.learningRate = 3e-2;
  auto r = train(*e16, data, o);
  ASSERT_TRUE(r.hasValue()) << r.status().message();
  EXPECT_LT(r->lastLoss, 5.5);
}

TEST(Executor, Bf16RoundsToNearestEven) {
  EXPECT_EQ(floatToBf16(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between two bf16 values: ties go to even (1.0).
  EXPECT_EQ(floatToBf16(1.00390625f), 0x3f80);
  // 1 + 3 * 2^-8 is halfway too: rounds up to the even 1 + 2^-6.
  EXPECT_EQ(floatToBf16(1.01171875f), 0x3f82);
  EXPECT_EQ(bf16ToFloat(0xc000), -2.0f);
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(NAN))));
}

// IEEE binary16, rounded to nearest even like __float2half_rn: normals,
// the overflow threshold, subnormals and their ties, NaN; and every f16
// survives the trip through f32 and back.
TEST(Executor, F16RoundsToNearestEven) {
  EXPECT_EQ(stc::abi::floatToF16(1.0f), 0x3c00);
  EXPECT_EQ(stc::abi::floatToF16(-2.0f), 0xc000);
  EXPECT_EQ(stc::abi::floatToF16(0.1f), 0x2e66);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to even (1.0);
  // 1 + 3 * 2^-11 rounds up to the even 1 + 2^-9.
  EXPECT_EQ(stc::abi::floatToF16(1.00048828125f), 0x3c00);
  EXPECT_EQ(stc::abi::floatToF16(1.00146484375f), 0x3c02);
  EXPECT_EQ(stc::abi::floatToF16(65504.0f), 0x7bff); // the largest finite f16
  EXPECT_EQ(stc::abi::floatToF16(65519.0f), 0x7bff);
  EXPECT_EQ(stc::abi::floatToF16(65520.0f), 0x7c00); // the tie rounds to inf
  EXPECT_EQ(stc::abi::floatToF16(-1e9f), 0xfc00);
  EXPECT_EQ(stc::abi::floatToF16(std::ldexp(1.0f, -24)), 0x0001); // smallest
  EXPECT_EQ(stc::abi::floatToF16(std::ldexp(1.0f, -25)), 0x0000); // tie: even 0
  EXPECT_EQ(stc::abi::floatToF16(std::ldexp(3.0f, -25)), 0x0002); // tie: even 2
  EXPECT_EQ(stc::abi::floatToF16(std::ldexp(1.0f, -14)), 0x0400); // smallest normal
  EXPECT_EQ(stc::abi::floatToF16(std::ldexp(1023.5f, -24)), 0x0400); // rounds up into it
  EXPECT_TRUE(std::isnan(stc::abi::f16ToFloat(stc::abi::floatToF16(NAN))));
  EXPECT_EQ(stc::abi::f16ToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(stc::abi::f16ToFloat(0x7c00), INFINITY);
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    if ((bits & 0x7c00) == 0x7c00 && (bits & 0x3ff)) // NaN payloads
      continue;
    ASSERT_EQ(stc::abi::floatToF16(stc::abi::f16ToFloat(bits)), bits) << std::hex << h;
  }
  uint16_t inf = 0x7c00, one = 0x3c00;
  EXPECT_EQ(stc::abi::firstNonFinite(&one, 2, stc::abi::DType::F16), -1);
  EXPECT_EQ(stc::abi::firstNonFinite(&inf, 2, stc::abi::DType::F16), 0);
}

TEST(Train, SamplingIsDeterministicAndChecked) {
  auto art = loadBuilt(bigramBuilder(), "sample");
  ASSERT_TRUE(art);
  auto ex = makeCpu(art);
  TrainOptions o;
  o.steps = 60;
  o.warmupSteps = 5;
  o.learningRate = 3e-2;
  ASSERT_TRUE(train(*ex, textData(16), o).hasValue());
  SampleOptions s;
  s.prompt = "The ";
  s.count = 12;
  s.seed = 9;
  auto a = sample(*ex, s), b = sample(*ex, s);
  ASSERT_TRUE(a.hasValue()) << a.status().message();
  ASSERT_TRUE(b.hasValue());
  EXPECT_EQ(a->size(), 12u);
  EXPECT_EQ(*a, *b);
  s.seed = 10;
  auto c = sample(*ex, s);
  ASSERT_TRUE(c.hasValue());
  s.temperature = 0;
  auto g1 = sample(*ex, s);
  s.seed = 11;
  auto g2 = sample(*ex, s);
  ASSERT_TRUE(g1 && g2);
  EXPECT_EQ(*g1, *g2) << "greedy ignores the seed";

  s.prompt = "T";
  s.count = 12;
  s.temperature = 0;
  auto greedy = sample(*ex, s);
  ASSERT_TRUE(greedy.hasValue());

  // top-k 1 and a tiny top-p both leave only the most likely byte: greedy.
  s.count = 12;
  s.temperature = 1;
  s.topK = 1;
  EXPECT_EQ(*sample(*ex, s), *greedy);
  s.topK = 0;
  s.topP = 1e-9;
  EXPECT_EQ(*sample(*ex, s), *greedy);
  s.topP = 0.9;
  s.topK = 3;
  auto nucleus = sample(*ex, s);
  ASSERT_TRUE(nucleus.hasValue());
  EXPECT_EQ(*nucleus, *sample(*ex, s)) << "deterministic for a seed";
  s.topK = -1;
  EXPECT_MENTIONS(sample(*ex, s).status().message(), "top-k is -1");
  s.topK = 0;
  s.topP = 0;
  EXPECT_MENTIONS(sample(*ex, s).status().message(),
                  "top-p is 0.000000; it must be in (0, 1]");
  s.topP = 1;
  s.prompt = "";
  s.count = 1;
  EXPECT_MENTIONS(sample(*ex, s).status().message(), "the prompt is empty");
  s.prompt = "a";
  s.temperature = -1;
  EXPECT_MENTIONS(sample(*ex, s).status().message(), "temperature is -1");
}

TEST(Train, NonFiniteValuesAreErrorsNotResults) {
  auto art = loadBuilt(bigramBuilder(), "nonfinite");
  ASSERT_TRUE(art);
  auto ex = makeCpu(art);
  auto emb = ex->downloadFloats("emb");
  ASSERT_TRUE(emb.hasValue());
  for (float &x : *emb)
    x = NAN;
  ASSERT_TRUE(ex->uploadFloats("emb", *emb).isOk());

  EvalOptions e;
  e.maxWindows = 2;
  auto evaluated = evaluate(*ex, textData(16), e);
  ASSERT_FALSE(evaluated.hasValue());
  EXPECT_MENTIONS(evaluated.status().message(),
                  "evaluate: window 0, position 0: the loss is nan");

  SampleOptions s;
  s.prompt = "a";
  s.count = 4;
  auto sampled = sample(*ex, s);
  ASSERT_FALSE(sampled.hasValue());
  EXPECT_MENTIONS(sampled.status().message(), "is not finite");

  TrainOptions o;
  o.steps = 3;
  o.warmupSteps = 1;
  auto trained = train(*ex, textData(16), o);
  ASSERT_FALSE(trained.hasValue());
  // The optimizer sees the NaN gradients before the loss is read back.
  EXPECT_MENTIONS(trained.status().message(),
                  "train step 1: train_step op 9 (adamw): gradient norm "
                  "squared is nan (the loss diverged)");
}

TEST(Train, SamplingSlidesPastTheContext) {
  // The attention model (context 16) depends on more than the last byte.
  auto art = loadBuilt(attentionBuilder(), "slide");
  ASSERT_TRUE(art);
  auto ex = makeCpu(art, 3);
  SampleOptions s;
  s.seed = 4;
  s.temperature = 0;
  // Past the context (16): after 16 fed bytes the last 8 are fed again from
  // position 0, so the 17th generated byte is what a fresh run predicts
  // from those 8 bytes and the 16th generated one.
  s.prompt = "T";
  s.count = 40;
  auto longer = sample(*ex, s);
  ASSERT_TRUE(longer.hasValue()) << longer.status().message();
  ASSERT_EQ(longer->size(), 40u);
  std::string seq = s.prompt + *longer;
  SampleOptions fresh = s;
  fresh.count = 1;
  // (generated byte, the window it was drawn from): the first slide, a byte
  // between slides, the second slide (fed 24 = base 8 + 16).
  for (auto [g, from, length] : {std::tuple<int, int, int>{16, 8, 9},
                                 {20, 8, 13},
                                 {24, 16, 9}}) {
    fresh.prompt = seq.substr(from, length);
    auto next = sample(*ex, fresh);
    ASSERT_TRUE(next.hasValue());
    EXPECT_EQ((*next)[0], (*longer)[g]) << "generated byte " << g;
  }
  // A prompt longer than the context starts from its last 16 bytes.
  fresh.count = 12;
  fresh.prompt = std::string(30, 'x') + seq.substr(8, 9);
  auto tail = sample(*ex, fresh);
  ASSERT_TRUE(tail.hasValue());
  fresh.prompt = fresh.prompt.substr(fresh.prompt.size() - 16);
  EXPECT_EQ(*tail, *sample(*ex, fresh));
}

TEST(Train, AttentionModelTrainsAndDecodesConsistently) {
  auto art = loadBuilt(attentionBuilder(), "attn");
  ASSERT_TRUE(art);
  auto ex = makeCpu(art, 3);
  auto data = textData(16);
  TrainOptions o;
  o.steps = 120;
  o.warmupSteps = 10;
  o.learningRate = 2e-2;
  o.minLearningRate = 2e-3;
  double first = 0;
  o.onStep = [&](const StepReport &r) {
    if (r.step == 1)
      first = r.loss;
    return true;
  };
  auto res = train(*ex, data, o);
  ASSERT_TRUE(res.hasValue()) << res.status().message();
  EXPECT_GT(first, 7.0);
  EXPECT_LT(res->lastLoss, 5.5);

  // sample_step (kv_store + attention_decode, embed with decode) at every
  // position must give the logits eval_step computes for batch row 0.
  std::vector<int32_t> toks(64), tgts(64, 0);
  for (int i = 0; i < 64; ++i)
    toks[i] = static_cast<unsigned char>(trainingText()[100 + i]);
  ASSERT_TRUE(ex->uploadInts("tokens", toks).isOk());
  ASSERT_TRUE(ex->uploadInts("targets", tgts).isOk());
  ASSERT_TRUE(ex->run(EntryKind::Eval).isOk());
  auto logits = ex->downloadFloats("logits");
  ASSERT_TRUE(logits);
  for (int pos = 0; pos < 16; ++pos) {
    ASSERT_TRUE(ex->uploadInts("token", {toks[pos]}).isOk());
    Scalars sc;
    sc.step = 1;
    sc.position = pos;
    ASSERT_TRUE(ex->writeScalars(sc).isOk());
    ASSERT_TRUE(ex->run(EntryKind::Sample).isOk());
    auto sl = ex->downloadFloats("slogits");
    ASSERT_TRUE(sl);
    for (int v = 0; v < 256; ++v)
      ASSERT_NEAR((*sl)[v], (*logits)[pos * 256 + v], 2e-4)
          << "pos " << pos << " vocab " << v;
  }
  Scalars sc;
  sc.position = 16;
  ASSERT_TRUE(ex->writeScalars(sc).isOk());
  EXPECT_MENTIONS(ex->run(EntryKind::Sample).message(),
                  "sample_step op 4 (kv_store): position (scalars[3]) is 16; "
                  "valid: 0 .. 15");
}

//===----------------------------------------------------------------------===//
// Checkpoints
//===----------------------------------------------------------------------===//

TEST(Checkpoint, RoundTripResumesExactly) {
  auto art = loadBuilt(bigramBuilder(), "ckpt");
  ASSERT_TRUE(art);
  auto data = textData(16);
  TrainOptions o;
  o.steps = 30;
  o.warmupSteps = 5;
  o.learningRate = 1e-2;
  std::vector<double> straight, resumed;

  auto ex = makeCpu(art);
  o.steps = 20;
  ASSERT_TRUE(train(*ex, data, o).hasValue());
  std::string path = makeTempDir("ckpt") + "/model.ckpt";
  ASSERT_TRUE(saveCheckpoint(*ex, path, 20).isOk());
  o.steps = 30;
  o.startStep = 20;
  o.onStep = [&](const StepReport &r) {
    straight.push_back(r.loss);
    return true;
  };
  ASSERT_TRUE(train(*ex, data, o).hasValue());

  auto ex2 = makeCpu(art, /*seed=*/999); // different init, then overwritten
  auto step = loadCheckpoint(*ex2, path);
  ASSERT_TRUE(step.hasValue()) << step.status().message();
  EXPECT_EQ(*step, 20);
  o.onStep = [&](const StepReport &r) {
    resumed.push_back(r.loss);
    return true;
  };
  ASSERT_TRUE(train(*ex2, data, o).hasValue());
  ASSERT_EQ(straight.size(), 10u);
  EXPECT_EQ(straight, resumed) << "resuming reproduces the run bit for bit";
}

TEST(Checkpoint, RejectsDamagedAndMismatchedFiles) {
  auto art = loadBuilt(bigramBuilder(), "ckpt2");
  ASSERT_TRUE(art);
  auto ex = makeCpu(art);
  std::string dir = makeTempDir("ckpt2");
  std::string path = dir + "/a.ckpt";
  ASSERT_TRUE(saveCheckpoint(*ex, path, 5).isOk());
  auto bytes = readFile(path);
  ASSERT_TRUE(bytes.hasValue());
  auto before = ex->downloadFloats("emb");

  std::string flipped = *bytes;
  flipped[flipped.size() / 2] ^= 0x10;
  writeFile(dir + "/flipped.ckpt", flipped);
  auto r = loadCheckpoint(*ex, dir + "/flipped.ckpt");
  ASSERT_FALSE(r.hasValue());
  EXPECT_MENTIONS(r.status().message(), "damaged");

  writeFile(dir + "/short.ckpt", bytes->substr(0, bytes->size() - 100));
  r = loadCheckpoint(*ex, dir + "/short.ckpt");
  EXPECT_MENTIONS(r.status().message(), "damaged");

  writeFile(dir + "/junk.ckpt", "hello");
  EXPECT_MENTIONS(loadCheckpoint(*ex, dir + "/junk.ckpt").status().message(),
                  "not an stc checkpoint");
  EXPECT_MENTIONS(loadCheckpoint(*ex, dir + "/none.ckpt").status().message(),
                  "cannot open");

  // A checkpoint of another model.
  auto other = loadBuilt(attentionBuilder(), "ckpt3");
  ASSERT_TRUE(other);
  auto ex3 = makeCpu(other);
  ASSERT_TRUE(saveCheckpoint(*ex3, dir + "/other.ckpt", 1).isOk());
  std::string otherMessage =
      loadCheckpoint(*ex, dir + "/other.ckpt").status().message();
  EXPECT_MENTIONS(otherMessage, "written for another model");
  EXPECT_MENTIONS(otherMessage, "name attn1 in the checkpoint, bigram in this artifact");
  EXPECT_MENTIONS(loadCheckpoint(*ex, dir).status().message(),
                  "is a directory");

  // Nothing was changed by the failed loads.
  EXPECT_EQ(*ex->downloadFloats("emb"), *before);
}

TEST(Checkpoint, CarriesTheRunRecord) {
  auto art = loadBuilt(bigramBuilder(), "ckpt-run");
  ASSERT_TRUE(art);
  auto ex = makeCpu(art);
  std::string dir = makeTempDir("ckpt-run");
  RunRecord run{400, 20, 3e-3, 1.0 / 3.0 * 1e-4, 0xfedcba9876543210ull};
  ASSERT_TRUE(saveCheckpoint(*ex, dir + "/a.ckpt", 7, run).isOk());
  std::optional<RunRecord> back;
  auto step = loadCheckpoint(*ex, dir + "/a.ckpt", &back);
  ASSERT_TRUE(step.hasValue()) << step.status().message();
  EXPECT_EQ(*step, 7);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(*back == run) << "numbers round-trip exactly";
  ASSERT_TRUE(saveCheckpoint(*ex, dir + "/b.ckpt", 7).isOk());
  ASSERT_TRUE(loadCheckpoint(*ex, dir + "/b.ckpt", &back).hasValue());
  EXPECT_FALSE(back.has_value());
}

TEST(Checkpoint, HoldsTrainingStateOnlyAndReadsVersion2) {
  auto art = loadBuilt(attentionBuilder(), "ckpt-state");
  ASSERT_TRUE(art);
  auto ex = makeCpu(art, 1);
  std::string dir = makeTempDir("ckpt-state");
  ASSERT_TRUE(saveCheckpoint(*ex, dir + "/a.ckpt", 3).isOk());
  std::string bytes = *readFile(dir + "/a.ckpt");
  EXPECT_EQ(bytes.find("scalars"), std::string::npos);
  EXPECT_EQ(bytes.find("cache"), std::string::npos);
  EXPECT_NE(bytes.find("emb"), std::string::npos);

  // A version-2 file of the same model (written before this change, with
  // the scalars block and the caches): those records are skipped.
  auto v2 = makeCpu(art, 99);
  std::optional<RunRecord> run;
  auto step = loadCheckpoint(
      *v2, std::string(STC_SOURCE_DIR) +
               "/test/fuzz/corpus/fuzz-checkpoint/attention.ckpt", &run);
  ASSERT_TRUE(step.hasValue()) << step.status().message();
  EXPECT_EQ(*step, 7);
  EXPECT_FALSE(run.has_value());
  EXPECT_EQ(*v2->downloadFloats("emb"), *ex->downloadFloats("emb"))
      << "the version-2 file holds the parameters of seed 1";

  // Its caches hold one sequence; an artifact whose sample step draws two
  // has caches twice that size: still skipped, the parameters load.
  auto art2 = loadBuilt(attentionBuilder(2), "ckpt-state-2");
  ASSERT_TRUE(art2);
  auto two = makeCpu(art2, 99);
  step = loadCheckpoint(*two, std::string(STC_SOURCE_DIR) +
                                  "/test/fuzz/corpus/fuzz-checkpoint/attention.ckpt");
  ASSERT_TRUE(step.hasValue()) << step.status().message();
  EXPECT_EQ(*two->downloadFloats("emb"), *ex->downloadFloats("emb"));
}

TEST(Checkpoint, RefusesNanAndInfinity) {
  auto art = loadBuilt(bigramBuilder(), "ckpt-nan");
  ASSERT_TRUE(art);
  auto ex = makeCpu(art);
  std::string dir = makeTempDir("ckpt-nan");
  ASSERT_TRUE(saveCheckpoint(*ex, dir + "/good.ckpt", 1).isOk());

  // Loading: a NaN in 'emb' with a valid checksum is still refused.
  std::string bytes = *readFile(dir + "/good.ckpt");
  size_t name = bytes.find("emb");
  ASSERT_NE(name, std::string::npos);
  size_t first = name + 3 + 4 + 8; // name, dtype u32, size u64
  const uint32_t nan = 0x7fc00000u;
  std::memcpy(&bytes[first + 2 * 4], &nan, 4);
  uint64_t sum = stc::abi::fnv1a64(std::string_view(bytes).substr(0, bytes.size() - 8));
  std::memcpy(&bytes[bytes.size() - 8], &sum, 8);
  writeFile(dir + "/nan.ckpt", bytes);
  auto r = loadCheckpoint(*ex, dir + "/nan.ckpt");
  ASSERT_FALSE(r.hasValue());
  EXPECT_MENTIONS(r.status().message(),
                  "buffer 'emb' holds a NaN or infinity (element 2)");

  // Saving: parameters that diverged are not written.
  auto emb = ex->downloadFloats("emb");
  ASSERT_TRUE(emb.hasValue());
  (*emb)[5] = INFINITY;
  ASSERT_TRUE(ex->uploadFloats("emb", *emb).isOk());
  Status saved = saveCheckpoint(*ex, dir + "/inf.ckpt", 2);
  EXPECT_MENTIONS(saved.message(), "refused: buffer 'emb' holds a NaN or infinity (element 5)");
  EXPECT_FALSE(readFile(dir + "/inf.ckpt").hasValue());
}

//===----------------------------------------------------------------------===//
// C API
//===----------------------------------------------------------------------===//

TEST(CApi, RunsAStepAndReportsErrors) {
  std::string dir = bigramBuilder().writeTemp("capi");
  stc_artifact *a = nullptr;
  EXPECT_NE(stc_load_artifact("/nonexistent", 1, &a), 0);
  EXPECT_MENTIONS(std::string(stc_last_error()), "cannot open manifest");
  ASSERT_EQ(stc_load_artifact(dir.c_str(), 1, &a), 0) << stc_last_error();
  EXPECT_EQ(stc_artifact_info(a, "vocab"), 256);
  EXPECT_EQ(stc_artifact_info(a, "nope"), -1);
  EXPECT_MENTIONS(std::string(stc_last_error()), "unknown key 'nope'");
  EXPECT_EQ(stc_buffer_bytes(a, "tokens"), 256);

  stc_executor *e = nullptr;
  EXPECT_NE(stc_bind(a, "tpu", &e), 0);
  ASSERT_EQ(stc_bind(a, "cpu", &e), 0) << stc_last_error();
  stc_free_artifact(a); // the executor keeps what it needs
  ASSERT_EQ(stc_init_params(e, 1), 0);
  std::vector<int32_t> toks(64, 'a'), tgts(64, 'b');
  ASSERT_EQ(stc_upload(e, "tokens", toks.data(), 256), 0);
  ASSERT_EQ(stc_upload(e, "targets", tgts.data(), 256), 0);
  EXPECT_NE(stc_upload(e, "targets", tgts.data(), 12), 0);
  EXPECT_MENTIONS(std::string(stc_last_error()), "holds 256 bytes");
  ASSERT_EQ(stc_write_scalars(e, 0.01f, 1, 0, 0), 0);
  ASSERT_EQ(stc_run_step(e, STC_TRAIN_STEP), 0) << stc_last_error();
  std::vector<float> losses(64);
  ASSERT_EQ(stc_read_buffer(e, "losses", losses.data(), 256), 0);
  EXPECT_NEAR(losses[0], 8.0, 0.5);
  EXPECT_NE(stc_run_step(e, 7), 0);
  std::string ck = makeTempDir("capi") + "/c.ckpt";
  ASSERT_EQ(stc_save_checkpoint(e, ck.c_str(), 1), 0);
  int64_t step = 0;
  ASSERT_EQ(stc_load_checkpoint(e, ck.c_str(), &step), 0);
  EXPECT_EQ(step, 1);
  stc_free_executor(e);
}

} // namespace
