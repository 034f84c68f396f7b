//===- Nvrtc.cpp - Kernel sources to CUBIN, through the cache -------------===//

#include "runtime/cuda/Nvrtc.h"

#include "abi/NvrtcOptions.h"
#include "runtime/cuda/KernelCache.h"

#include <nvrtc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace stc::rt::cuda {

std::string NvrtcInfo::version() const {
  return std::to_string(major) + "." + std::to_string(minor);
}

std::string NvrtcInfo::archList() const {
  std::string s;
  for (int a : archs)
    s += (s.empty() ? "sm_" : ", sm_") + std::to_string(a);
  return s;
}

Expected<NvrtcInfo> nvrtcInfo() {
  static std::once_flag once;
  static Expected<NvrtcInfo> result = Status::error("NVRTC: not queried");
  std::call_once(once, [] {
    NvrtcInfo info;
    nvrtcResult r = nvrtcVersion(&info.major, &info.minor);
    if (r != NVRTC_SUCCESS) {
      result = Status::error(std::string("nvrtcVersion: ") +
                             nvrtcGetErrorString(r));
      return;
    }
    int n = 0;
    r = nvrtcGetNumSupportedArchs(&n);
    if (r == NVRTC_SUCCESS && n > 0) {
      info.archs.resize(static_cast<size_t>(n));
      r = nvrtcGetSupportedArchs(info.archs.data());
    }
    if (r != NVRTC_SUCCESS) {
      result = Status::error(std::string("nvrtcGetSupportedArchs: ") +
                             nvrtcGetErrorString(r));
      return;
    }
    result = info;
  });
  return result;
}

std::vector<std::string> cudaIncludeDirs() {
  std::vector<std::string> dirs;
  auto split = [&](const std::string &all, char sep) {
    size_t start = 0;
    while (start <= all.size()) {
      size_t end = all.find(sep, start);
      if (end == std::string::npos)
        end = all.size();
      if (end > start)
        dirs.push_back(all.substr(start, end - start));
      start = end + 1;
    }
  };
  if (const char *env = std::getenv("STC_CUDA_INCLUDE"); env && *env) {
    split(env, ':');
    return dirs;
  }
#ifdef STC_CUDA_INCLUDE_DIRS
  split(STC_CUDA_INCLUDE_DIRS, '|');
#endif
  return dirs;
}

std::vector<std::string> kernelCompileOptions(int arch) {
  std::vector<std::string> opts = abi::nvrtcBaseOptions();
  opts.push_back(abi::nvrtcArchOption(arch));
  for (const auto &d : cudaIncludeDirs())
    opts.push_back("--include-path=" + d);
  return opts;
}

Expected<std::string> compileCubin(const std::string &name,
                                   const std::string &source,
                                   const std::vector<std::string> &options) {
  nvrtcProgram prog = nullptr;
  nvrtcResult r = nvrtcCreateProgram(&prog, source.c_str(),
                                     (name + ".cu").c_str(), 0, nullptr,
                                     nullptr);
  if (r != NVRTC_SUCCESS)
    return Status::error("nvrtcCreateProgram(" + name +
                         "): " + nvrtcGetErrorString(r));
  std::vector<const char *> copts;
  for (const auto &o : options)
    copts.push_back(o.c_str());
  r = nvrtcCompileProgram(prog, static_cast<int>(copts.size()), copts.data());
  std::string log;
  size_t logSize = 0;
  if (nvrtcGetProgramLogSize(prog, &logSize) == NVRTC_SUCCESS && logSize > 1) {
    log.resize(logSize);
    if (nvrtcGetProgramLog(prog, &log[0]) == NVRTC_SUCCESS)
      log.resize(logSize - 1);
    else
      log.clear();
  }
  if (r != NVRTC_SUCCESS) {
    nvrtcDestroyProgram(&prog);
    std::string opts;
    for (const auto &o : options)
      opts += " " + o;
    std::string hint;
    if (log.find("could not open source file") != std::string::npos)
      hint = "\n(NVRTC does not find the CUDA headers by itself: set "
             "STC_CUDA_INCLUDE to the toolkit's include directory, e.g. "
             "/usr/local/cuda/include)";
    return Status::error("nvrtcCompileProgram(" + name +
                         "): " + nvrtcGetErrorString(r) + "\noptions:" + opts +
                         "\nNVRTC log:\n" + (log.empty() ? "(empty)" : log) +
                         hint);
  }
  size_t size = 0;
  r = nvrtcGetCUBINSize(prog, &size);
  std::string cubin;
  if (r == NVRTC_SUCCESS && size > 0) {
    cubin.resize(size);
    r = nvrtcGetCUBIN(prog, &cubin[0]);
  }
  nvrtcDestroyProgram(&prog);
  if (r != NVRTC_SUCCESS)
    return Status::error("nvrtcGetCUBIN(" + name +
                         "): " + nvrtcGetErrorString(r));
  if (cubin.empty())
    return Status::error("nvrtcGetCUBIN(" + name +
                         "): NVRTC produced no CUBIN (is --gpu-architecture a "
                         "real sm_XY?)");
  return cubin;
}

Expected<std::vector<std::string>>
compileKernels(const std::vector<CompileRequest> &requests, int arch,
               CompileStats *statsOut, bool progress) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto info = nvrtcInfo();
  if (!info)
    return info.status();
  const std::vector<std::string> options = kernelCompileOptions(arch);
  const std::string archName = abi::nvrtcArchName(arch);

  CompileStats stats;
  stats.total = static_cast<int>(requests.size());
  const bool useCache = kernelCacheEnabled();
  KernelCache cache(useCache ? kernelCacheDir() : std::string());
  if (useCache)
    stats.cacheDir = cache.dir();

  std::vector<std::string> out(requests.size());
  std::vector<uint64_t> keys(requests.size());
  std::vector<size_t> misses;
  for (size_t i = 0; i < requests.size(); ++i) {
    keys[i] = kernelCacheKey(requests[i].source, options, info->version(),
                             archName);
    if (useCache) {
      bool damaged = false;
      if (auto hit = cache.lookup(keys[i], &damaged)) {
        out[i] = std::move(*hit);
        ++stats.fromCache;
        continue;
      }
      if (damaged)
        ++stats.damaged;
    }
    misses.push_back(i);
  }

  if (!misses.empty()) {
    int jobs = static_cast<int>(std::thread::hardware_concurrency());
    if (const char *env = std::getenv("STC_COMPILE_JOBS"); env && *env)
      jobs = std::atoi(env);
    jobs = std::clamp(jobs, 1, 32);
    jobs = std::min<int>(jobs, static_cast<int>(misses.size()));

    std::atomic<size_t> next{0};
    std::atomic<int> done{0};
    std::mutex mu;
    Status firstError;
    size_t firstErrorIndex = SIZE_MAX;
    std::string cacheWarning;
    auto worker = [&] {
      for (size_t m; (m = next++) < misses.size();) {
        size_t i = misses[m];
        Expected<std::string> cubin =
            compileCubin(requests[i].name, requests[i].source, options);
        if (!cubin) {
          std::lock_guard<std::mutex> lock(mu);
          if (i < firstErrorIndex) { // report the first kernel that failed
            firstErrorIndex = i;
            firstError = cubin.status();
          }
        } else {
          if (useCache) {
            Status s = cache.store(keys[i], *cubin);
            if (!s) {
              std::lock_guard<std::mutex> lock(mu);
              if (cacheWarning.empty())
                cacheWarning = s.message();
            }
          }
          out[i] = std::move(*cubin);
        }
        ++done;
      }
    };
    std::vector<std::thread> threads;
    for (int t = 1; t < jobs; ++t)
      threads.emplace_back(worker);
    // The calling thread works too, and prints the progress line once the
    // compilation has taken more than a second.
    bool announced = false;
    auto announce = [&] {
      if (announced || !progress)
        return;
      announced = true;
      std::fprintf(stderr, "stc: compiling %zu kernel%s for %s ...",
                   misses.size(), misses.size() == 1 ? "" : "s",
                   archName.c_str());
      std::fflush(stderr);
    };
    std::thread ticker;
    std::atomic<bool> finished{false};
    if (progress)
      ticker = std::thread([&] {
        while (!finished) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          if (!finished &&
              Clock::now() - start > std::chrono::milliseconds(1000)) {
            std::lock_guard<std::mutex> lock(mu);
            announce();
            return;
          }
        }
      });
    worker();
    for (auto &t : threads)
      t.join();
    finished = true;
    if (ticker.joinable())
      ticker.join();
    stats.compiled = static_cast<int>(misses.size());
    stats.seconds =
        std::chrono::duration<double>(Clock::now() - start).count();
    if (announced) {
      if (firstErrorIndex == SIZE_MAX)
        std::fprintf(stderr, " done in %.1f s (%d from cache)\n",
                     stats.seconds, stats.fromCache);
      else
        std::fprintf(stderr, " failed\n");
    }
    if (!cacheWarning.empty() && progress) {
      static std::once_flag warned;
      std::call_once(warned, [&] {
        std::fprintf(stderr,
                     "stc: warning: compiled kernels are not cached: %s\n",
                     cacheWarning.c_str());
      });
    }
    if (firstErrorIndex != SIZE_MAX)
      return firstError.withContext("compiling kernel '" +
                                    requests[firstErrorIndex].name +
                                    "' for " + archName + " with NVRTC " +
                                    info->version());
  }
  stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (statsOut)
    *statsOut = stats;
  return out;
}

} // namespace stc::rt::cuda
