//===- NvrtcOptions.h - How every generated kernel is compiled --*- C++ -*-===//
//
// The one definition of the NVRTC options stc's kernels are built with,
// besides the architecture (--gpu-architecture=sm_XY) and the toolkit include
// path, which the caller adds. The CUDA executor compiles with exactly these;
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

} // namespace stc::abi

#endif // STC_ABI_NVRTCOPTIONS_H
