//===- GpuTest.cpp - The CUDA executor against the CPU reference ----------===//
//
// Needs a GPU; every test skips ("no CUDA device: ...") without one.
//
//  OpByOp      every op of every entry of each artifact directory listed in
//              STC_GPU_TEST_ARTIFACTS (':'-separated), run alone on the CPU
//              and the CUDA executor from identical inputs; outputs compared
//              (relative L2 error <= 1e-4 for f32, 2e-2 for bf16), no NaN
//              the CPU does not have, every element written (outputs start
//              as the 0xFF poison pattern). One summary line per op kind.
//  FirstStep   the tiny model (STC_GPU_TEST_TINY, else the first artifact
//              whose path contains "tiny"): same seed, same batch, one
//              train_step on both; first-step losses within 1e-3 relative.
//  Training    150 GPU steps of the tiny model on STC_GPU_TEST_DATA (else a
//              built-in paragraph) lower the loss by at least 1 bit per byte.
//  Bf16        the tiny model in bf16 (STC_GPU_TEST_TINY_BF16: f32 master
//              weights and moments) and in f32, 300 GPU steps each on the
//              same data from the same seed: the bf16 run's loss ends within
//              2% of the f32 run's (means of the last 20 steps).
//  Recompute   the tiny model compiled with each recomputation policy
//              (STC_GPU_TEST_RECOMPUTE, ':'-separated) and without: the first
//              step's gradients agree to 1e-5 relative (the same kernels on
//              the same values; folded sums may round differently).
//  Memory      every artifact of STC_GPU_TEST_ARTIFACTS after a step: the
//              device memory the executor measured is at most 5% above what
//              the compiler planned (abi::plannedDeviceBytes), and below it
//              by at most the kernel-code allowance and a page (cuBLASLt's
//              kernels load once per process).
//  Accumulate  the tiny model at half its batch (STC_GPU_TEST_TINY_HALF)
//              trained 20 steps with two micro-batches per step, against the
//              tiny model: the same windows, so losses and parameters agree
//              to 1e-4 relative.
//  Graphs      the tiny model trained 30 steps replayed as a CUDA graph and
//              30 steps launched op by op (STC_CUDA_GRAPHS=0) from the same
//              seed: one capture and 29 replays; losses and parameters agree
//              to 1e-5 relative (atomics may reorder sums between runs).
//
// Lines starting "[gpu-test]" are machine-read by scripts/gpu-check.
//
//===----------------------------------------------------------------------===//

#include "abi/Limits.h"
#include "runtime/Artifact.h"
#include "runtime/Data.h"
#include "runtime/Executor.h"
#include "runtime/Init.h"
#include "runtime/Train.h"
#include "runtime/cpu/CpuExecutor.h"
#include "runtime/cuda/CudaExecutor.h"
#include "runtime/support/Random.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace stc::rt {
namespace {

// ---- environment ------------------------------------------------------------

/// Empty if a device is usable, else why not.
std::string noDeviceReason() {
  static std::string reason = [] {
    auto info = cuda::probeCudaDevice();
    if (!info)
      return info.status().message();
    std::printf("[gpu-test] device %s\n", info->describe().c_str());
    return std::string();
  }();
  return reason;
}

#define SKIP_WITHOUT_GPU()                                                     \
  do {                                                                         \
    std::string why_ = noDeviceReason();                                       \
    if (!why_.empty())                                                         \
      GTEST_SKIP() << why_;                                                    \
  } while (false)

/// In a test body: skips without a GPU or without the tiny artifact, else
/// loads the tiny artifact into `var`.
#define LOAD_TINY_OR_SKIP(var)                                                 \
  SKIP_WITHOUT_GPU();                                                          \
  if (tinyDir().empty())                                                       \
    GTEST_SKIP() << "no tiny artifact (set STC_GPU_TEST_TINY or list one "     \
                    "whose path contains 'tiny' in STC_GPU_TEST_ARTIFACTS)";   \
  auto var = loadArtifact(tinyDir());                                          \
  ASSERT_TRUE(var)

std::vector<std::string> artifactDirs() {
  std::vector<std::string> dirs;
  const char *env = std::getenv("STC_GPU_TEST_ARTIFACTS");
  if (!env)
    return dirs;
  std::stringstream ss(env);
  std::string d;
  while (std::getline(ss, d, ':'))
    if (!d.empty())
      dirs.push_back(d);
  return dirs;
}

std::string tinyDir() {
  if (const char *t = std::getenv("STC_GPU_TEST_TINY"); t && *t)
    return t;
  for (const auto &d : artifactDirs())
    if (d.find("tiny") != std::string::npos)
      return d;
  return "";
}

std::string trainingText() {
  if (const char *p = std::getenv("STC_GPU_TEST_DATA"); p && *p) {
    std::ifstream in(p, std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(in)),
                  std::istreambuf_iterator<char>());
    if (s.size() > 4096)
      return s;
  }
  const std::string para =
      "The quick brown fox jumps over the lazy dog. A sparse transformer "
      "attends to a few positions of the past, chosen by a pattern, instead "
      "of all of them; a strided pattern looks at the last few positions and "
      "at every l-th one before, so that two steps of attention reach "
      "everything. ";
  std::string s;
  while (s.size() < 200000)
    s += para;
  return s;
}

std::shared_ptr<const Artifact> loadArtifact(const std::string &dir) {
  auto a = Artifact::load(dir);
  if (!a) {
    ADD_FAILURE() << "loading " << dir << ": " << a.status().message();
    return nullptr;
  }
  return std::make_shared<const Artifact>(std::move(*a));
}

std::unique_ptr<Executor> makeExecutor(const char *kind,
                                       std::shared_ptr<const Artifact> a) {
  auto e = createExecutor(kind);
  if (!e) {
    ADD_FAILURE() << "createExecutor(" << kind << "): " << e.status().message();
    return nullptr;
  }
  Status s = (*e)->allocate(std::move(a));
  if (!s) {
    ADD_FAILURE() << kind << " allocate: " << s.message();
    return nullptr;
  }
  return std::move(*e);
}

// ---- op-by-op comparison ------------------------------------------------------

struct KindStats {
  int ops = 0;
  int failed = 0;
  double maxErr = 0;
  std::string worst;
};

/// Bytes of n floats in a buffer's dtype.
std::vector<uint8_t> encode(const std::vector<float> &v, DType d) {
  std::vector<uint8_t> out(v.size() * static_cast<size_t>(dtypeSize(d)));
  if (d == DType::F32) {
    std::memcpy(out.data(), v.data(), out.size());
  } else {
    for (size_t i = 0; i < v.size(); ++i) {
      uint16_t b = abi::floatToHalf(v[i], d);
      std::memcpy(out.data() + 2 * i, &b, 2);
    }
  }
  return out;
}

std::vector<float> decode(const std::vector<uint8_t> &bytes, DType d) {
  std::vector<float> v(bytes.size() / static_cast<size_t>(dtypeSize(d)));
  if (d == DType::F32) {
    std::memcpy(v.data(), bytes.data(), v.size() * 4);
  } else {
    for (size_t i = 0; i < v.size(); ++i) {
      uint16_t b;
      std::memcpy(&b, bytes.data() + 2 * i, 2);
      v[i] = abi::halfToFloat(b, d);
    }
  }
  return v;
}

bool isPoison(const std::vector<uint8_t> &bytes, size_t i, DType d) {
  size_t w = static_cast<size_t>(dtypeSize(d));
  for (size_t j = 0; j < w; ++j)
    if (bytes[i * w + j] != 0xFF)
      return false;
  return true;
}

/// Random values for an input argument, by its role in the op.
std::vector<float> randomValues(const stc::abi::Arg &spec, int64_t n,
                                SplitMix64 &rng) {
  std::vector<float> v(static_cast<size_t>(n));
  auto uni = [&](double lo, double hi) {
    return static_cast<float>(lo + (hi - lo) * rng.uniform());
  };
  for (auto &x : v) {
    if (spec.name == "rstd")
      x = uni(0.5, 2.0);
    else if (spec.name == "gnorm_sq")
      x = uni(0.5, 4.0);
    else if (spec.name == "v") // AdamW's second moment
      x = uni(0.0, 0.01);
    else if (spec.name == "logits")
      x = uni(-3.0, 3.0);
    else
      x = uni(-1.0, 1.0);
  }
  return v;
}

struct CompareResult {
  double relErr = 0;
  std::string problem; ///< empty when fine
};

CompareResult compareBuffer(const std::vector<uint8_t> &cpuBytes,
                            const std::vector<uint8_t> &gpuBytes, DType d,
                            double tol) {
  CompareResult r;
  if (d == DType::I32) {
    if (cpuBytes != gpuBytes)
      r.problem = "i32 contents differ";
    r.relErr = cpuBytes == gpuBytes ? 0 : 1;
    return r;
  }
  std::vector<float> c = decode(cpuBytes, d), g = decode(gpuBytes, d);
  double num = 0, den = 0;
  size_t unwritten = 0, nanOnly = 0, firstBad = SIZE_MAX;
  for (size_t i = 0; i < c.size(); ++i) {
    bool cf = std::isfinite(c[i]), gf = std::isfinite(g[i]);
    if (!gf && isPoison(gpuBytes, i, d) && !isPoison(cpuBytes, i, d)) {
      ++unwritten;
      firstBad = std::min(firstBad, i);
      continue;
    }
    if (!cf || !gf) {
      bool same = (std::isnan(c[i]) && std::isnan(g[i])) || c[i] == g[i];
      if (!same) {
        ++nanOnly;
        firstBad = std::min(firstBad, i);
      }
      continue;
    }
    double diff = double(g[i]) - double(c[i]);
    num += diff * diff;
    den += double(c[i]) * double(c[i]);
  }
  r.relErr = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  char buf[256];
  if (unwritten) {
    std::snprintf(buf, sizeof buf,
                  "%zu of %zu elements not written (still poison; first at "
                  "%zu)",
                  unwritten, c.size(), firstBad);
    r.problem = buf;
  } else if (nanOnly) {
    std::snprintf(buf, sizeof buf,
                  "%zu elements non-finite on one side only (first at %zu: "
                  "cpu %g, gpu %g)",
                  nanOnly, firstBad, double(c[firstBad]), double(g[firstBad]));
    r.problem = buf;
  } else if (!(r.relErr <= tol)) {
    std::snprintf(buf, sizeof buf, "relative error %.3g > %.1g", r.relErr,
                  tol);
    r.problem = buf;
  }
  return r;
}

std::map<std::string, KindStats> gOpStats;

void printOpTable() {
  std::printf("[gpu-test] %-18s %5s %7s %12s  %s\n", "op kind", "ops",
              "failed", "max rel err", "worst op");
  for (const auto &[kind, st] : gOpStats)
    std::printf("[gpu-test] %-18s %5d %7d %12.3g  %s\n", kind.c_str(), st.ops,
                st.failed, st.maxErr, st.worst.c_str());
  std::fflush(stdout);
}

/// Runs op `i` of `kind` alone on both executors from identical inputs.
void compareOp(const Artifact &a, EntryKind kind, size_t i, Executor &cpu,
               Executor &gpu, const std::string &tag) {
  const Op &op = a.entry(kind).ops[i];
  const OpAttrs &at = op.attrs;
  const std::string label = tag + " " + entryKindName(kind) + " op " +
                            std::to_string(i) + " (" + opKindName(op.kind) + ")";
  SCOPED_TRACE(label);
  std::vector<stc::abi::Arg> specs = stc::abi::signature(op.kind, at);
  SplitMix64 rng(deriveSeed(0x5eed, i * 131 + static_cast<uint64_t>(kind)));

  // Per buffer: does the op read it (In / InOut) and/or write it?
  std::map<int, bool> reads, writes;
  std::map<int, size_t> firstSpec;
  for (size_t j = 0; j < specs.size(); ++j) {
    int b = op.args[j];
    reads[b] = reads[b] || specs[j].role != Role::Out;
    writes[b] = writes[b] || specs[j].role != Role::In;
    if (!firstSpec.count(b) || (specs[j].role != Role::Out &&
                                specs[firstSpec[b]].role == Role::Out))
      firstSpec[b] = j;
  }

  // Inputs: random (valid ids for i32); outputs only written: poison.
  std::map<int, std::vector<float>> values; // float inputs, as rounded
  std::map<int, std::vector<uint8_t>> bytes;
  for (const auto &[b, r] : reads) {
    const Buffer &buf = a.buffers[b];
    const stc::abi::Arg &spec = specs[firstSpec[b]];
    if (!r) {
      bytes[b].assign(static_cast<size_t>(buf.bytes), 0xFF);
      continue;
    }
    if (buf.dtype == DType::I32) {
      std::vector<int32_t> ids(static_cast<size_t>(buf.elements()));
      for (auto &x : ids)
        x = static_cast<int32_t>(rng.below(static_cast<uint64_t>(at.V)));
      bytes[b].resize(ids.size() * 4);
      std::memcpy(bytes[b].data(), ids.data(), bytes[b].size());
      continue;
    }
    std::vector<float> v = randomValues(spec, buf.elements(), rng);
    bytes[b] = encode(v, buf.dtype);
    values[b] = decode(bytes[b], buf.dtype); // what the kernels will see
  }

  // Consistent statistics where the backward formulas assume them.
  if (op.kind == OpKind::AdamW) {
    // Second moments are never negative: a random negative v makes
    // 0.95 v + 0.05 g^2 cancel to near 0, where 1 / sqrt(v) turns float
    // rounding into any error at all (seen: 1.8e-4 on one master weight).
    const size_t n = at.counts.size();
    for (size_t t = 0; t < n; ++t) {
      const int b = op.args[3 * n + t];
      const DType dt = a.buffers[b].dtype;
      std::vector<float> v = values[b];
      for (float &x : v)
        x = std::fabs(x);
      bytes[b] = encode(v, dt);
      values[b] = decode(bytes[b], dt);
    }
  }
  if (op.kind == OpKind::LayerNormBwd) {
    const std::vector<float> &x = values[op.args[1]];
    std::vector<float> mean(static_cast<size_t>(at.M)), rstd(mean.size());
    for (int64_t m = 0; m < at.M; ++m) {
      double s = 0, s2 = 0;
      for (int64_t c = 0; c < at.C; ++c)
        s += x[m * at.C + c];
      double mu = s / double(at.C);
      for (int64_t c = 0; c < at.C; ++c)
        s2 += (x[m * at.C + c] - mu) * (x[m * at.C + c] - mu);
      mean[m] = static_cast<float>(mu);
      rstd[m] = static_cast<float>(1.0 / std::sqrt(s2 / double(at.C) + 1e-5));
    }
    bytes[op.args[2]] = encode(mean, DType::F32);
    bytes[op.args[3]] = encode(rstd, DType::F32);
  }
  if (op.kind == OpKind::AttentionBwd ||
      op.kind == OpKind::AttentionBwdAtomic) {
    // o and lse from the forward pass of these q, k, v (attention_bwd_atomic:
    // lse and delta = rowsum(dout * o); it reads no o).
    const bool atomic = op.kind == OpKind::AttentionBwdAtomic;
    std::vector<cpu::AttentionMask> masks;
    std::vector<const cpu::AttentionMask *> mp;
    for (int l : op.layouts)
      masks.emplace_back(a.layouts[l].pattern, a.layouts[l].blocks.n);
    for (auto &m : masks)
      mp.push_back(&m);
    cpu::AttentionShape s = cpu::attentionShape(at);
    const Buffer &ob = a.buffers[op.args[atomic ? 2 : 3]]; // v: o's shape
    std::vector<float> o(static_cast<size_t>(ob.elements()));
    std::vector<float> lse(static_cast<size_t>(at.B * at.H * at.T));
    cpu::attentionFwd(values[op.args[0]].data(), values[op.args[1]].data(),
                      values[op.args[2]].data(), o.data(), lse.data(), s, mp);
    o = decode(encode(o, ob.dtype), ob.dtype); // as the forward stores it
    if (atomic) {
      std::vector<float> delta(lse.size()),
          unused(static_cast<size_t>(at.B * at.T * at.H * at.dk));
      cpu::attentionBwdPrep(o.data(), values[op.args[4]].data(), delta.data(),
                            unused.data(), s);
      bytes[op.args[3]] = encode(lse, DType::F32);
      bytes[op.args[5]] = encode(delta, DType::F32);
    } else {
      bytes[op.args[3]] = encode(o, ob.dtype);
      bytes[op.args[4]] = encode(lse, DType::F32);
    }
  }

  Scalars sc;
  sc.learningRate = 1e-3f;
  sc.step = 3;
  sc.dropoutSeed = static_cast<uint32_t>(rng.next());
  sc.position = at.T > 0 ? static_cast<int32_t>(std::min<int64_t>(
                               at.T - 1, at.T / 2 + 1))
                         : 0;
  for (Executor *e : {&cpu, &gpu}) {
    ASSERT_TRUE(e->writeScalars(sc).isOk());
    for (const auto &[b, data] : bytes) {
      Status s = e->upload(a.buffers[b].name, data.data(), data.size());
      ASSERT_TRUE(s.isOk()) << e->name() << ": " << s.message();
    }
  }
  Status sc1 = cpu.runOps(kind, i, i + 1);
  ASSERT_TRUE(sc1.isOk()) << "cpu: " << sc1.message();
  Status sg = gpu.runOps(kind, i, i + 1);
  ASSERT_TRUE(sg.isOk()) << "cuda: " << sg.message();

  // gemm's epilogues get rows of their own.
  std::string kindName = opKindName(op.kind);
  if (op.kind == OpKind::Gemm)
    kindName += at.gelu ? (at.geluPre ? "+gelu+pre" : "+gelu")
                : at.dgelu    ? "+dgelu"
                : at.biasGrad ? "+bias_grad"
                              : "";
  KindStats &st = gOpStats[kindName];
  ++st.ops;
  bool failed = false;
  for (const auto &[b, w] : writes) {
    if (!w)
      continue;
    const Buffer &buf = a.buffers[b];
    std::vector<uint8_t> cb(static_cast<size_t>(buf.bytes)), gb(cb.size());
    ASSERT_TRUE(cpu.download(buf.name, cb.data(), cb.size()).isOk());
    ASSERT_TRUE(gpu.download(buf.name, gb.data(), gb.size()).isOk());
    // attention_bwd_atomic's dq_acc is f32, but sums 16-bit products.
    double tol = abi::isHalf(buf.dtype) ||
                         op.kind == OpKind::AttentionBwdAtomic
                     ? 2e-2
                     : 1e-4;
    CompareResult r = compareBuffer(cb, gb, buf.dtype, tol);
    if (r.relErr > st.maxErr || !r.problem.empty()) {
      st.maxErr = std::max(st.maxErr, r.relErr);
      st.worst = label + " '" + buf.name + "'";
    }
    if (!r.problem.empty()) {
      failed = true;
      ADD_FAILURE() << label << ": output '" << buf.name << "' ("
                    << dtypeName(buf.dtype) << ", " << buf.elements()
                    << " elements): " << r.problem;
    }
  }
  if (failed)
    ++st.failed;
}

TEST(GpuExecutor, OpByOp) {
  SKIP_WITHOUT_GPU();
  std::vector<std::string> dirs = artifactDirs();
  if (dirs.empty())
    GTEST_SKIP() << "STC_GPU_TEST_ARTIFACTS is not set (':'-separated "
                    "artifact directories, e.g. from scripts/gpu-prepare)";
  for (const std::string &dir : dirs) {
    auto a = loadArtifact(dir);
    if (!a)
      continue;
    auto cpu = makeExecutor("cpu", a);
    auto gpu = makeExecutor("cuda", a);
    if (!cpu || !gpu)
      continue;
    std::string tag = a->model.name;
    if (auto *g = dynamic_cast<cuda::CudaExecutor *>(gpu.get()))
      std::printf("[gpu-test] artifact %s (%s): %d kernels, %d from cache, "
                  "compiled in %.1f s; %s\n",
                  dir.c_str(), tag.c_str(), g->compileStats().total,
                  g->compileStats().fromCache, g->compileStats().seconds,
                  g->gemmSummary().c_str());
    for (int e = 0; e < kNumEntryKinds; ++e) {
      const Entry &entry = a->entries[e];
      for (size_t i = 0; i < entry.ops.size(); ++i)
        compareOp(*a, EntryKind(e), i, *cpu, *gpu, tag);
    }
  }
  printOpTable();
}

// ---- the tiny model end to end ---------------------------------------------------

struct RunLog {
  std::vector<double> losses;
};

Expected<RunLog> trainSteps(Executor &exec, const ByteDataset &data,
                            int64_t steps, double lr, int64_t warmup,
                            int64_t accumulate = 1) {
  STC_RETURN_IF_ERROR(initParams(exec, 1234));
  TrainOptions o;
  o.accumulate = accumulate;
  o.steps = steps;
  o.learningRate = lr;
  o.minLearningRate = lr / 10;
  o.warmupSteps = warmup;
  o.seed = 99;
  RunLog log;
  o.onStep = [&](const StepReport &r) {
    log.losses.push_back(r.loss);
    return true;
  };
  auto r = train(exec, data, o);
  if (!r)
    return r.status();
  return log;
}

TEST(GpuExecutor, FirstStepMatchesCpu) {
  LOAD_TINY_OR_SKIP(a);
  auto data = ByteDataset::fromBytes(trainingText(), a->model.context);
  ASSERT_TRUE(data.hasValue()) << data.status().message();
  auto cpu = makeExecutor("cpu", a);
  auto gpu = makeExecutor("cuda", a);
  ASSERT_TRUE(cpu && gpu);
  auto lc = trainSteps(*cpu, *data, 1, 1e-3, 0);
  ASSERT_TRUE(lc.hasValue()) << lc.status().message();
  auto lg = trainSteps(*gpu, *data, 1, 1e-3, 0);
  ASSERT_TRUE(lg.hasValue()) << lg.status().message();
  double c = lc->losses.at(0), g = lg->losses.at(0);
  double rel = std::abs(g - c) / std::abs(c);
  // Parameters after the update: how far the two optimizers' results are.
  double num = 0, den = 0;
  for (const Param &p : a->params) {
    auto pc = cpu->downloadFloats(a->buffers[p.buffer].name);
    auto pg = gpu->downloadFloats(a->buffers[p.buffer].name);
    ASSERT_TRUE(pc.hasValue() && pg.hasValue());
    for (size_t j = 0; j < pc->size(); ++j) {
      double d = double((*pg)[j]) - double((*pc)[j]);
      num += d * d;
      den += double((*pc)[j]) * double((*pc)[j]);
    }
  }
  std::printf("[gpu-test] first-step loss cpu %.6f gpu %.6f rel %.3g; "
              "params after the step rel %.3g\n",
              c, g, rel, den > 0 ? std::sqrt(num / den) : 0.0);
  EXPECT_LE(rel, 1e-3);
}

TEST(GpuExecutor, TrainingLowersTheLoss) {
  LOAD_TINY_OR_SKIP(a);
  auto data = ByteDataset::fromBytes(trainingText(), a->model.context);
  ASSERT_TRUE(data.hasValue()) << data.status().message();
  auto gpu = makeExecutor("cuda", a);
  ASSERT_TRUE(gpu);
  const int64_t steps = 150;
  auto log = trainSteps(*gpu, *data, steps, 3e-3, 15);
  ASSERT_TRUE(log.hasValue()) << log.status().message();
  ASSERT_EQ(static_cast<int64_t>(log->losses.size()), steps);
  auto mean = [&](size_t from, size_t to) {
    double s = 0;
    for (size_t i = from; i < to; ++i)
      s += log->losses[i];
    return s / double(to - from);
  };
  double start = mean(0, 5), end = mean(log->losses.size() - 10,
                                        log->losses.size());
  std::printf("[gpu-test] training losses:");
  for (size_t i = 0; i < log->losses.size(); i += 10)
    std::printf(" %zu:%.3f", i + 1, log->losses[i]);
  std::printf(" %zu:%.3f\n", log->losses.size(), log->losses.back());
  std::printf("[gpu-test] train loss start %.4f end %.4f (mean of the first 5 "
              "and last 10 steps)\n",
              start, end);
  EXPECT_GE(start - end, 1.0) << "the loss fell from " << start << " to "
                              << end << " bits per byte";
}

/// The numerics target of a 16-bit model on the GPU: tiny in `dtype`
/// (directory in environment variable `env`) trained 300 steps beside tiny
/// in f32 ends within 2% of its loss.
void halfTrainsLikeF32(const char *env, const char *dtype) {
  const char *halfDir = std::getenv(env);
  std::string dir = tinyDir();
  if (dir.empty() || !halfDir || !*halfDir)
    GTEST_SKIP() << "needs the tiny model in f32 (STC_GPU_TEST_TINY) and in "
                 << dtype << " (" << env << ")";
  double tail[2] = {0, 0};
  int64_t skipped = 0;
  int k = 0;
  for (const std::string &d : {dir, std::string(halfDir)}) {
    auto a = loadArtifact(d);
    ASSERT_TRUE(a);
    auto data = ByteDataset::fromBytes(trainingText(), a->model.context);
    ASSERT_TRUE(data.hasValue()) << data.status().message();
    auto gpu = makeExecutor("cuda", a);
    ASSERT_TRUE(gpu);
    auto log = trainSteps(*gpu, *data, 300, 3e-3, 15);
    ASSERT_TRUE(log.hasValue()) << log.status().message();
    for (size_t i = log->losses.size() - 20; i < log->losses.size(); ++i)
      tail[k] += log->losses[i] / 20;
    if (a->lossScale >= 0) {
      auto state = gpu->downloadFloats(a->buffers[a->lossScale].name);
      ASSERT_TRUE(state.hasValue());
      skipped = static_cast<int64_t>((*state)[2]);
    }
    ++k;
  }
  std::printf("[gpu-test] %s vs f32 after 300 steps: f32 %.4f, %s %.4f "
              "bits/byte (%+.2f%%), %lld steps skipped by loss scaling\n",
              dtype, tail[0], dtype, tail[1],
              100 * (tail[1] - tail[0]) / tail[0],
              static_cast<long long>(skipped));
  EXPECT_NEAR(tail[1], tail[0], 0.02 * tail[0]);
  EXPECT_LT(skipped, 10);
}

TEST(GpuExecutor, Bf16TrainsLikeF32) {
  SKIP_WITHOUT_GPU();
  halfTrainsLikeF32("STC_GPU_TEST_TINY_BF16", "bf16");
}

// f16 with dynamic loss scaling (f32 parameter gradients, master weights).
TEST(GpuExecutor, F16TrainsLikeF32) {
  SKIP_WITHOUT_GPU();
  halfTrainsLikeF32("STC_GPU_TEST_TINY_F16", "f16");
}

/// Relative L2 distance of `got` from `want`, over every tensor (-1 when
/// their shapes differ).
double relativeL2(const std::vector<std::vector<float>> &got,
                  const std::vector<std::vector<float>> &want) {
  if (got.size() != want.size())
    return -1;
  double num = 0, den = 0;
  for (size_t t = 0; t < want.size(); ++t) {
    if (got[t].size() != want[t].size())
      return -1;
    for (size_t j = 0; j < want[t].size(); ++j) {
      double d = double(got[t][j]) - double(want[t][j]);
      num += d * d;
      den += double(want[t][j]) * double(want[t][j]);
    }
  }
  return den > 0 ? std::sqrt(num / den) : 0.0;
}

/// A GPU training run's losses and final parameters (the executor is kept
/// for its counters).
struct GpuRun {
  std::unique_ptr<Executor> exec;
  std::vector<double> losses;
  std::vector<std::vector<float>> params;
};

/// Trains `steps` steps on a new CUDA executor (trainSteps' settings: lr
/// 3e-3, warmup 5) and downloads every parameter.
void trainOnGpu(const std::shared_ptr<const Artifact> &a, const ByteDataset &data,
                int64_t steps, int64_t accumulate, GpuRun &run) {
  run.exec = makeExecutor("cuda", a);
  ASSERT_TRUE(run.exec);
  auto log = trainSteps(*run.exec, data, steps, 3e-3, 5, accumulate);
  ASSERT_TRUE(log.hasValue()) << log.status().message();
  run.losses = log->losses;
  for (const Param &p : a->params) {
    auto v = run.exec->downloadFloats(a->buffers[p.buffer].name);
    ASSERT_TRUE(v.hasValue());
    run.params.push_back(*v);
  }
}

/// The largest relative difference between two runs' losses, step by step.
double worstLossRel(const std::vector<double> &got, const std::vector<double> &want) {
  double worst = 0;
  for (size_t i = 0; i < want.size() && i < got.size(); ++i)
    worst = std::max(worst, std::abs(got[i] - want[i]) / std::abs(want[i]));
  return worst;
}

/// Every parameter's gradient after one training step from seed 1234.
std::vector<std::vector<float>> firstStepGradients(const std::string &dir,
                                                   const ByteDataset *&data,
                                                   std::unique_ptr<ByteDataset> &own) {
  auto a = loadArtifact(dir);
  if (!a)
    return {};
  if (!data) {
    auto d = ByteDataset::fromBytes(trainingText(), a->model.context);
    if (!d.hasValue())
      return {};
    own = std::make_unique<ByteDataset>(std::move(*d));
    data = own.get();
  }
  auto gpu = makeExecutor("cuda", a);
  if (!gpu || !trainSteps(*gpu, *data, 1, 1e-3, 0).hasValue())
    return {};
  std::vector<std::vector<float>> grads;
  for (const Param &p : a->params) {
    auto g = gpu->downloadFloats(a->buffers[p.grad].name);
    if (!g.hasValue())
      return {};
    grads.push_back(*g);
  }
  return grads;
}

TEST(GpuExecutor, RecomputedGradientsMatchKept) {
  SKIP_WITHOUT_GPU();
  const char *env = std::getenv("STC_GPU_TEST_RECOMPUTE");
  std::string dir = tinyDir();
  if (dir.empty() || !env || !*env)
    GTEST_SKIP() << "needs the tiny model (STC_GPU_TEST_TINY) and its "
                    "recomputing builds (STC_GPU_TEST_RECOMPUTE)";
  const ByteDataset *data = nullptr;
  std::unique_ptr<ByteDataset> own;
  auto kept = firstStepGradients(dir, data, own);
  ASSERT_FALSE(kept.empty()) << dir;
  std::stringstream list(env);
  std::string other;
  int compared = 0;
  while (std::getline(list, other, ':')) {
    if (other.empty())
      continue;
    auto grads = firstStepGradients(other, data, own);
    double rel = relativeL2(grads, kept);
    std::printf("[gpu-test] recomputed gradients: %s vs kept, rel %.3g\n",
                other.c_str(), rel);
    EXPECT_GE(rel, 0.0) << other << ": the gradients' shapes differ";
    EXPECT_LE(rel, 1e-5) << other;
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

TEST(GpuExecutor, DeviceMemoryMatchesThePlan) {
  SKIP_WITHOUT_GPU();
  std::vector<std::string> dirs = artifactDirs();
  if (dirs.empty())
    GTEST_SKIP() << "no artifacts (STC_GPU_TEST_ARTIFACTS)";
  for (const std::string &dir : dirs) {
    auto a = loadArtifact(dir);
    ASSERT_TRUE(a) << dir;
    auto data = ByteDataset::fromBytes(trainingText(), a->model.context);
    ASSERT_TRUE(data.hasValue()) << data.status().message();
    int64_t used = -1;
    {
      auto gpu = makeExecutor("cuda", a);
      ASSERT_TRUE(gpu) << dir;
      ASSERT_TRUE(trainSteps(*gpu, *data, 1, 1e-3, 0).hasValue()) << dir;
      used = gpu->deviceBytesInUse();
    }
    const int64_t planned = plannedDeviceBytes(*a);
    std::printf("[gpu-test] device memory %s: planned %lld, measured %lld "
                "(%+.1f%%)\n",
                dir.c_str(), static_cast<long long>(planned),
                static_cast<long long>(used),
                100.0 * double(used - planned) / double(planned));
    // The plan's code allowance is mostly cuBLASLt's kernels, loaded once
    // per process: an executor after the first may take less.
    EXPECT_GE(used, planned - abi::kKernelCodeAllowance -
                        abi::kDeviceAllocationGranularity)
        << dir;
    EXPECT_LE(used, planned + planned / 20) << dir;
  }
}

TEST(GpuExecutor, GraphReplayTrainsLikeOpByOp) {
  LOAD_TINY_OR_SKIP(a);
  auto data = ByteDataset::fromBytes(trainingText(), a->model.context);
  ASSERT_TRUE(data.hasValue()) << data.status().message();
  const int64_t steps = 30;
  GpuRun runs[2];
  int64_t replays[2] = {0, 0}, captures[2] = {0, 0};
  for (int graphs = 0; graphs < 2; ++graphs) {
    // The executor reads STC_CUDA_GRAPHS when it is created.
    if (graphs)
      unsetenv("STC_CUDA_GRAPHS");
    else
      setenv("STC_CUDA_GRAPHS", "0", 1);
    trainOnGpu(a, *data, steps, 1, runs[graphs]);
    unsetenv("STC_CUDA_GRAPHS");
    ASSERT_FALSE(HasFatalFailure());
    auto *cuda = dynamic_cast<cuda::CudaExecutor *>(runs[graphs].exec.get());
    ASSERT_TRUE(cuda);
    replays[graphs] = cuda->graphReplays();
    captures[graphs] = cuda->graphCaptures();
  }
  EXPECT_EQ(captures[0], 0);
  EXPECT_EQ(replays[0], 0);
  EXPECT_EQ(captures[1], 1);
  EXPECT_EQ(replays[1], steps);
  ASSERT_EQ(runs[0].losses.size(), runs[1].losses.size());
  double worstLoss = worstLossRel(runs[1].losses, runs[0].losses);
  double paramRel = relativeL2(runs[1].params, runs[0].params);
  std::printf("[gpu-test] graph replay vs op by op, %lld steps: %lld "
              "replays, worst loss rel %.3g, params rel %.3g\n",
              static_cast<long long>(steps),
              static_cast<long long>(replays[1]), worstLoss, paramRel);
  EXPECT_LE(worstLoss, 1e-5);
  EXPECT_GE(paramRel, 0.0) << "the parameters' shapes differ";
  EXPECT_LE(paramRel, 1e-5);
}

TEST(GpuExecutor, AccumulationTrainsLikeALargerBatch) {
  SKIP_WITHOUT_GPU();
  const char *halfDir = std::getenv("STC_GPU_TEST_TINY_HALF");
  std::string dir = tinyDir();
  if (dir.empty() || !halfDir || !*halfDir)
    GTEST_SKIP() << "needs the tiny model (STC_GPU_TEST_TINY) and the same "
                    "at half its batch (STC_GPU_TEST_TINY_HALF)";
  auto full = loadArtifact(dir), half = loadArtifact(halfDir);
  ASSERT_TRUE(full && half);
  ASSERT_EQ(half->model.batch * 2, full->model.batch);
  auto data = ByteDataset::fromBytes(trainingText(), full->model.context);
  ASSERT_TRUE(data.hasValue()) << data.status().message();
  const int64_t steps = 20;
  GpuRun runs[2];
  trainOnGpu(full, *data, steps, 1, runs[0]);
  ASSERT_FALSE(HasFatalFailure());
  trainOnGpu(half, *data, steps, 2, runs[1]);
  ASSERT_FALSE(HasFatalFailure());
  const std::vector<double> &l0 = runs[0].losses, &l1 = runs[1].losses;
  ASSERT_EQ(l0.size(), l1.size());
  double worstLoss = worstLossRel(l1, l0);
  double paramRel = relativeL2(runs[1].params, runs[0].params);
  std::printf("[gpu-test] accumulate 2 x batch %lld vs batch %lld, %lld "
              "steps: worst loss rel %.3g, params rel %.3g\n",
              static_cast<long long>(half->model.batch),
              static_cast<long long>(full->model.batch),
              static_cast<long long>(steps), worstLoss, paramRel);
  EXPECT_LE(worstLoss, 1e-4);
  EXPECT_GE(paramRel, 0.0) << "the parameters' shapes differ";
  EXPECT_LE(paramRel, 1e-4);
  EXPECT_GT(l1.front() - l1.back(), 0.1) << "no training";
}

TEST(GpuExecutor, SampleStepsMatchTheCpuForSeveralSequences) {
  // A whole sampling session on both executors: the sample step's rows are
  // sample_batch different sequences (distinct windows of text), fed one
  // position at a time through the context; every step's logits agree.
  // Then stc's sampler draws sample_batch sequences past the context.
  LOAD_TINY_OR_SKIP(a);
  const int64_t S = a->model.sampleBatch, T = a->model.context,
                V = a->model.vocab;
  ASSERT_GE(S, 2) << "the tiny artifact's sample step draws its batch";
  auto cpu = makeExecutor("cpu", a);
  auto gpu = makeExecutor("cuda", a);
  ASSERT_TRUE(cpu && gpu);
  ASSERT_TRUE(initParams(*cpu, 1234).isOk());
  ASSERT_TRUE(initParams(*gpu, 1234).isOk());
  const Entry &e = a->entry(EntryKind::Sample);
  const std::string &tok = a->buffers[e.input("token")].name;
  const std::string &logits = a->buffers[e.output("logits")].name;
  const std::string text = trainingText();
  double worst = 0;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int32_t> column(static_cast<size_t>(S));
    for (int64_t s = 0; s < S; ++s)
      column[s] = static_cast<unsigned char>(text[s * 997 + t]);
    std::vector<float> out[2];
    int k = 0;
    for (Executor *x : {cpu.get(), gpu.get()}) {
      ASSERT_TRUE(x->uploadInts(tok, column).isOk());
      Scalars sc;
      sc.step = 1;
      sc.position = static_cast<int32_t>(t);
      ASSERT_TRUE(x->writeScalars(sc).isOk());
      Status st = x->run(EntryKind::Sample);
      ASSERT_TRUE(st.isOk()) << x->name() << ": " << st.message();
      auto l = x->downloadFloats(logits);
      ASSERT_TRUE(l.hasValue());
      ASSERT_EQ(static_cast<int64_t>(l->size()), S * V);
      out[k++] = *l;
    }
    for (int64_t s = 0; s < S; ++s) {
      double num = 0, den = 0;
      for (int64_t j = 0; j < V; ++j) {
        double d = out[1][s * V + j] - out[0][s * V + j];
        num += d * d;
        den += double(out[0][s * V + j]) * out[0][s * V + j];
      }
      double rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
      EXPECT_LE(rel, 1e-4) << "position " << t << ", sequence " << s;
      worst = std::max(worst, rel);
    }
  }
  SampleOptions o;
  o.prompt = "The ";
  o.count = T + 20; // past the context: the sliding window
  o.seed = 5;
  o.sequences = S;
  auto drawn = sampleSequences(*gpu, o);
  ASSERT_TRUE(drawn.hasValue()) << drawn.status().message();
  std::set<std::string> distinct(drawn->begin(), drawn->end());
  std::printf("[gpu-test] sample step, %lld sequences x %lld positions: "
              "logits rel %.3g (cpu vs cuda); %zu distinct samples of %lld\n",
              static_cast<long long>(S), static_cast<long long>(T), worst,
              distinct.size(), static_cast<long long>(S));
  for (const std::string &d : *drawn)
    EXPECT_EQ(static_cast<int64_t>(d.size()), o.count);
  EXPECT_EQ(static_cast<int64_t>(distinct.size()), S)
      << "different seeds drew the same bytes";
}

TEST(GpuExecutor, ReportsBadTokensLikeTheCpu) {
  LOAD_TINY_OR_SKIP(a);
  auto cpu = makeExecutor("cpu", a);
  auto gpu = makeExecutor("cuda", a);
  ASSERT_TRUE(cpu && gpu);
  const Entry &e = a->entry(EntryKind::Train);
  const Buffer &tok = a->buffers[e.input("tokens")];
  std::vector<int32_t> ids(static_cast<size_t>(tok.elements()), 1);
  ids[5] = static_cast<int32_t>(a->model.vocab) + 7;
  std::string msgs[2];
  int k = 0;
  for (Executor *x : {cpu.get(), gpu.get()}) {
    ASSERT_TRUE(x->uploadInts(tok.name, ids).isOk());
    Scalars sc;
    sc.step = 1;
    ASSERT_TRUE(x->writeScalars(sc).isOk());
    Status s = x->run(EntryKind::Train);
    ASSERT_FALSE(s.isOk()) << x->name();
    msgs[k++] = s.message();
  }
  std::printf("[gpu-test] bad token: cpu \"%s\" / cuda \"%s\"\n",
              msgs[0].c_str(), msgs[1].c_str());
  EXPECT_EQ(msgs[0], msgs[1]);
}

} // namespace
} // namespace stc::rt
