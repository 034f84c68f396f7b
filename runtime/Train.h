//===- Train.h - Training, evaluation and sampling loops --------*- C++ -*-===//
//
// Host loops around an executor's entry points. Everything random is derived
// from the options' seed and the step number (support/Random.h), so a run
// resumed from a checkpoint at step s continues exactly as the original.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_TRAIN_H
#define STC_RUNTIME_TRAIN_H

#include "runtime/Data.h"
#include "runtime/Executor.h"

#include <cstdint>
#include <functional>
#include <limits>
#include <string>

namespace stc::rt {

struct StepReport {
  int64_t step = 0; ///< 1-based
  double loss = 0;  ///< mean of the step's losses: bits per byte
  double learningRate = 0;
  double tokensPerSecond = 0; ///< this step's tokens over its wall time
  double elapsedSeconds = 0;  ///< since train() started
  /// Where the step's windows start in the data (one per sequence): with
  /// the data file, they say exactly what the step trained on.
  std::vector<int64_t> windows;
  /// Set by onStep when it evaluated held-out data (logged when finite).
  double validationBitsPerByte = std::numeric_limits<double>::quiet_NaN();
  /// Dynamic loss scaling (f16 models; 0 without): the scale this step's
  /// gradients were computed with, whether its update was skipped (the
  /// scaled gradients overflowed), and how many steps were skipped so far.
  double lossScale = 0;
  bool skipped = false;
  int64_t skippedSteps = 0;
};

/// The loss scale the last training step ran with, from the state that
/// step's loss_scale_update left (abi/Ops.def): a skipped step halved it, a
/// finite step that completed a growth interval doubled it.
double lastStepLossScale(const std::vector<float> &state);

/// An error when step `r` was skipped at a loss scale below
/// abi::kLossScaleMin (the scaled gradients overflow at any scale: the
/// model does not fit f16's range), else ok.
Status checkLossScale(const StepReport &r);

struct TrainOptions {
  int64_t steps = 1000;          ///< the last step to run (1-based)
  int64_t startStep = 0;         ///< steps already done (resume)
  /// Stop after this step (0: at `steps`); the schedule still spans `steps`,
  /// so a later resume continues the same run.
  int64_t stopAfter = 0;
  double learningRate = 1e-3;    ///< peak
  double minLearningRate = 1e-4; ///< floor of the cosine decay
  int64_t warmupSteps = 100;
  uint64_t seed = 1; ///< data windows and dropout seeds
  /// Micro-batches per step (gradient accumulation): each step runs the
  /// forward and backward on `accumulate` batches of the artifact's batch,
  /// averages their gradients, then takes one optimizer step, as if the
  /// batch were `accumulate` times larger. 1: no accumulation.
  int64_t accumulate = 1;
  /// JSON lines, one object per step: step, loss, lr, tokens_per_s,
  /// elapsed_s. Truncated when startStep is 0, appended to otherwise.
  std::string logPath;
  /// Called after every step, before the step is logged; return false to
  /// stop early.
  std::function<bool(StepReport &)> onStep;
};

struct TrainResult {
  int64_t lastStep = 0;
  double lastLoss = 0;
};

/// Linear warmup from lr/warmup to lr over steps 1..warmup, then cosine
/// decay from lr to minLearningRate at step `steps`.
double scheduledLearningRate(const TrainOptions &o, int64_t step);

/// Checks the options; messages name the option and the valid range.
Status validateTrainOptions(const TrainOptions &o);

Expected<TrainResult> train(Executor &exec, const ByteDataset &data,
                            const TrainOptions &options);

/// Uploads what train() gives step `step` (1-based): its batch of windows,
/// its learning rate, step number and dropout seed. Returns the scalars
/// (and, if `windows` is given, where all the step's windows start). With
/// options.accumulate K > 1 the step draws K x batch windows and `micro`
/// (0 .. K-1) picks the batch [micro x batch, (micro+1) x batch) of them;
/// micro-batch 0 has the step's dropout seed, the others seeds derived from
/// it. K = 1 is the step exactly as without accumulation.
Expected<Scalars> uploadTrainStep(Executor &exec, const ByteDataset &data,
                                  const TrainOptions &options, int64_t step,
                                  std::vector<int64_t> *windows = nullptr,
                                  int64_t micro = 0);

/// Where the training step's optimizer part begins (the first sumsq op):
/// accumulation runs the ops before it once per micro-batch and the rest
/// once. An error names the op if the program is not ordered that way.
Expected<size_t> optimizerSplit(const Artifact &a);

/// Device memory a training run plans: plannedDeviceBytes, plus the
/// float32 gradient sum (in whole pages) when it accumulates.
int64_t plannedTrainingBytes(const Artifact &a, int64_t accumulate);

struct EvalOptions {
  /// Evaluate at most this many windows (0: all). Windows are the
  /// non-overlapping starts 0, T, 2T, ... of the dataset.
  int64_t maxWindows = 0;
};

struct EvalResult {
  double bitsPerByte = 0; ///< mean over all evaluated positions
  int64_t windows = 0;
  int64_t tokens = 0;
};

Expected<EvalResult> evaluate(Executor &exec, const ByteDataset &data,
                              const EvalOptions &options = {});

struct SampleOptions {
  std::string prompt;       ///< at least one byte
  int64_t count = 100;      ///< bytes to generate
  double temperature = 1.0; ///< 0: argmax (greedy)
  int64_t topK = 0;         ///< keep the k most likely bytes (0: all)
  double topP = 1.0;        ///< keep the fewest bytes holding this mass
  uint64_t seed = 1;        ///< sequence i draws with seed + i
  /// Sequences drawn at once, 1 .. the artifact's sample_batch (the sample
  /// step's rows; rows beyond `sequences` are computed and ignored).
  int64_t sequences = 1;
  /// Called with each generated byte as soon as it is drawn (streaming):
  /// the sequence's index and the byte.
  std::function<void(int64_t, char)> onByte;
};

/// Feeds the prompt through sample_step one byte at a time, then generates
/// `count` bytes for each of `sequences` sequences at once (one sample step
/// per position for all of them); returns only the generated bytes, one
/// string per sequence. Sequence i is the sequence a draw of one with seed
/// `seed + i` gives. Any length: when the model's context is full, the last
/// half of it is fed again from position 0 (a sliding window) and generation
/// goes on; a prompt longer than the context starts from its last `context`
/// bytes.
Expected<std::vector<std::string>> sampleSequences(Executor &exec,
                                                   const SampleOptions &options);

/// sampleSequences for one sequence (options.sequences must be 1).
Expected<std::string> sample(Executor &exec, const SampleOptions &options);

} // namespace stc::rt

#endif // STC_RUNTIME_TRAIN_H
