//===- Safetensors.cpp - Parameters in the safetensors format -------------===//

#include "runtime/Safetensors.h"

#include "runtime/Train.h"
#include "runtime/support/Files.h"
#include "runtime/support/Json.h"

#include <cstring>


namespace stc::rt {

namespace {

const char *safetensorsDtype(DType d) {
  switch (d) {
  case DType::F32:
    return "F32";
  case DType::BF16:
    return "BF16";
  case DType::F16:
    return "F16";
  case DType::I32:
    return "I32";
  }
  return "?";
}

} // namespace

Status saveSafetensors(const Executor &exec, const std::string &path,
                       const SafetensorsOptions &options) {
  const std::string ctx = "exporting '" + path + "'";
  if (!exec.allocated())
    return Status::error(ctx + ": allocate() an artifact first");
  if (options.gradients && options.optimizer)
    return Status::error(ctx + ": gradients and optimizer state go to "
                               "separate files");
  const Artifact &a = exec.artifact();
  if (options.gradients)
    STC_RETURN_IF_ERROR(checkGradientBuffers(a).withContext(ctx));
  struct Tensor {
    std::string name;
    int buffer;
  };
  std::vector<Tensor> tensors;
  for (const Param &p : a.params) {
    tensors.push_back({p.name, options.gradients ? p.grad : p.buffer});
    if (options.optimizer) {
      tensors.push_back({p.name + ".adam_m", p.adamM});
      tensors.push_back({p.name + ".adam_v", p.adamV});
      if (p.master >= 0)
        tensors.push_back({p.name + ".master", p.master});
    }
  }
  if (options.optimizer && a.lossScale >= 0)
    tensors.push_back({"loss_scale", a.lossScale});
  // With dynamic loss scaling the gradient buffers hold the gradients times
  // the step's loss scale: exported divided by it.
  double unscale = 1;
  if (options.gradients && a.lossScale >= 0) {
    auto state = exec.downloadFloats(a.buffers[a.lossScale].name);
    if (!state)
      return state.status().withContext(ctx);
    unscale = 1 / lastStepLossScale(*state);
  }
  json::Value header = json::Value::object();
  json::Value meta = json::Value::object();
  meta.set("format", "stc");
  meta.set("step", std::to_string(options.step));
  meta.set("contents", options.gradients ? "gradients" : "parameters");
  meta.set("model", a.modelIdentity());
  header.set("__metadata__", meta);
  std::string data;
  for (const Tensor &t : tensors) {
    const Buffer &b = a.buffers[t.buffer];
    std::string bytes(static_cast<size_t>(b.bytes), '\0');
    if (unscale == 1) {
      STC_RETURN_IF_ERROR(
          exec.download(b.name, bytes.data(), b.bytes).withContext(ctx));
    } else {
      auto values = exec.downloadFloats(b.name);
      if (!values)
        return values.status().withContext(ctx);
      for (size_t i = 0; i < values->size(); ++i) {
        const float v = static_cast<float>((*values)[i] * unscale);
        if (b.dtype == DType::F32) {
          std::memcpy(&bytes[4 * i], &v, 4);
        } else {
          const uint16_t h = abi::floatToHalf(v, b.dtype);
          std::memcpy(&bytes[2 * i], &h, 2);
        }
      }
    }
    if (abi::firstNonFinite(bytes.data(), b.bytes, b.dtype) >= 0)
      return Status::error(ctx + ": refused: '" + t.name +
                           "' holds a NaN or an infinity");
    json::Value entry = json::Value::object();
    entry.set("dtype", safetensorsDtype(b.dtype));
    json::Value shape = json::Value::array();
    for (int64_t d : b.shape)
      shape.push(d);
    entry.set("shape", shape);
    json::Value offsets = json::Value::array();
    offsets.push(static_cast<int64_t>(data.size()));
    offsets.push(static_cast<int64_t>(data.size() + bytes.size()));
    entry.set("data_offsets", offsets);
    header.set(t.name, entry);
    data += bytes;
  }
  std::string text = json::write(header);
  text.resize((text.size() + 7) / 8 * 8, ' '); // the data starts 8-aligned
  std::string out(8, '\0');
  uint64_t length = text.size();
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  out += text;
  out += data;
  return writeFileAtomic(path, out).withContext(ctx);
}

} // namespace stc::rt
