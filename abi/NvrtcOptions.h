//===- NvrtcOptions.h - How every generated kernel is compiled --*- C++ -*-===//
//
// The one definition of the NVRTC options stc's kernels are built with,
// besides the toolkit include path, which the caller adds, and the
// architecture (nvrtcArchOption). The CUDA executor compiles with exactly these;
// codegen and its NVRTC tests use the same list, so a kernel that compiles in
// the tests compiles at run time.
//
// C++17 for the device templates; -lineinfo so profilers map SASS back to the
// generated source. No fast math: expf/logf/tanhf stay accurate, which the
// comparison with the CPU reference relies on.
//
//===----------------------------------------------------------------------===//

#ifndef STC_ABI_NVRTCOPTIONS_H
#define STC_ABI_NVRTCOPTIONS_H

#include <string>
#include <vector>

namespace stc::abi {

inline std::vector<std::string> nvrtcBaseOptions() {
  return {"--std=c++17", "-lineinfo"};
}

/// The architecture NVRTC compiles for on a device of compute capability
/// `arch` (major * 10 + minor): "sm_90a" on sm_90, whose arch-specific
/// features (wgmma, which the tensor-core attention uses when
/// __CUDA_ARCH_FEAT_SM90_ALL is defined) need it and whose CUBIN runs on
/// every sm_90 part; "sm_XY" elsewhere.
inline std::string nvrtcArchName(int arch) {
  return "sm_" + std::to_string(arch) + (arch == 90 ? "a" : "");
}
inline std::string nvrtcArchOption(int arch) {
  return "--gpu-architecture=" + nvrtcArchName(arch);
}

} // namespace stc::abi

#endif // STC_ABI_NVRTCOPTIONS_H
