//===- KernelEmitter.h - CUDA C++ for one artifact op -----------*- C++ -*-===//
//
// Turns one op of the artifact's program (its kind, attributes and argument
// dtypes, as listed in docs/artifact-format.md) into a self-contained CUDA C++
// source for NVRTC, with the launch shape it expects. Shapes are baked in as
// constants, so each kernel is specialized to its op. No MLIR: codegen's
// stk -> artifact translation calls it, and so do its tests.
//
//===----------------------------------------------------------------------===//

#ifndef STC_CODEGEN_KERNELEMITTER_H
#define STC_CODEGEN_KERNELEMITTER_H

#include "pattern/Pattern.h"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace stc::codegen {

/// An op attribute: integer, float, bool, or a list of strings (layout names).
using AttrValue =
    std::variant<int64_t, double, bool, std::vector<std::string>,
                 std::vector<std::pair<int64_t, int64_t>>>;

/// What the emitter needs to know of a layout an attention op uses.
struct LayoutDesc {
  std::string name;
  pattern::Pattern pattern; ///< for masking partial blocks inline
  int64_t n = 0;
  int64_t block = 0;
};

struct OpDesc {
  std::string kind;                    ///< e.g. "layer_norm_fwd"
  std::string kernelName;              ///< unique C identifier for the entry
  std::vector<std::string> argDtypes;  ///< "f32" | "bf16" | "i32", doc order
  std::map<std::string, AttrValue> attrs;
  std::vector<LayoutDesc> layouts;     ///< attention ops: attrs["layouts"]
};

struct KernelSource {
  std::string entry;  ///< extern "C" __global__ function name
  std::string source; ///< complete NVRTC input (no #include of files)
  std::array<int64_t, 3> grid{1, 1, 1};
  std::array<int64_t, 3> block{1, 1, 1};
  int64_t smem = 0;   ///< dynamic shared memory bytes
};

/// True for kinds that become a generated kernel (everything but "gemm").
bool isKernelKind(const std::string &kind);

/// Emits the kernel for `op`; on failure (unknown kind, missing attribute,
/// unsupported dtype or size) returns nullopt with *error naming the op kind,
/// the attribute and what is valid.
std::optional<KernelSource> emitKernel(const OpDesc &op, std::string *error);

/// NVRTC compile options every generated kernel is built with (besides the
/// architecture and include path, which the caller adds).
std::vector<std::string> defaultNvrtcOptions();

} // namespace stc::codegen

#endif // STC_CODEGEN_KERNELEMITTER_H
