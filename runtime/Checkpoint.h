//===- Checkpoint.h - Save and restore training state -----------*- C++ -*-===//
//
// A checkpoint holds every persistent buffer (parameters, optimizer moments,
// the scalars block, caches), the step count, a fingerprint of the
// parameter table and the model's identity, in the binary format of docs/artifact-format.md
// ("Checkpoints"). Loading checks everything before touching the executor:
// a damaged or mismatched file leaves the executor's state as it was.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_CHECKPOINT_H
#define STC_RUNTIME_CHECKPOINT_H

#include "runtime/Executor.h"

#include <cstdint>
#include <string>

namespace stc::rt {

constexpr uint32_t kCheckpointVersion = 2;

/// Writes atomically (a temporary sibling, fsynced, renamed over path).
/// Refuses parameters that hold a NaN or an infinity.
Status saveCheckpoint(const Executor &exec, const std::string &path,
                      int64_t step);

/// Restores the buffers from the file; returns the saved step.
Expected<int64_t> loadCheckpoint(Executor &exec, const std::string &path);

/// The same from the file's bytes; `context` starts messages
/// ("checkpoint 'x.ckpt'").
Expected<int64_t> restoreCheckpoint(Executor &exec, const std::string &data,
                                    const std::string &context);

} // namespace stc::rt

#endif // STC_RUNTIME_CHECKPOINT_H
