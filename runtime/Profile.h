//===- Profile.h - Where an entry's time goes, op by op ---------*- C++ -*-===//
//
// Times every op of an entry inside whole runs (Executor::profileOps) and
// sums the times by op kind: what `stc train --profile` prints and writes.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_PROFILE_H
#define STC_RUNTIME_PROFILE_H

#include "runtime/Executor.h"
#include "runtime/support/Json.h"

#include <string>
#include <vector>

namespace stc::rt {

struct KindTime {
  std::string kind; ///< op kind name ("gemm", "attention_bwd", ...)
  int64_t ops = 0;  ///< ops of this kind in the entry
  double ms = 0;    ///< their summed median times
};

struct EntryProfile {
  EntryKind kind = EntryKind::Train;
  std::string entry;    ///< entryKindName(kind): "train_step", ...
  std::string executor; ///< "cuda", "cpu"
  int repeats = 0;
  std::vector<double> opMs; ///< median per op, in op order
  double opSumMs = 0;       ///< sum of opMs
  /// The whole entry timed alone (no per-op timing): what a step costs.
  double wholeMs = 0;
  int64_t launches = 0;     ///< ops that launch a generated kernel
  int64_t libraryCalls = 0; ///< ops that call a library (GEMMs)
  std::vector<KindTime> byKind; ///< slowest first
};

/// Profiles `entry` on `exec` (its inputs already uploaded, its state
/// whatever the caller left): runs it once, then `repeats` times op by op
/// and `repeats` times whole (Executor::profileOps). The entry's state
/// (parameters, optimizer moments) changes as if it ran that often.
Expected<EntryProfile> profileEntry(Executor &exec, EntryKind entry,
                                    int repeats);

/// A table: one line per op kind, then the `top` slowest ops.
std::string formatProfile(const EntryProfile &p, const Artifact &a,
                          int top = 10);

/// {entry, executor, repeats, whole_ms, op_sum_ms, launches, library_calls,
///  by_kind: [{kind, ops, ms}], ops: [{index, kind, out, ms}]}
json::Value profileJson(const EntryProfile &p, const Artifact &a);

} // namespace stc::rt

#endif // STC_RUNTIME_PROFILE_H
