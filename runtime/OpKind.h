//===- OpKind.h - The artifact's op kinds -----------------------*- C++ -*-===//
//
// The one list of op kinds of the artifact program (docs/artifact-format.md):
// the compiler emits them, the kernel emitter generates them, the runtime
// validates and runs them. Header-only and dependency-free, so every layer
// can include it.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_OPKIND_H
#define STC_RUNTIME_OPKIND_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stc::rt {

enum class OpKind : uint8_t {
  Zero,
  EmbedFwd,
  EmbedBwd,
  LayerNormFwd,
  LayerNormBwd,
  Gemm,
  BiasGrad,
  GeluFwd,
  GeluBwd,
  Add,
  Accumulate,
  DropoutFwd,
  DropoutBwd,
  AttentionFwd,
  AttentionBwd,
  XentFwd,
  XentFwdBwd,
  Sumsq,
  AdamW,
  KvStore,
  AttentionDecode,
};
constexpr int kNumOpKinds = static_cast<int>(OpKind::AttentionDecode) + 1;

/// Spellings in the manifest, in OpKind order.
inline constexpr const char *kOpKindNames[kNumOpKinds] = {
    "zero",          "embed_fwd",     "embed_bwd",   "layer_norm_fwd",
    "layer_norm_bwd", "gemm",         "bias_grad",   "gelu_fwd",
    "gelu_bwd",      "add",           "accumulate",  "dropout_fwd",
    "dropout_bwd",   "attention_fwd", "attention_bwd", "xent_fwd",
    "xent_fwd_bwd",  "sumsq",         "adamw",       "kv_store",
    "attention_decode"};

inline const char *opKindName(OpKind k) {
  int i = static_cast<int>(k);
  return i >= 0 && i < kNumOpKinds ? kOpKindNames[i] : "?";
}

inline std::optional<OpKind> parseOpKind(std::string_view s) {
  for (int i = 0; i < kNumOpKinds; ++i)
    if (s == kOpKindNames[i])
      return static_cast<OpKind>(i);
  return std::nullopt;
}

/// "zero, embed_fwd, ..." for error messages.
inline std::string validOpKinds() {
  std::string s;
  for (int i = 0; i < kNumOpKinds; ++i)
    s += (i ? ", " : "") + std::string(kOpKindNames[i]);
  return s;
}

} // namespace stc::rt

#endif // STC_RUNTIME_OPKIND_H
