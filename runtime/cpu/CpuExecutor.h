//===- CpuExecutor.h - The reference executor -------------------*- C++ -*-===//
//
// Runs an artifact on the host with the ops of CpuOps.h. Memory is one arena
// laid out exactly as the manifest says, so a wrong memory plan shows up here
// as wrong numbers, the same way it would on the GPU. bf16 and f16 buffers
// are widened to float for each op and rounded back (nearest even)
// afterwards.
//
// Precision::F64 (for gradient checks only, never for training speed): every
// floating buffer (f32, bf16, f16 in the manifest) is held as double and every
// op computes in double, so finite differences of a whole model's loss are
// accurate to ~1e-10 instead of ~1e-3. The arena is then a scaled copy of
// the manifest's: a buffer at byte offset o lives at scale * o, scale = 2
// (8-byte doubles for 4-byte f32; 4 if any floating buffer is 16-bit), so
// buffers that share bytes in the plan still share them (exactly so when
// all floating buffers are f32). i32 buffers and the `scalars` block keep
// their bytes as they are. upload/download convert at the boundary: floats
// (f32) or 16-bit bits in, doubles inside, rounded back to the buffer's dtype
// on the way out; a checkpoint of an F64 executor therefore holds the values
// rounded to the manifest's dtypes. uploadDoubles/downloadDoubles move
// doubles without rounding (in F32 mode they convert to/from the buffer's
// dtype).
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_CPU_CPUEXECUTOR_H
#define STC_RUNTIME_CPU_CPUEXECUTOR_H

#include "runtime/Executor.h"
#include "runtime/cpu/CpuOps.h"

#include <cstdlib>
#include <memory>
#include <string_view>
#include <vector>

namespace stc::rt {

class CpuExecutor final : public Executor {
public:
  enum class Precision : uint8_t {
    F32, ///< the manifest's dtypes (the reference; what training uses)
    F64, ///< every floating buffer held and computed in double
  };
  struct Options {
    Precision precision = Precision::F32;
  };

  CpuExecutor() = default;
  explicit CpuExecutor(const Options &options) : options_(options) {}
  const char *name() const override {
    return options_.precision == Precision::F64 ? "cpu-f64" : "cpu";
  }
  Precision precision() const { return options_.precision; }

  /// The arena bytes of a buffer (tests and debugging); null before
  /// allocate() or for an unknown index. In F64 mode a floating buffer's
  /// storage is elements() doubles.
  uint8_t *bufferData(int bufferIndex);

  /// A floating (f32, bf16, f16) buffer's values as doubles. In F64 mode
  /// exact; in F32 mode widened from the buffer's dtype.
  Expected<std::vector<double>> downloadDoubles(std::string_view buffer) const;
  /// Writes a floating buffer from doubles. In F64 mode exact; in F32 mode
  /// rounded to the buffer's dtype. values.size() must be elements().
  Status uploadDoubles(std::string_view buffer,
                       const std::vector<double> &values);

protected:
  Status allocateImpl() override;
  Status uploadImpl(const Buffer &b, const void *data) override;
  Status downloadImpl(const Buffer &b, void *data) const override;
  Status runImpl(EntryKind kind, const Entry &entry, size_t begin,
                 size_t end) override;
  /// F64 mode sums in double (exact comparisons stay exact); F32 mode
  /// sums in float like every other executor.
  Status accumulateGradientsImpl(bool first) override;
  Status averageGradientsImpl(double scale) override;

private:
  template <typename T, typename Args> Status runOp(const Op &op, Args &args);
  /// Whether buffer b is held as double (F64 mode, floating, not scalars).
  bool heldAsDouble(const Buffer &b) const;
  /// Where buffer b's storage starts in the arena.
  uint8_t *storage(const Buffer &b) const;
  Expected<const Buffer *> floatingBuffer(std::string_view name,
                                          const char *what) const;

  Options options_;
  int64_t scale_ = 1; ///< arena offset scale: 1 (F32), 2 or 4 (F64)
  struct FreeDeleter {
    void operator()(uint8_t *p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, FreeDeleter> rawArena_;
  uint8_t *arena_ = nullptr; ///< rawArena_ rounded up to abi::kBufferAlignment
  std::vector<cpu::AttentionMask> masks_; ///< one per artifact layout
  std::vector<double> gradientSum64_;     ///< F64 mode's accumulation
};

namespace cpu {
/// An attention op's score modifications.
inline ScoreMods scoreMods(const OpAttrs &at) {
  return ScoreMods{at.softcap, at.alibi, at.alibiFirst};
}

/// The reference attention's shape for an attention op of the artifact.
inline AttentionShape attentionShape(const OpAttrs &at) {
  AttentionShape s;
  s.B = at.B;
  s.T = at.T;
  s.H = at.H;
  s.dk = at.dk;
  s.dv = at.dv;
  s.scale = at.scale;
  s.headsPerLayout = at.headsPerLayout;
  s.mods = scoreMods(at);
  return s;
}
} // namespace cpu

} // namespace stc::rt

#endif // STC_RUNTIME_CPU_CPUEXECUTOR_H
