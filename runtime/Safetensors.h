//===- Safetensors.h - Parameters in the safetensors format -----*- C++ -*-===//
//
// safetensors (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length, a JSON header naming each tensor's dtype,
// shape and byte range, then the raw bytes. PyTorch, JAX and numpy read it,
// so stc's parameters leave stc this way (`stc export`).
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_SAFETENSORS_H
#define STC_RUNTIME_SAFETENSORS_H

#include "runtime/Executor.h"

#include <cstdint>
#include <string>

namespace stc::rt {

struct SafetensorsOptions {
  /// Also the AdamW moments, as "<param>.adam_m" and "<param>.adam_v", a
  /// bf16 or f16 parameter's f32 master weights as "<param>.master", and an
  /// f16 model's loss-scaling state as "loss_scale" (scale, finite steps in
  /// a row, skipped steps, last step skipped).
  bool optimizer = false;
  /// The training step, recorded in the header's __metadata__.
  int64_t step = 0;
  /// Instead of the parameters, their gradients as the last training step
  /// left them (before clipping; divided by the step's loss scale, if any),
  /// under the parameter names; __metadata__ says "contents": "gradients".
  /// Excludes `optimizer`.
  bool gradients = false;
};

/// The executor's parameters by their model names (the manifest's `params`),
/// in their dtypes (F32, BF16 or F16) and shapes; __metadata__ holds the format,
/// the step and the model's identity. Written atomically. Refuses NaN and
/// infinity like a checkpoint (gradients too: they would poison any
/// comparison).
Status saveSafetensors(const Executor &exec, const std::string &path,
                       const SafetensorsOptions &options = {});

} // namespace stc::rt

#endif // STC_RUNTIME_SAFETENSORS_H
