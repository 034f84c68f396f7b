//===- Checkpoint.h - Save and restore training state -----------*- C++ -*-===//
//
// A checkpoint holds the training state (every parameter and its AdamW
// moments; not the scalars block nor the sampling caches), the step count,
// a fingerprint of the parameter table, the model's identity and the run
// record, in the binary format of docs/artifact-format.md
// ("Checkpoints"). Loading checks everything before touching the executor:
// a damaged or mismatched file leaves the executor's state as it was.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_CHECKPOINT_H
#define STC_RUNTIME_CHECKPOINT_H

#include "runtime/Executor.h"

#include <cstdint>
#include <optional>
#include <string>

namespace stc::rt {

/// Written: 3 (adds the run record, drops the scalars block and the
/// sampling caches). Read: 2 and 3.
constexpr uint32_t kCheckpointVersion = 3;

/// The training run a checkpoint was written by: with it, `stc train
/// --resume` continues the same run (same schedule, same data order and
/// dropout, which derive from the seed and the step).
struct RunRecord {
  int64_t steps = 0;
  int64_t warmupSteps = 0;
  double learningRate = 0;
  double minLearningRate = 0;
  uint64_t seed = 0;
  /// Micro-batches per step (1 in records written before accumulation).
  int64_t accumulate = 1;
  bool operator==(const RunRecord &o) const {
    return steps == o.steps && warmupSteps == o.warmupSteps &&
           learningRate == o.learningRate &&
           minLearningRate == o.minLearningRate && seed == o.seed &&
           accumulate == o.accumulate;
  }
};

/// Writes atomically (a temporary sibling, fsynced, renamed over path).
/// Refuses parameters that hold a NaN or an infinity.
Status saveCheckpoint(const Executor &exec, const std::string &path,
                      int64_t step,
                      const std::optional<RunRecord> &run = std::nullopt);

/// Restores the buffers from the file; returns the saved step and, if
/// `run` is given, the run record (nullopt when the file has none).
Expected<int64_t> loadCheckpoint(Executor &exec, const std::string &path,
                                 std::optional<RunRecord> *run = nullptr);

/// The same from the file's bytes; `context` starts messages
/// ("checkpoint 'x.ckpt'").
Expected<int64_t> restoreCheckpoint(Executor &exec, const std::string &data,
                                    const std::string &context,
                                    std::optional<RunRecord> *run = nullptr);

} // namespace stc::rt

#endif // STC_RUNTIME_CHECKPOINT_H
