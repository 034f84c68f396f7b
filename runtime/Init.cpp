//===- Init.cpp - Deterministic parameter initialization ------------------===//

#include "runtime/Init.h"

#include "abi/Hash.h"
#include "runtime/support/Random.h"

namespace stc::rt {

std::vector<float> initialValues(const InitSpec &spec, int64_t count,
                                 uint64_t seed, std::string_view paramName) {
  std::vector<float> out(static_cast<size_t>(count), 0.0f);
  switch (spec.dist) {
  case InitSpec::Dist::Zeros:
    break;
  case InitSpec::Dist::Ones:
    std::fill(out.begin(), out.end(), 1.0f);
    break;
  case InitSpec::Dist::Normal: {
    // One stream per parameter, keyed by its name.
    SplitMix64 rng(deriveSeed(seed, abi::fnv1a64(paramName)));
    for (int64_t i = 0; i < count; i += 2) {
      double z0, z1;
      rng.normalPair(z0, z1);
      out[i] = static_cast<float>(spec.std * z0);
      if (i + 1 < count)
        out[i + 1] = static_cast<float>(spec.std * z1);
    }
    break;
  }
  }
  return out;
}

Status copyToMaster(Executor &exec, const Param &p) {
  if (p.master < 0)
    return Status::ok();
  const Artifact &a = exec.artifact();
  Expected<std::vector<float>> value =
      exec.downloadFloats(a.buffers[p.buffer].name);
  if (!value)
    return value.status();
  return exec.uploadFloats(a.buffers[p.master].name, *value);
}

Status initParams(Executor &exec, uint64_t seed) {
  if (!exec.allocated())
    return Status::error("initParams: allocate() an artifact first");
  const Artifact &a = exec.artifact();
  for (const Param &p : a.params) {
    const Buffer &b = a.buffers[p.buffer];
    STC_RETURN_IF_ERROR(exec.uploadFloats(
        b.name, initialValues(p.init, b.elements(), seed, p.name)));
    std::vector<float> zeros(static_cast<size_t>(b.elements()), 0.0f);
    STC_RETURN_IF_ERROR(exec.uploadFloats(a.buffers[p.adamM].name, zeros));
    STC_RETURN_IF_ERROR(exec.uploadFloats(a.buffers[p.adamV].name, zeros));
    STC_RETURN_IF_ERROR(copyToMaster(exec, p));
  }
  if (a.lossScale >= 0) // scale, finite steps in a row, skipped, last skipped
    STC_RETURN_IF_ERROR(exec.uploadFloats(
        a.buffers[a.lossScale].name,
        {static_cast<float>(a.lossScaleInit), 0.f, 0.f, 0.f}));
  return Status::ok();
}

} // namespace stc::rt
