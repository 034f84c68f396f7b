//===- CpuExecutor.h - The reference executor -------------------*- C++ -*-===//
//
// Runs an artifact on the host with the ops of CpuOps.h. Memory is one arena
// laid out exactly as the manifest says, so a wrong memory plan shows up here
// as wrong numbers, the same way it would on the GPU. bf16 buffers are
// widened to float for each op and rounded back (nearest even) afterwards.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_CPU_CPUEXECUTOR_H
#define STC_RUNTIME_CPU_CPUEXECUTOR_H

#include "runtime/Executor.h"
#include "runtime/cpu/CpuOps.h"

#include <cstdlib>
#include <memory>
#include <vector>

namespace stc::rt {

class CpuExecutor final : public Executor {
public:
  CpuExecutor() = default;
  const char *name() const override { return "cpu"; }

  /// The arena bytes of a buffer (tests and debugging); null before
  /// allocate() or for an unknown index.
  uint8_t *bufferData(int bufferIndex);

protected:
  Status allocateImpl() override;
  Status uploadImpl(const Buffer &b, const void *data) override;
  Status downloadImpl(const Buffer &b, void *data) const override;
  Status runImpl(EntryKind kind, const Entry &entry, size_t begin,
                 size_t end) override;

private:
  Status runOp(const Op &op);

  struct FreeDeleter {
    void operator()(uint8_t *p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, FreeDeleter> rawArena_;
  uint8_t *arena_ = nullptr; ///< rawArena_ rounded up to kBufferAlignment
  std::vector<cpu::DenseMask> masks_; ///< one per artifact layout
};

} // namespace stc::rt

#endif // STC_RUNTIME_CPU_CPUEXECUTOR_H
