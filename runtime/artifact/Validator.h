//===- Validator.h - The artifact validator's parts -------------*- C++ -*-===//
//
// Artifact::fromJson runs these in order; each reads one part of the
// manifest into the Artifact and checks what docs/artifact-format.md promises
// about it. Internal to the runtime.
//
//   Artifact.cpp     top level, model, buffers, params, kernels
//   Layouts.cpp      layouts: rebuilt from their patterns, fingerprints
//   Ops.cpp          entries and their ops, against abi/Ops.def
//   MemoryPlan.cpp   buffers that share bytes are never live together
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_ARTIFACT_VALIDATOR_H
#define STC_RUNTIME_ARTIFACT_VALIDATOR_H

#include "runtime/Artifact.h"

#include <map>
#include <string>

namespace stc::rt::manifest {

/// Name -> index of the artifact's named tables, filled as they are read.
struct NameIndex {
  std::map<std::string, int> layouts;
};

Status readLayouts(const json::Value &root, Artifact &a, NameIndex &names);
/// Builds the key-block column view of every layout an attention_bwd op
/// reads (after readEntries resolved the ops' layouts).
void buildColumnViews(Artifact &a);
Status readEntries(const json::Value &root, Artifact &a,
                   const NameIndex &names);
/// The memory plan of one entry (called by readEntries).
/// `session`: the entry is the sample step, for which session buffers (the
/// sampling caches) are live from its start to its end; other entries may
/// not use them.
Status checkMemoryPlan(const Artifact &a, const std::string &where,
                       const Entry &entry, bool session);

} // namespace stc::rt::manifest

#endif // STC_RUNTIME_ARTIFACT_VALIDATOR_H
