//===- CudaDriver.cpp - dlopen'ed CUDA driver API -------------------------===//

#include "runtime/cuda/CudaDriver.h"

#include <dlfcn.h>

#include <mutex>

namespace stc::rt::cuda {

#define STC_CUDA_STR2(x) #x
/// The macro-expanded name: STC_CUDA_STR(cuMemAlloc) is "cuMemAlloc_v2".
#define STC_CUDA_STR(x) STC_CUDA_STR2(x)

std::string cudaVersionString(int version) {
  return std::to_string(version / 1000) + "." +
         std::to_string((version % 1000) / 10);
}

std::string DriverApi::describe(CUresult r) const {
  const char *name = nullptr, *text = nullptr;
  if (cuGetErrorName)
    cuGetErrorName(r, &name);
  if (cuGetErrorString)
    cuGetErrorString(r, &text);
  std::string s = name ? name : "CUDA error " + std::to_string(int(r));
  if (text)
    s += std::string(" (") + text + ")";
  return s;
}

Status DriverApi::check(CUresult r, const char *call,
                        const std::string &context) const {
  if (r == CUDA_SUCCESS)
    return Status::ok();
  std::string where = call;
  if (!context.empty())
    where += "(" + context + ")";
  return Status::error(where + ": " + describe(r));
}

namespace {

Expected<const DriverApi *> load() {
  static DriverApi api;
  // RTLD_LOCAL: the driver's symbols stay out of the global namespace, so
  // nothing else in the process binds to them by accident.
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    return Status::error(
        std::string("no CUDA device: the NVIDIA driver library libcuda.so.1 "
                    "could not be loaded (") +
        (why ? why : "unknown reason") +
        "); is an NVIDIA GPU and its driver installed?");
  }
  std::string missing;
#define STC_CUDA_RESOLVE(fn, required)                                         \
  api.fn = reinterpret_cast<decltype(api.fn)>(dlsym(lib, STC_CUDA_STR(fn)));   \
  if (!api.fn && (required))                                                   \
    missing += (missing.empty() ? "" : ", ") + std::string(STC_CUDA_STR(fn));
  STC_CUDA_DRIVER_FUNCTIONS(STC_CUDA_RESOLVE)
#undef STC_CUDA_RESOLVE
  if (!missing.empty())
    return Status::error("no CUDA device: libcuda.so.1 lacks " + missing +
                         " (the driver is too old; stc needs a driver for CUDA "
                         "12 or newer)");
  CUresult r = api.cuInit(0);
  if (r != CUDA_SUCCESS)
    return Status::error("no CUDA device: cuInit: " + api.describe(r));
  r = api.cuDriverGetVersion(&api.driverVersion);
  if (r != CUDA_SUCCESS)
    return Status::error("no CUDA device: cuDriverGetVersion: " +
                         api.describe(r));
  int count = 0;
  r = api.cuDeviceGetCount(&count);
  if (r != CUDA_SUCCESS)
    return Status::error("no CUDA device: cuDeviceGetCount: " +
                         api.describe(r));
  if (count < 1)
    return Status::error("no CUDA device: the driver (CUDA " +
                         cudaVersionString(api.driverVersion) +
                         ") reports no devices (check CUDA_VISIBLE_DEVICES)");
  return static_cast<const DriverApi *>(&api);
}

} // namespace

Expected<const DriverApi *> loadDriver() {
  // Loaded once; the outcome (success or the reason) is kept for the process.
  static std::once_flag once;
  static Expected<const DriverApi *> result =
      Status::error("no CUDA device: not loaded");
  std::call_once(once, [] { result = load(); });
  return result;
}

} // namespace stc::rt::cuda
