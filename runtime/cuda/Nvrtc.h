//===- Nvrtc.h - Kernel sources to CUBIN, through the cache -----*- C++ -*-===//
//
// The CUDA executor compiles an artifact's kernels/<name>.cu sources with
// NVRTC for the device's exact architecture (sm_XY from its compute
// capability) at allocate time. Compilations are looked up in, and stored
// to, the on-disk KernelCache; misses are compiled in parallel. NVRTC needs no
// GPU, so this also runs (and is tested) on machines without one.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_CUDA_NVRTC_H
#define STC_RUNTIME_CUDA_NVRTC_H

#include "runtime/Status.h"

#include <string>
#include <vector>

namespace stc::rt::cuda {

struct NvrtcInfo {
  int major = 0, minor = 0;
  std::vector<int> archs; ///< supported sm_XY as XY (75, 80, 86, 90, ...)
  std::string version() const; ///< "13.0"
  std::string archList() const; ///< "sm_75, sm_80, ..."
};
/// Queried once.
Expected<NvrtcInfo> nvrtcInfo();

/// Include directories for NVRTC (it does not find cuda_bf16.h by itself):
/// $STC_CUDA_INCLUDE (':'-separated) if set, else the toolkit's include
/// directories baked in at configure time.
std::vector<std::string> cudaIncludeDirs();

/// abi::nvrtcBaseOptions() + abi::nvrtcArchOption(arch) + --include-path=...
std::vector<std::string> kernelCompileOptions(int arch);

/// One NVRTC compilation to CUBIN. On failure the message names the kernel
/// and carries NVRTC's full log.
Expected<std::string> compileCubin(const std::string &name,
                                   const std::string &source,
                                   const std::vector<std::string> &options);

struct CompileRequest {
  std::string name;   ///< for messages and the progress line
  std::string source; ///< complete NVRTC input
};

struct CompileStats {
  int total = 0;
  int fromCache = 0;
  int compiled = 0;
  int damaged = 0; ///< damaged cache entries found (and recompiled)
  double seconds = 0;
  std::string cacheDir; ///< empty when the cache is off
};

/// Compiles every request for abi::nvrtcArchName(arch), through the kernel cache (when
/// enabled); returns the CUBINs in request order. Prints
///   "stc: compiling N kernels for sm_XY ... done in T s (K from cache)"
/// on stderr when compiling takes more than a second and `progress` is set.
/// A cache that cannot be written only warns (once).
Expected<std::vector<std::string>>
compileKernels(const std::vector<CompileRequest> &requests, int arch,
               CompileStats *stats = nullptr, bool progress = true);

} // namespace stc::rt::cuda

#endif // STC_RUNTIME_CUDA_NVRTC_H
