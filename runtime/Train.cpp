//===- Train.cpp - Training, evaluation and sampling loops ----------------===//

#include "runtime/Train.h"

#include "abi/Limits.h"
#include "runtime/support/Json.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <fstream>

namespace stc::rt {

namespace {

/// Stream ids for deriveSeed: data windows and dropout never share a stream.
constexpr uint64_t kDataStream = 0x64617461;    // "data"
constexpr uint64_t kDropoutStream = 0x64726f70; // "drop"
constexpr int64_t kMaxAccumulate = 1 << 16;
constexpr uint64_t kSampleStream = 0x73616d70;  // "samp"

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

Status needEntry(const Executor &exec, EntryKind k, const char *what) {
  if (!exec.allocated())
    return Status::error(std::string(what) + ": allocate() an artifact first");
  if (!exec.artifact().entry(k).present)
    return Status::error(std::string(what) + ": the artifact has no " +
                         entryKindName(k) + " entry");
  return Status::ok();
}

const std::string &roleBuffer(const Artifact &a, EntryKind k, bool input,
                              const char *role) {
  const Entry &e = a.entry(k);
  return a.buffers[input ? e.input(role) : e.output(role)].name;
}

} // namespace

double scheduledLearningRate(const TrainOptions &o, int64_t step) {
  if (o.warmupSteps > 0 && step <= o.warmupSteps)
    return o.learningRate * static_cast<double>(step) /
           static_cast<double>(o.warmupSteps);
  int64_t decaySteps = o.steps - o.warmupSteps;
  if (decaySteps <= 0)
    return o.learningRate;
  double progress = static_cast<double>(step - o.warmupSteps) /
                    static_cast<double>(decaySteps);
  progress = std::min(1.0, std::max(0.0, progress));
  const double pi = 3.14159265358979323846;
  return o.minLearningRate + (o.learningRate - o.minLearningRate) * 0.5 *
                                 (1.0 + std::cos(pi * progress));
}

Status validateTrainOptions(const TrainOptions &o) {
  if (o.steps < 1 || o.steps > INT32_MAX)
    return Status::error("steps is " + std::to_string(o.steps) +
                         "; valid: 1 .. " + std::to_string(INT32_MAX));
  if (o.startStep < 0 || o.startStep > o.steps)
    return Status::error("start step is " + std::to_string(o.startStep) +
                         "; valid: 0 .. steps (" + std::to_string(o.steps) +
                         ")");
  if (o.stopAfter != 0 && (o.stopAfter <= o.startStep || o.stopAfter > o.steps))
    return Status::error("stop-after step is " + std::to_string(o.stopAfter) +
                         "; valid: " + std::to_string(o.startStep + 1) + " .. " +
                         std::to_string(o.steps) + " (or 0: at the last step)");
  if (o.accumulate < 1 || o.accumulate > kMaxAccumulate)
    return Status::error("accumulate is " + std::to_string(o.accumulate) +
                         "; valid: 1 .. " + std::to_string(kMaxAccumulate) +
                         " micro-batches per step");
  if (!(o.learningRate > 0) || !std::isfinite(o.learningRate))
    return Status::error("learning rate is " + std::to_string(o.learningRate) +
                         "; it must be a finite number > 0");
  if (!(o.minLearningRate >= 0) || o.minLearningRate > o.learningRate)
    return Status::error("minimum learning rate is " +
                         std::to_string(o.minLearningRate) +
                         "; valid: 0 .. the learning rate (" +
                         std::to_string(o.learningRate) + ")");
  if (o.warmupSteps < 0)
    return Status::error("warmup steps is " + std::to_string(o.warmupSteps) +
                         "; it must be >= 0");
  return Status::ok();
}

Expected<Scalars> uploadTrainStep(Executor &exec, const ByteDataset &data,
                                  const TrainOptions &o, int64_t step,
                                  std::vector<int64_t> *windows, int64_t micro) {
  const Artifact &a = exec.artifact();
  const int64_t B = a.model.batch;
  if (micro < 0 || micro >= o.accumulate)
    return Status::error("micro-batch " + std::to_string(micro) +
                         " of a step of " + std::to_string(o.accumulate));
  std::vector<int32_t> tokens, targets;
  SplitMix64 rng(
      deriveSeed(o.seed ^ kDataStream, static_cast<uint64_t>(step)));
  // The step's K x batch starts, drawn in order (K = 1: the batch); this
  // micro-batch reads its slice of them.
  std::vector<int64_t> starts = data.drawStarts(B * o.accumulate, rng);
  data.windows(starts.data() + micro * B, B, tokens, targets);
  if (windows)
    *windows = std::move(starts);
  STC_RETURN_IF_ERROR(exec.uploadInts(
      roleBuffer(a, EntryKind::Train, true, "tokens"), tokens));
  STC_RETURN_IF_ERROR(exec.uploadInts(
      roleBuffer(a, EntryKind::Train, true, "targets"), targets));
  Scalars sc;
  sc.learningRate = static_cast<float>(scheduledLearningRate(o, step));
  sc.step = static_cast<int32_t>(step);
  uint64_t dropout =
      deriveSeed(o.seed ^ kDropoutStream, static_cast<uint64_t>(step));
  if (micro > 0)
    dropout = deriveSeed(dropout, static_cast<uint64_t>(micro));
  sc.dropoutSeed = static_cast<uint32_t>(dropout);
  STC_RETURN_IF_ERROR(exec.writeScalars(sc));
  return sc;
}

double lastStepLossScale(const std::vector<float> &state) {
  if (state.size() != 4)
    return 0;
  if (state[3] != 0.f) // skipped: halved
    return static_cast<double>(state[0]) * 2;
  if (state[1] == 0.f) // a finite step that completed an interval: doubled
    return static_cast<double>(state[0]) / 2;
  return state[0];
}

Status checkLossScale(const StepReport &r) {
  if (!r.skipped || r.lossScale <= 0 || r.lossScale >= abi::kLossScaleMin)
    return Status::ok(); // routine, or no loss scaling
  char scale[32];
  std::snprintf(scale, sizeof scale, "%g", r.lossScale);
  return Status::error(
      "train step " + std::to_string(r.step) +
      ": the f16 gradients are not finite even at a loss scale of " + scale +
      " (" + std::to_string(r.skippedSteps) +
      " steps skipped so far): the model's values do not fit f16's range; "
      "train it in bf16 or f32, or with a lower learning rate");
}

Expected<size_t> optimizerSplit(const Artifact &a) {
  const Entry &tr = a.entry(EntryKind::Train);
  size_t split = tr.ops.size();
  for (size_t i = 0; i < tr.ops.size(); ++i)
    if (tr.ops[i].kind == OpKind::Sumsq) {
      split = i;
      break;
    }
  if (split == tr.ops.size())
    return Status::error("the training step has no gradient-norm (sumsq) op "
                         "to begin its optimizer part");
  for (size_t i = split; i < tr.ops.size(); ++i)
    if (tr.ops[i].kind != OpKind::Sumsq && tr.ops[i].kind != OpKind::AdamW &&
        tr.ops[i].kind != OpKind::LossScaleUpdate)
      return Status::error(
          "the training step's op " + std::to_string(i) + " (" +
          opKindName(tr.ops[i].kind) + ") comes after its first gradient-norm "
          "op (" + std::to_string(split) + "); accumulation needs the "
          "optimizer's ops (sumsq, adamw, loss_scale_update) last (recompile the "
          "model)");
  return split;
}

int64_t plannedTrainingBytes(const Artifact &a, int64_t accumulate) {
  return plannedDeviceBytes(a) +
         (accumulate > 1 ? abi::devicePages(accumulationBytes(a)) : 0);
}

Expected<TrainResult> train(Executor &exec, const ByteDataset &data,
                            const TrainOptions &o) {
  STC_RETURN_IF_ERROR(validateTrainOptions(o));
  STC_RETURN_IF_ERROR(needEntry(exec, EntryKind::Train, "train"));
  const Artifact &a = exec.artifact();
  const int64_t B = a.model.batch, T = a.model.context;
  if (data.context() != T)
    return Status::error("train: dataset '" + data.name() +
                         "' was opened with context " +
                         std::to_string(data.context()) +
                         " but the model's context is " + std::to_string(T));
  const std::string &lossesBuf =
      roleBuffer(a, EntryKind::Train, false, "losses");
  const int64_t K = o.accumulate;
  size_t split = 0;
  if (K > 1) {
    Expected<size_t> s = optimizerSplit(a);
    if (!s)
      return s.status().withContext("train: --accumulate " + std::to_string(K));
    split = *s;
  }

  std::ofstream log;
  if (!o.logPath.empty()) {
    log.open(o.logPath, o.startStep == 0 ? std::ios::trunc : std::ios::app);
    if (!log)
      return Status::error("train: cannot open log file '" + o.logPath + "'");
  }

  TrainResult result;
  result.lastStep = o.startStep;
  const auto start = Clock::now();
  const int64_t last = o.stopAfter > 0 ? o.stopAfter : o.steps;
  for (int64_t step = o.startStep + 1; step <= last; ++step) {
    const auto t0 = Clock::now();
    StepReport rep;
    const std::string where = "train step " + std::to_string(step);
    double sum = 0;
    int64_t count = 0;
    Expected<Scalars> sc = Scalars{};
    // Each micro-batch's forward and backward (the whole step when K = 1),
    // its gradients summed; then their mean feeds the optimizer's ops.
    for (int64_t micro = 0; micro < K; ++micro) {
      sc = uploadTrainStep(exec, data, o, step, micro == 0 ? &rep.windows : nullptr,
                           micro);
      if (!sc)
        return sc.status();
      const std::string at =
          K > 1 ? where + ", micro-batch " + std::to_string(micro + 1) : where;
      STC_RETURN_IF_ERROR(
          (K > 1 ? exec.runOps(EntryKind::Train, 0, split)
                 : exec.run(EntryKind::Train))
              .withContext(at));
      auto losses = exec.downloadFloats(lossesBuf);
      if (!losses)
        return losses.status();
      for (float l : *losses)
        sum += l;
      count += static_cast<int64_t>(losses->size());
      if (K > 1)
        STC_RETURN_IF_ERROR(exec.accumulateGradients(micro == 0).withContext(at));
    }
    if (K > 1) {
      STC_RETURN_IF_ERROR(
          exec.averageGradients(1.0 / static_cast<double>(K)).withContext(where));
      STC_RETURN_IF_ERROR(
          exec.runOps(EntryKind::Train, split, static_cast<size_t>(-1))
              .withContext(where + ", optimizer"));
    }
    double loss = sum / static_cast<double>(count);
    if (!std::isfinite(loss))
      return Status::error("train step " + std::to_string(step) +
                           ": the loss is " + std::to_string(loss) +
                           " (training diverged; try a lower learning rate)");
    rep.step = step;
    if (a.lossScale >= 0) {
      auto state = exec.downloadFloats(a.buffers[a.lossScale].name);
      if (!state)
        return state.status();
      rep.lossScale = lastStepLossScale(*state);
      rep.skipped = (*state)[3] != 0.f;
      rep.skippedSteps = static_cast<int64_t>((*state)[2]);
      STC_RETURN_IF_ERROR(checkLossScale(rep));
    }
    const auto t1 = Clock::now();
    rep.loss = loss;
    rep.learningRate = sc->learningRate;
    double dt = seconds(t0, t1);
    rep.tokensPerSecond = dt > 0 ? static_cast<double>(B * T * K) / dt : 0.0;
    rep.elapsedSeconds = seconds(start, t1);
    result.lastStep = step;
    result.lastLoss = loss;
    // The callback first: what it measures (a validation loss) is logged.
    const bool keepGoing = !o.onStep || o.onStep(rep);
    if (log.is_open()) {
      json::Value line = json::Value::object();
      line.set("step", step);
      line.set("loss", loss);
      line.set("lr", rep.learningRate);
      line.set("tokens_per_s", rep.tokensPerSecond);
      line.set("elapsed_s", rep.elapsedSeconds);
      json::Value windows = json::Value::array();
      for (int64_t w : rep.windows)
        windows.push(w);
      line.set("windows", windows);
      line.set("arena_bytes", exec.artifact().arenaBytes);
      if (int64_t used = exec.deviceBytesInUse(); used >= 0) {
        line.set("device_bytes", used);
        line.set("planned_device_bytes", plannedTrainingBytes(exec.artifact(), K));
      }
      if (std::isfinite(rep.validationBitsPerByte))
        line.set("val_bits_per_byte", rep.validationBitsPerByte);
      if (rep.lossScale > 0) {
        line.set("loss_scale", rep.lossScale);
        line.set("skipped", rep.skipped);
        line.set("skipped_steps", rep.skippedSteps);
      }
      log << json::write(line) << '\n';
      log.flush();
      if (!log)
        return Status::error("train step " + std::to_string(step) +
                             ": cannot write the log file '" + o.logPath +
                             "' (disk full?)");
    }
    if (!keepGoing)
      break;
  }
  return result;
}

Expected<EvalResult> evaluate(Executor &exec, const ByteDataset &data,
                              const EvalOptions &options) {
  STC_RETURN_IF_ERROR(needEntry(exec, EntryKind::Eval, "evaluate"));
  const Artifact &a = exec.artifact();
  const int64_t B = a.model.batch, T = a.model.context;
  if (data.context() != T)
    return Status::error("evaluate: dataset '" + data.name() +
                         "' was opened with context " +
                         std::to_string(data.context()) +
                         " but the model's context is " + std::to_string(T));
  if (options.maxWindows < 0)
    return Status::error("evaluate: max windows is " +
                         std::to_string(options.maxWindows) +
                         "; it must be >= 0 (0: all)");
  // Non-overlapping windows: start w*T needs w*T + T + 1 <= size.
  int64_t windows = (data.size() - 1) / T;
  if (options.maxWindows > 0)
    windows = std::min(windows, options.maxWindows);
  const std::string &tokensBuf = roleBuffer(a, EntryKind::Eval, true, "tokens");
  const std::string &targetsBuf =
      roleBuffer(a, EntryKind::Eval, true, "targets");
  const std::string &lossesBuf =
      roleBuffer(a, EntryKind::Eval, false, "losses");

  Scalars sc;
  sc.step = 1;
  STC_RETURN_IF_ERROR(exec.writeScalars(sc));
  std::vector<int32_t> tokens(static_cast<size_t>(B * T)),
      targets(tokens.size());
  double sum = 0;
  EvalResult r;
  for (int64_t w0 = 0; w0 < windows; w0 += B) {
    int64_t n = std::min(B, windows - w0);
    // A short last batch repeats window w0 in its unused rows; their losses
    // are not counted.
    for (int64_t b = 0; b < B; ++b)
      data.window((w0 + (b < n ? b : 0)) * T, tokens.data() + b * T,
                  targets.data() + b * T);
    STC_RETURN_IF_ERROR(exec.uploadInts(tokensBuf, tokens));
    STC_RETURN_IF_ERROR(exec.uploadInts(targetsBuf, targets));
    STC_RETURN_IF_ERROR(exec.run(EntryKind::Eval).withContext("evaluate"));
    auto losses = exec.downloadFloats(lossesBuf);
    if (!losses)
      return losses.status();
    for (int64_t i = 0; i < n * T; ++i) {
      if (!std::isfinite((*losses)[i]))
        return Status::error(
            "evaluate: window " + std::to_string(w0 + i / T) + ", position " +
            std::to_string(i % T) + ": the loss is " +
            std::to_string((*losses)[i]) +
            " (the parameters hold a NaN or an infinity, or overflow)");
      sum += (*losses)[i];
    }
    r.windows += n;
    r.tokens += n * T;
  }
  r.bitsPerByte = r.tokens ? sum / static_cast<double>(r.tokens) : 0.0;
  return r;
}

namespace {
/// The next byte from one sequence's logits: the argmax at temperature 0,
/// else a draw from the softmax at the temperature, cut to the top-k most
/// likely bytes and then to the fewest holding top-p of their mass. `p` and
/// `order` are scratch of `choices` entries.
int64_t drawByte(const float *logits, int64_t choices, const SampleOptions &o,
                 SplitMix64 &rng, std::vector<double> &p,
                 std::vector<int64_t> &order) {
  int64_t next = 0;
  if (o.temperature == 0) {
    for (int64_t j = 1; j < choices; ++j)
      if (logits[j] > logits[next])
        next = j;
  } else {
    double mx = logits[0];
    for (int64_t j = 1; j < choices; ++j)
      mx = std::max(mx, static_cast<double>(logits[j]));
    for (int64_t j = 0; j < choices; ++j) {
      p[j] = std::exp((logits[j] - mx) / o.temperature);
      order[j] = j;
    }
    // Most likely first (ties by byte value): top-k, then top-p, cut
    // the tail; the draw is over what is left, in that order.
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return p[a] > p[b]; });
    int64_t kept = o.topK > 0 ? std::min(o.topK, choices) : choices;
    double total = 0;
    for (int64_t j = 0; j < kept; ++j)
      total += p[order[j]];
    if (o.topP < 1) {
      double mass = 0;
      for (int64_t j = 0; j < kept; ++j) {
        mass += p[order[j]];
        if (mass >= o.topP * total) {
          kept = j + 1;
          total = mass;
          break;
        }
      }
    }
    double u = rng.uniform() * total, cum = 0;
    next = order[kept - 1];
    for (int64_t j = 0; j < kept; ++j) {
      cum += p[order[j]];
      if (u < cum) {
        next = order[j];
        break;
      }
    }
  }
  return next;
}
} // namespace

Expected<std::vector<std::string>> sampleSequences(Executor &exec,
                                                   const SampleOptions &o) {
  STC_RETURN_IF_ERROR(needEntry(exec, EntryKind::Sample, "sample"));
  const Artifact &a = exec.artifact();
  const int64_t T = a.model.context, V = a.model.vocab;
  const int64_t S = a.model.sampleBatch, N = o.sequences;
  const int64_t P = static_cast<int64_t>(o.prompt.size());
  if (P == 0)
    return Status::error("sample: the prompt is empty; give at least one "
                         "byte to start from");
  if (o.count < 0)
    return Status::error("sample: count is " + std::to_string(o.count) +
                         "; it must be >= 0");
  if (N < 1 || N > S)
    return Status::error(
        "sample: " + std::to_string(N) + " sequences at once; the artifact's "
        "sample step draws 1 .. " + std::to_string(S) +
        " (stc compile --sample-batch sets it)");
  if (!(o.temperature >= 0) || !std::isfinite(o.temperature))
    return Status::error("sample: temperature is " +
                         std::to_string(o.temperature) +
                         "; it must be a finite number >= 0 (0: greedy)");
  if (o.topK < 0)
    return Status::error("sample: top-k is " + std::to_string(o.topK) +
                         "; it must be >= 0 (0: every byte)");
  if (!(o.topP > 0 && o.topP <= 1))
    return Status::error("sample: top-p is " + std::to_string(o.topP) +
                         "; it must be in (0, 1] (1: every byte)");
  for (int64_t i = 0; i < P; ++i)
    if (static_cast<unsigned char>(o.prompt[i]) >= V)
      return Status::error(
          "sample: prompt byte " + std::to_string(i) + " is " +
          std::to_string(static_cast<unsigned char>(o.prompt[i])) +
          ", outside the vocabulary [0, " + std::to_string(V) + ")");
  std::vector<std::string> out(static_cast<size_t>(N));
  if (o.count == 0)
    return out;
  const std::string &tokenBuf = roleBuffer(a, EntryKind::Sample, true, "token");
  const std::string &logitsBuf =
      roleBuffer(a, EntryKind::Sample, false, "logits");
  // Bytes are the tokens: never draw an id that is not a byte.
  const int64_t choices = std::min<int64_t>(V, 256);
  std::vector<SplitMix64> rngs;
  for (int64_t i = 0; i < N; ++i)
    rngs.emplace_back(
        deriveSeed((o.seed + static_cast<uint64_t>(i)) ^ kSampleStream, 0));
  // Every sequence starts with the prompt and grows by one byte per step, so
  // all of them sit at the same position: seqs[i][base, fed) is in sequence
  // i's cache at positions 0 .. fed - base - 1.
  std::vector<std::vector<int32_t>> seqs(static_cast<size_t>(N));
  for (auto &seq : seqs)
    for (char c : o.prompt)
      seq.push_back(static_cast<unsigned char>(c));
  int64_t base = P > T ? P - T : 0, fed = base;
  const int64_t keep = std::max<int64_t>(1, T / 2); // fed again on a slide
  std::vector<int32_t> tokens(static_cast<size_t>(S));
  auto feed = [&](int64_t index) -> Status {
    // Rows past the N sequences repeat sequence 0 (computed, never read).
    for (int64_t r = 0; r < S; ++r)
      tokens[r] = seqs[r < N ? r : 0][index];
    STC_RETURN_IF_ERROR(exec.uploadInts(tokenBuf, tokens));
    Scalars sc;
    sc.step = 1;
    sc.position = static_cast<int32_t>(index - base);
    STC_RETURN_IF_ERROR(exec.writeScalars(sc));
    return exec.run(EntryKind::Sample)
        .withContext("sample position " + std::to_string(index - base));
  };
  std::vector<double> p(static_cast<size_t>(choices));
  std::vector<int64_t> order(static_cast<size_t>(choices));
  for (int64_t made = 0; made < o.count;) {
    if (fed - base == T) { // the context is full: keep its last half
      base = fed - keep;
      for (int64_t i = base; i < fed; ++i)
        STC_RETURN_IF_ERROR(feed(i));
    }
    STC_RETURN_IF_ERROR(feed(fed));
    ++fed;
    if (fed < static_cast<int64_t>(seqs[0].size()))
      continue; // still reading the prompt
    auto all = exec.downloadFloats(logitsBuf);
    if (!all)
      return all.status();
    for (int64_t s = 0; s < N; ++s) {
      const float *logits = all->data() + s * V;
      for (int64_t j = 0; j < choices; ++j)
        if (!std::isfinite(logits[j]))
          return Status::error(
              "sample position " + std::to_string(fed - 1 - base) +
              (N > 1 ? ", sequence " + std::to_string(s) : std::string()) +
              ": logit " + std::to_string(j) + " is not finite");
      const int64_t next = drawByte(logits, choices, o, rngs[s], p, order);
      out[s] += static_cast<char>(next);
      seqs[s].push_back(static_cast<int32_t>(next));
      if (o.onByte)
        o.onByte(s, static_cast<char>(next));
    }
    ++made;
  }
  return out;
}

Expected<std::string> sample(Executor &exec, const SampleOptions &o) {
  if (o.sequences != 1)
    return Status::error("sample: draws one sequence; sampleSequences draws " +
                         std::to_string(o.sequences));
  Expected<std::vector<std::string>> all = sampleSequences(exec, o);
  if (!all)
    return all.status();
  return std::move((*all)[0]);
}

} // namespace stc::rt
