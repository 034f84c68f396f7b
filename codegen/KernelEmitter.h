//===- KernelEmitter.h - CUDA C++ for one artifact op -----------*- C++ -*-===//
//
// Turns one op of the artifact's program, already checked against its row of
// abi/Ops.def, into a self-contained CUDA C++ source for NVRTC, with the
// launch shape it expects. Shapes are baked in as constants, so each kernel is
// specialized to its op. No MLIR: codegen's stk -> artifact translation calls
// it, and so do its tests.
//
//===----------------------------------------------------------------------===//

#ifndef STC_CODEGEN_KERNELEMITTER_H
#define STC_CODEGEN_KERNELEMITTER_H

#include "abi/OpSpec.h"
#include "pattern/Pattern.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace stc::codegen {

/// An op attribute, in the contract's terms.
using AttrValue = abi::AttrValue;

/// What the emitter needs to know of a layout an attention op uses.
struct LayoutDesc {
  std::string name;
  pattern::Pattern pattern; ///< for masking partial blocks inline
  int64_t n = 0;
  int64_t block = 0;
};

/// An op to emit: a checked op (abi::checkOp), its kernel's name, and the
/// layouts its `layouts` attribute names, in order.
struct EmitRequest {
  const abi::CheckedOp *op = nullptr;
  std::string kernelName; ///< unique C identifier for the entry
  std::vector<LayoutDesc> layouts;
};

struct KernelSource {
  std::string entry;  ///< extern "C" __global__ function name
  std::string source; ///< complete NVRTC input (no #include of files)
  std::array<int64_t, 3> grid{1, 1, 1};
  std::array<int64_t, 3> block{1, 1, 1};
  int64_t smem = 0;   ///< dynamic shared memory bytes
};

/// Emits the kernel of a checked op. Fails (nullopt, *error naming the op
/// and what is valid) only for limits of the kernels themselves (shared
/// memory for the head dims, layouts that do not match the op) and for kinds
/// that are library calls.
std::optional<KernelSource> emitKernel(const EmitRequest &request,
                                       std::string *error);

/// An op described by hand (tests, tools): kind, attributes and argument
/// dtypes ("f32", "bf16", "i32"). emitKernel checks it against abi/Ops.def
/// first, with the element counts the attributes imply.
struct OpDesc {
  std::string kind;
  std::string kernelName;
  std::vector<std::string> argDtypes;
  abi::Attrs attrs;
  std::vector<LayoutDesc> layouts;
};
std::optional<KernelSource> emitKernel(const OpDesc &op, std::string *error);

/// True for kinds that become a generated kernel (abi: Kernel).
bool isKernelKind(const std::string &kind);

/// NVRTC compile options every generated kernel is built with (besides the
/// architecture and include path, which the caller adds).
std::vector<std::string> defaultNvrtcOptions();

} // namespace stc::codegen

#endif // STC_CODEGEN_KERNELEMITTER_H
