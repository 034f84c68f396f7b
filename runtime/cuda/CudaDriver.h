//===- CudaDriver.h - The CUDA driver API, loaded at run time ---*- C++ -*-===//
//
// The runtime never links libcuda: the same binary must start on a machine
// without an NVIDIA driver and say "no CUDA device" there. The driver is
// dlopen'ed ("libcuda.so.1") on first use and every function the executor
// needs is resolved by the versioned name <cuda.h> maps it to (cuMemAlloc ->
// cuMemAlloc_v2, ...), so calls through DriverApi read like plain driver
// calls: drv.cuMemAlloc(&p, n).
//
// Only types and constants come from <cuda.h>; no symbol of it is linked.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_CUDA_CUDADRIVER_H
#define STC_RUNTIME_CUDA_CUDADRIVER_H

#include "runtime/Status.h"

#include <cuda.h>

#include <string>

namespace stc::rt::cuda {

// X(name, required): every driver function the runtime calls. The member is
// declared with the function's (macro-expanded, versioned) name and type.
#define STC_CUDA_DRIVER_FUNCTIONS(X)                                           \
  X(cuInit, true)                                                              \
  X(cuDriverGetVersion, true)                                                  \
  X(cuDeviceGetCount, true)                                                    \
  X(cuDeviceGet, true)                                                         \
  X(cuDeviceGetAttribute, true)                                                \
  X(cuDeviceGetName, true)                                                     \
  X(cuDeviceTotalMem, true)                                                    \
  X(cuDevicePrimaryCtxRetain, true)                                            \
  X(cuDevicePrimaryCtxRelease, true)                                           \
  X(cuCtxSetCurrent, true)                                                     \
  X(cuCtxSynchronize, true)                                                    \
  X(cuMemGetInfo, true)                                                        \
  X(cuMemAlloc, true)                                                          \
  X(cuMemFree, true)                                                           \
  X(cuMemcpyHtoD, true)                                                        \
  X(cuMemcpyDtoH, true)                                                        \
  X(cuMemsetD8, true)                                                          \
  X(cuModuleLoadData, true)                                                    \
  X(cuModuleUnload, true)                                                      \
  X(cuModuleGetFunction, true)                                                 \
  X(cuFuncGetAttribute, true)                                                  \
  X(cuFuncSetAttribute, true)                                                  \
  X(cuLaunchKernel, true)                                                      \
  X(cuEventCreate, true)                                                       \
  X(cuEventRecord, true)                                                       \
  X(cuEventSynchronize, true)                                                  \
  X(cuEventElapsedTime, true)                                                  \
  X(cuEventDestroy, true)                                                      \
  X(cuGetErrorName, true)                                                      \
  X(cuGetErrorString, true)                                                    \
  X(cuStreamCreate, true)                                                      \
  X(cuStreamDestroy, true)                                                     \
  X(cuStreamSynchronize, true)                                                 \
  X(cuStreamBeginCapture, true)                                                \
  X(cuStreamEndCapture, true)                                                  \
  X(cuGraphInstantiateWithFlags, true)                                         \
  X(cuGraphLaunch, true)                                                       \
  X(cuGraphDestroy, true)                                                      \
  X(cuGraphExecDestroy, true)                                                  \
  X(cuFuncGetParamInfo, false) /* CUDA 12.4+: checks kernel signatures */

struct DriverApi {
#define STC_CUDA_DECLARE_MEMBER(fn, required) decltype(&::fn) fn = nullptr;
  STC_CUDA_DRIVER_FUNCTIONS(STC_CUDA_DECLARE_MEMBER)
#undef STC_CUDA_DECLARE_MEMBER

  int driverVersion = 0; ///< e.g. 13000 for CUDA 13.0

  /// "CUDA_ERROR_INVALID_VALUE (invalid argument)".
  std::string describe(CUresult r) const;

  /// Success, or "<call>(<context>): <error name> (<error string>)".
  Status check(CUresult r, const char *call, const std::string &context) const;
};

/// Loads the driver and runs cuInit(0) once per process (thread-safe). On a
/// machine without a driver or device the error starts with "no CUDA
/// device: " and says why (no libcuda.so.1, cuInit's error, zero devices).
Expected<const DriverApi *> loadDriver();

/// "13.0" from 13000.
std::string cudaVersionString(int version);

} // namespace stc::rt::cuda

#endif // STC_RUNTIME_CUDA_CUDADRIVER_H
