//===- Executor.h - Runs an artifact's entry points -------------*- C++ -*-===//
//
// An Executor owns the memory of one artifact (one arena holding every
// buffer, as the manifest's offsets say) and runs its entry points. The CPU
// executor (runtime/cpu) is the reference; the CUDA executor implements the
// same interface. Argument checking that does not depend on the device
// (unknown buffer names, wrong sizes, absent entries, calls before allocate)
// lives here, once, in the public non-virtual methods; a device implements
// the protected *Impl hooks and may assume their arguments are valid.
//
// Host data is always in the buffer's own dtype: f32 as float, i32 as
// int32_t, bf16 and f16 as their raw uint16_t bits (round to nearest even;
// see DType.h). uploadFloats/downloadFloats convert for 16-bit buffers.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_EXECUTOR_H
#define STC_RUNTIME_EXECUTOR_H

#include "runtime/Artifact.h"
#include "runtime/Status.h"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace stc::rt {

/// What the runtime writes into the `scalars` buffer before each step. Slots
/// 4..15 are written as zero (reserved).
struct Scalars {
  float learningRate = 0;   ///< slot 0, f32
  int32_t step = 0;         ///< slot 1, i32: optimizer step, 1-based
  uint32_t dropoutSeed = 0; ///< slot 2, u32
  int32_t position = 0;     ///< slot 3, i32: sample_step's position
};

/// The 64 bytes of the scalars buffer (little-endian host layout).
std::array<uint8_t, 64> packScalars(const Scalars &s);
Scalars unpackScalars(const uint8_t *bytes64);

class Executor {
public:
  virtual ~Executor();

  /// "cpu", "cuda", ...
  virtual const char *name() const = 0;

  /// Binds a validated artifact: allocates the arena (all zero) and
  /// prepares whatever the device needs (kernels, masks, library handles).
  /// May be called once.
  Status allocate(std::shared_ptr<const Artifact> artifact);
  bool allocated() const { return artifact_ != nullptr; }
  /// Only valid after a successful allocate().
  const Artifact &artifact() const { return *artifact_; }

  /// Copies exactly the buffer's `bytes` from / to host memory.
  Status upload(std::string_view buffer, const void *data, size_t bytes);
  Status download(std::string_view buffer, void *data, size_t bytes) const;

  /// Float helpers: convert to/from bf16 / f16 for 16-bit buffers; f32
  /// buffers copy.
  /// `values.size()` must equal the buffer's element count.
  Status uploadFloats(std::string_view buffer,
                      const std::vector<float> &values);
  Expected<std::vector<float>> downloadFloats(std::string_view buffer) const;
  Status uploadInts(std::string_view buffer,
                    const std::vector<int32_t> &values);

  /// Writes the `scalars` buffer.
  Status writeScalars(const Scalars &s);

  /// Runs an entry point's ops in order, to completion (synchronous: when it
  /// returns, outputs can be downloaded). Errors an op detects from data
  /// (a token outside [0, vocab), a position outside the context) fail the
  /// step with a message naming the op.
  Status run(EntryKind entry);

  /// Runs ops [begin, end) of an entry only, to completion. For debugging:
  /// run two executors op by op and compare buffers to find the first op
  /// that diverges. Data the skipped ops would produce is whatever the
  /// buffers hold.
  Status runOps(EntryKind entry, size_t begin, size_t end);

  /// Times ops [begin, end) of an entry: runs them once (checked, like
  /// runOps), then `repeats` more times, and returns each repeat's time in
  /// milliseconds. The CUDA executor times on the device with events and
  /// launches the repeats back to back; others time on the host clock.
  Expected<std::vector<double>> timeOps(EntryKind entry, size_t begin,
                                        size_t end, int repeats);

  /// Times every op of an entry inside whole runs of it, and the whole
  /// entry: runs it once (checked, like run), then `repeats` times op by op
  /// and `repeats` times whole, restoring the entry's inputs as they were at
  /// the call before every run (the arena reuses input buffers within a
  /// run). Times are medians in milliseconds. The CUDA executor records an
  /// event after every op of one stream of launches, so an op's time
  /// includes the gap before it; others time each op on the host clock.
  struct OpTimes {
    std::vector<double> opMs; ///< per op, in op order
    double wholeMs = 0;       ///< the entry timed alone
  };
  Expected<OpTimes> profileOps(EntryKind entry, int repeats);

  /// Gradient accumulation (stc train --accumulate K): a float32 sum of
  /// every parameter's gradient buffer, held outside the arena (taken on
  /// first use, accumulationBytes() of it). accumulateGradients(first):
  /// sum = (first ? 0 : sum) + gradients, after a training step's forward
  /// and backward; averageGradients(scale): each gradient buffer = sum *
  /// scale, rounded to its dtype, before the optimizer's ops run.
  Status accumulateGradients(bool first);
  Status averageGradients(double scale);

  /// Device memory this executor has taken for the artifact, measured (not
  /// what it asked for): for the CUDA executor the growth of the device's
  /// used memory from before allocate to the largest seen after a run
  /// (arena, layout tables, cuBLASLt workspace, kernel code, graphs); -1
  /// where there is no device.
  virtual int64_t deviceBytesInUse() const { return -1; }

protected:
  /// Allocate the arena (zero-filled) and prepare. artifact() is set.
  virtual Status allocateImpl() = 0;
  /// Copy b.bytes bytes into / out of buffer b.
  virtual Status uploadImpl(const Buffer &b, const void *data) = 0;
  virtual Status downloadImpl(const Buffer &b, void *data) const = 0;
  /// Run ops [begin, end) of the entry, in order, to completion; the entry
  /// is present and 0 <= begin <= end <= entry.ops.size().
  virtual Status runImpl(EntryKind kind, const Entry &entry, size_t begin,
                         size_t end) = 0;
  /// Times `repeats` runs of ops [begin, end) (already run once); the
  /// default times runImpl on the host clock.
  virtual Expected<std::vector<double>>
  timeImpl(EntryKind kind, const Entry &entry, size_t begin, size_t end,
           int repeats);
  /// One run of every op of the entry (already run once), each op's time in
  /// milliseconds; the default times runImpl per op on the host clock.
  virtual Expected<std::vector<double>> profileImpl(EntryKind kind,
                                                    const Entry &entry);
  /// The sum of the gradients, in float32 (the parameters' gradient
  /// buffers are artifact().params[i].grad, in order). The defaults keep it
  /// in host memory and copy the buffers through download/upload.
  virtual Status accumulateGradientsImpl(bool first);
  virtual Status averageGradientsImpl(double scale);

private:
  /// The named buffer of the allocated artifact, or an error naming it.
  Expected<const Buffer *> find(std::string_view name) const;
  /// find(), and `bytes` must be the buffer's exact size.
  Expected<const Buffer *> lookup(std::string_view name, size_t bytes) const;
  std::shared_ptr<const Artifact> artifact_;
  std::vector<float> gradientSum_; ///< the default accumulation's sum
  bool accumulating_ = false;      ///< accumulateGradients has run
};

/// Bytes of the float32 gradient sum that accumulation takes (one float per
/// element of every parameter).
int64_t accumulationBytes(const Artifact &a);

/// Whether every parameter has a gradient buffer (an artifact without a
/// training step has none); the error names the first that has not.
Status checkGradientBuffers(const Artifact &a);

/// Accumulation kept on the host, in T (float; double for the fp64 CPU
/// executor): `read(name)` gives a gradient buffer's values as
/// Expected<std::vector<T>>, `write(name, values)` stores them.
template <typename T, typename Read>
Status addGradientsOnHost(const Artifact &a, std::vector<T> &sum, bool first,
                          Read read) {
  if (first)
    sum.assign(static_cast<size_t>(accumulationBytes(a)) / sizeof(float), T(0));
  size_t at = 0;
  for (const Param &p : a.params) {
    auto g = read(a.buffers[p.grad].name);
    if (!g)
      return g.status();
    for (T v : *g)
      sum[at++] += v;
  }
  return Status::ok();
}

template <typename T, typename Write>
Status writeMeanGradientsFromHost(const Artifact &a, const std::vector<T> &sum,
                                  double scale, Write write) {
  size_t at = 0;
  for (const Param &p : a.params) {
    const Buffer &g = a.buffers[p.grad];
    std::vector<T> v(static_cast<size_t>(g.elements()));
    for (T &x : v)
      x = static_cast<T>(static_cast<double>(sum[at++]) * scale);
    STC_RETURN_IF_ERROR(write(g.name, v));
  }
  return Status::ok();
}

/// Device memory an executor plans for the artifact: the arena, the layout
/// tables and the cuBLASLt workspace in whole pages, and an allowance for
/// kernel code (abi::plannedDeviceBytes); what stc inspect predicts from
/// the model.
int64_t plannedDeviceBytes(const Artifact &a);

/// Executors this build knows: "cpu" always, "cuda" when built with CUDA.
std::vector<std::string> availableExecutors();

/// Creates an unallocated executor by name; an unknown name lists the valid
/// ones.
Expected<std::unique_ptr<Executor>> createExecutor(std::string_view kind);

#ifdef STC_HAVE_CUDA_EXECUTOR
/// Provided by the CUDA executor (runtime/cuda). Fails cleanly, saying why
/// ("no CUDA device: ..."), on machines without a usable GPU and driver.
Expected<std::unique_ptr<Executor>> createCudaExecutor();
#endif

} // namespace stc::rt

#endif // STC_RUNTIME_EXECUTOR_H
