//===- CudaExecutor.h - Runs an artifact on an NVIDIA GPU -------*- C++ -*-===//
//
// The CUDA executor: one device arena laid out exactly as the manifest says
// (zero-filled at allocate), the layouts' block tables uploaded once as
// int32, every kernel of the artifact compiled with NVRTC for the device's
// exact architecture (through the on-disk KernelCache) and loaded at allocate
// time, gemm through cuBLASLt (Gemm.h). Ops are launched in order on one
// stream of the executor's; run() ends with cuCtxSynchronize, so a kernel
// fault is reported by the run that caused it (STC_CUDA_SYNC=1 synchronizes
// after every op, naming the faulting op exactly).
//
// Replay: a run of a whole entry whose host checks can all be made before
// its first op (token ids uploaded by the host, positions and the step read
// off the scalars, gradient norms read after the run) is captured as a CUDA
// graph the first time and replayed as one graph launch after that. Every
// kernel parameter is a device pointer fixed at allocate time and every
// value that changes between runs (tokens, scalars) lives in the arena, so
// one capture serves every later run. Runs of part of an entry, runs with a
// check between ops, STC_CUDA_SYNC=1 and STC_CUDA_GRAPHS=0 launch op by op.
//
// Kernel parameters (docs/artifact-format.md, "Layouts"): the op's buffers in
// `args` order as device pointers; for attention ops then, per layout named
// in `layouts`, its row_ptr, col_idx, classes, col_ptr, row_idx, col_classes
// arrays; then the `scalars` buffer. Everything is a pointer, so the
// parameter array is a list of CUdeviceptr values fixed at allocate time.
//
// Data-dependent errors the CPU executor reports (token ids and targets
// outside [0, V), a position outside [0, T), an optimizer step < 1, a
// non-finite gradient norm) are checked on the host with the same messages.
//
// Environment: STC_CUDA_DEVICE (device ordinal, default 0), STC_CUDA_SYNC=1,
// STC_CUDA_GRAPHS=0, and those of KernelCache.h and Nvrtc.h.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_CUDA_CUDAEXECUTOR_H
#define STC_RUNTIME_CUDA_CUDAEXECUTOR_H

#include "runtime/Executor.h"
#include "runtime/cuda/CudaDriver.h"
#include "runtime/cuda/Nvrtc.h"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace stc::rt::cuda {

class GemmEngine;

struct CudaDeviceInfo {
  int ordinal = 0;
  std::string name;
  int ccMajor = 0, ccMinor = 0;
  int arch = 0; ///< ccMajor * 10 + ccMinor: sm_<arch>
  size_t totalMemory = 0;
  int multiprocessors = 0;
  int maxThreadsPerBlock = 0;
  std::array<int, 3> maxBlock{}, maxGrid{};
  int maxSmemPerBlock = 0;      ///< without opt-in (48 KiB)
  int maxSmemPerBlockOptin = 0; ///< with CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_...
  int driverVersion = 0;

  /// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB, driver CUDA 13.0)".
  std::string describe() const;
};

/// The device an executor would use (STC_CUDA_DEVICE, default 0), checked
/// for use: the driver loads, compute capability >= 7.0 and NVRTC can
/// compile for it. Errors start with "no CUDA device: " or say what is
/// wrong with the device.
Expected<CudaDeviceInfo> probeCudaDevice();

class CudaExecutor final : public Executor {
public:
  /// Loads the driver, checks the device and makes its primary context
  /// current. Fails cleanly on machines without a driver or device.
  static Expected<std::unique_ptr<CudaExecutor>> create();
  ~CudaExecutor() override;

  const char *name() const override { return "cuda"; }
  const CudaDeviceInfo &device() const { return dev_; }
  /// Of the allocate() that compiled the kernels.
  const CompileStats &compileStats() const { return compileStats_; }
  /// How the GEMMs run: "G plans (B strided-batched groups, W widened, E
  /// with epilogues in helper kernels)".
  std::string gemmSummary() const;
  /// Runs so far that replayed a captured graph, and captures made.
  int64_t graphReplays() const { return graphReplays_; }
  int64_t graphCaptures() const { return graphCaptures_; }
  /// cuMemGetInfo's used bytes after the largest run, less before allocate:
  /// everything this executor took (other processes on the device count
  /// too, so measure on an otherwise idle GPU).
  int64_t deviceBytesInUse() const override { return deviceBytes_; }

protected:
  Status allocateImpl() override;
  Status uploadImpl(const Buffer &b, const void *data) override;
  Status downloadImpl(const Buffer &b, void *data) const override;
  Expected<std::vector<double>> timeImpl(EntryKind kind, const Entry &entry,
                                         size_t begin, size_t end,
                                         int repeats) override;
  Expected<std::vector<double>> profileImpl(EntryKind kind,
                                            const Entry &entry) override;
  Status accumulateGradientsImpl(bool first) override;
  Status averageGradientsImpl(double scale) override;
  /// One launch of fn(sum slice, gradient, is bf16, extra, elements) per
  /// parameter, then a stream synchronize; extra is `first` (int) or
  /// `scale` (double), the kernels' fourth parameter.
  template <typename Extra>
  Status launchPerGradient(CUfunction fn, const char *entry, Extra extra);
  Status runImpl(EntryKind kind, const Entry &entry, size_t begin,
                 size_t end) override;

private:
  struct OpPlan;
  CudaExecutor(const DriverApi &drv, CudaDeviceInfo dev, CUdevice device,
               CUcontext ctx);

  Status makeCurrent() const;
  Status checkLaunchShapes() const;
  Status checkMemory(size_t tablesBytes, size_t auxBytes) const;
  Status buildLayoutTables(std::vector<uint8_t> &staging,
                           std::vector<std::array<size_t, 6>> &offsets) const;
  Status planGemms();
  Status compileAndLoad();
  Status planOps();
  Status launch(const OpPlan &op);
  /// Captures the whole entry's ops the first time, then launches the graph.
  Status launchGraph(EntryKind kind);
  void destroyGraphs();
  Status checkIds(int buffer, int64_t V, const char *what) const;
  Status checkGnorm(int buffer) const;
  void release();

  const DriverApi &drv_;
  CudaDeviceInfo dev_;
  CUdevice device_ = 0;
  CUcontext ctx_ = nullptr;
  bool syncEachOp_ = false;
  bool graphsEnabled_ = true; ///< STC_CUDA_GRAPHS unset or not "0"
  CUstream stream_ = nullptr; ///< every launch; blocking w.r.t. stream 0
  std::array<CUgraphExec, kNumEntryKinds> graphs_{};
  int64_t graphReplays_ = 0, graphCaptures_ = 0;
  int64_t usedBeforeAllocate_ = -1, deviceBytes_ = -1;
  int64_t usedDeviceBytes() const; ///< the device's, -1 if unknown

  CUdeviceptr arena_ = 0;  ///< the manifest's arena
  CUdeviceptr tables_ = 0; ///< layout tables (int32)
  CUdeviceptr aux_ = 0;    ///< cuBLASLt workspace + gemm scratch
  /// Per layout: row_ptr, col_idx, classes, col_ptr, row_idx, col_classes.
  std::vector<std::array<CUdeviceptr, 6>> layoutPtrs_;

  std::vector<CUmodule> modules_;     ///< per artifact kernel (+ helpers)
  std::vector<CUfunction> functions_; ///< per artifact kernel
  CUmodule helperModule_ = nullptr;
  CUfunction gradAccumulate_ = nullptr, gradAverage_ = nullptr;
  CUdeviceptr gradientSum_ = 0; ///< accumulation's f32 sum, on first use
  std::unique_ptr<GemmEngine> gemm_;
  std::array<std::vector<OpPlan>, kNumEntryKinds> plans_;
  /// Per op: the GemmEngine plans it runs in order (a gemm: one; a
  /// gemm_group: one strided-batched plan, or one per member).
  std::array<std::vector<std::vector<int>>, kNumEntryKinds> gemmPlans_;
  CompileStats compileStats_;

  /// The scalars buffer as last uploaded (no op writes it): position and
  /// step checks need no device round trip.
  std::array<uint8_t, 64> scalarsShadow_{};
};

} // namespace stc::rt::cuda

#endif // STC_RUNTIME_CUDA_CUDAEXECUTOR_H
