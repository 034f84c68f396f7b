//===- Init.h - Deterministic parameter initialization ----------*- C++ -*-===//
//
// Initial weights are drawn on the host from a seed, so the CPU and CUDA
// executors (and any later reimplementation) start from identical values.
// The algorithm is specified in docs/artifact-format.md ("Host random
// numbers"); it uses only splitmix64 and Box-Muller (support/Random.h).
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_INIT_H
#define STC_RUNTIME_INIT_H

#include "runtime/Artifact.h"
#include "runtime/Executor.h"

#include <cstdint>
#include <string_view>
#include <vector>

namespace stc::rt {

/// The initial values of one parameter of `count` elements. Depends only on
/// (spec, count, seed, paramName): reordering the parameter table does not
/// change any parameter's values.
std::vector<float> initialValues(const InitSpec &spec, int64_t count,
                                 uint64_t seed, std::string_view paramName);

/// Writes every parameter's initial values, zeroes its AdamW moments and
/// sets its master weights (if any) to its value; starts the loss scale (if
/// any) at its initial value.
Status initParams(Executor &exec, uint64_t seed);

/// Sets parameter p's master weights (if it has any) to its current value.
Status copyToMaster(Executor &exec, const Param &p);

} // namespace stc::rt

#endif // STC_RUNTIME_INIT_H
