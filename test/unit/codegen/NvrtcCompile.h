//===- NvrtcCompile.h - Compile generated kernels with NVRTC ----*- C++ -*-===//
//
// The codegen tests compile every emitted source for sm_90a with NVRTC (which
// needs no GPU). Built only when CMake found the CUDA toolkit
// (STC_HAVE_NVRTC); otherwise the compile tests skip.
//
//===----------------------------------------------------------------------===//

#ifndef STC_TEST_UNIT_CODEGEN_NVRTCCOMPILE_H
#define STC_TEST_UNIT_CODEGEN_NVRTCCOMPILE_H

#include "abi/NvrtcOptions.h"
#include "codegen/KernelEmitter.h"

#include <string>
#include <vector>

#ifdef STC_HAVE_NVRTC
#include <nvrtc.h>
#endif

namespace stc::codegen::test {

struct NvrtcResult {
  bool ok = false;
  std::string log; ///< compiler messages (ptxas verbose output included)
  std::string ptx; ///< empty unless available
};

inline bool haveNvrtc() {
#ifdef STC_HAVE_NVRTC
  return true;
#else
  return false;
#endif
}

/// The toolkit include directories, '|'-separated (from CMake).
inline std::vector<std::string> cudaIncludeDirs() {
  std::vector<std::string> dirs;
#ifdef STC_CUDA_INCLUDE_DIRS
  std::string all = STC_CUDA_INCLUDE_DIRS;
  size_t start = 0;
  while (start <= all.size()) {
    size_t end = all.find('|', start);
    if (end == std::string::npos)
      end = all.size();
    if (end > start)
      dirs.push_back(all.substr(start, end - start));
    start = end + 1;
  }
#endif
  return dirs;
}

inline NvrtcResult
compileWithNvrtc(const KernelSource &ks,
                 const std::vector<std::string> &extra = {}) {
  NvrtcResult r;
#ifdef STC_HAVE_NVRTC
  nvrtcProgram prog;
  nvrtcResult rc =
      nvrtcCreateProgram(&prog, ks.source.c_str(), (ks.entry + ".cu").c_str(),
                         0, nullptr, nullptr);
  if (rc != NVRTC_SUCCESS) {
    r.log = std::string("nvrtcCreateProgram: ") + nvrtcGetErrorString(rc);
    return r;
  }
  std::vector<std::string> opts = defaultNvrtcOptions();
  opts.push_back(abi::nvrtcArchOption(90));
  for (const auto &d : cudaIncludeDirs())
    opts.push_back("--include-path=" + d);
  opts.insert(opts.end(), extra.begin(), extra.end());
  std::vector<const char *> copts;
  for (const auto &o : opts)
    copts.push_back(o.c_str());
  rc = nvrtcCompileProgram(prog, static_cast<int>(copts.size()), copts.data());
  size_t logSize = 0;
  nvrtcGetProgramLogSize(prog, &logSize);
  if (logSize > 1) {
    r.log.resize(logSize);
    nvrtcGetProgramLog(prog, &r.log[0]);
    r.log.resize(logSize - 1);
  }
  r.ok = rc == NVRTC_SUCCESS;
  if (r.ok) {
    size_t ptxSize = 0;
    if (nvrtcGetPTXSize(prog, &ptxSize) == NVRTC_SUCCESS && ptxSize > 1) {
      r.ptx.resize(ptxSize);
      if (nvrtcGetPTX(prog, &r.ptx[0]) != NVRTC_SUCCESS)
        r.ptx.clear();
      else
        r.ptx.resize(ptxSize - 1);
    }
    size_t cubinSize = 0;
    if (nvrtcGetCUBINSize(prog, &cubinSize) != NVRTC_SUCCESS ||
        cubinSize == 0) {
      r.ok = false;
      r.log += "\n(no CUBIN produced for sm_90a)";
    }
  } else if (rc != NVRTC_ERROR_COMPILATION) {
    r.log += std::string("\nnvrtcCompileProgram: ") + nvrtcGetErrorString(rc);
  }
  nvrtcDestroyProgram(&prog);
#else
  (void)ks;
  (void)extra;
  r.log = "built without NVRTC";
#endif
  return r;
}

} // namespace stc::codegen::test

#endif // STC_TEST_UNIT_CODEGEN_NVRTCCOMPILE_H
