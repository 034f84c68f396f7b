//===- PlanMemory.cpp - stc-plan-memory -----------------------------------===//
//
// Places every stk.buffer in one arena: persistent buffers (parameters,
// moments, scalars) side by side, then the rest packed by live range so that
// buffers never live at the same time share bytes. Sampling caches live for
// the whole sample program (a sampling session refills them from position
// 0), so they share bytes with the training step's activations, not with the
// persistent buffers. The peak is known here, at compile time.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "abi/Limits.h"

#include "dialect/stk/StkOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/Format.h"

#include <algorithm>
#include <optional>

namespace stc {
#define GEN_PASS_DEF_PLANMEMORYPASS
#include "passes/Passes.h.inc"
} // namespace stc

using namespace mlir;
using namespace stc;

namespace {

int64_t alignUp(int64_t v) {
  return (v + abi::kBufferAlignment - 1) / abi::kBufferAlignment *
         abi::kBufferAlignment;
}

struct Interval {
  stk::BufferOp buffer;
  int64_t begin = 0, end = 0; ///< inclusive, on the concatenated op timeline
  int64_t size = 0;
  int64_t offset = -1;
  int64_t order = 0; ///< declaration order, to break ties deterministically
};

struct PlanMemoryPass : public stc::impl::PlanMemoryPassBase<PlanMemoryPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Live ranges on one timeline: programs run one at a time, so ranges of
    // different programs never overlap.
    llvm::DenseMap<StringAttr, Interval> ranges;
    int64_t clock = 0;
    std::optional<std::pair<int64_t, int64_t>> sampleRange;
    for (auto program : module.getOps<stk::ProgramOp>()) {
      int64_t start = clock;
      auto touch = [&](Attribute ref, int64_t at) {
        auto name = cast<FlatSymbolRefAttr>(ref).getAttr();
        auto [it, inserted] = ranges.try_emplace(name);
        if (inserted) {
          it->second.begin = at;
          it->second.end = at;
        }
        it->second.begin = std::min(it->second.begin, at);
        it->second.end = std::max(it->second.end, at);
      };
      // The runtime writes inputs before the step and reads outputs after.
      for (NamedAttribute in : program.getInputs())
        touch(in.getValue(), start);
      for (Operation &op : program.getBody().front()) {
        ++clock;
        for (Attribute arg : cast<stk::LaunchOp>(op).getArgs())
          touch(arg, clock);
      }
      ++clock;
      for (NamedAttribute out : program.getOutputs())
        touch(out.getValue(), clock);
      if (program.getSymName() == "sample_step")
        sampleRange = {start, clock};
    }

    int64_t offset = 0, persistentBytes = 0;
    std::vector<Interval> transient;
    for (auto buffer : module.getOps<stk::BufferOp>()) {
      int64_t size = alignUp(std::max<int64_t>(buffer.sizeInBytes(), 1));
      if (buffer.isPersistent()) {
        buffer.setOffsetAttr(IntegerAttr::get(IntegerType::get(&getContext(), 64), offset));
        offset += size;
        persistentBytes += size;
        continue;
      }
      auto it = ranges.find(buffer.getSymNameAttr());
      if (it == ranges.end()) {
        buffer.emitWarning() << "is never used; it gets no memory";
        buffer.setOffsetAttr(IntegerAttr::get(IntegerType::get(&getContext(), 64), 0));
        continue;
      }
      Interval iv = it->second;
      if (buffer.isSession()) {
        if (!sampleRange) {
          buffer.emitError() << "is a sampling cache but the module has no "
                                "sample_step program";
          return signalPassFailure();
        }
        iv.begin = sampleRange->first;
        iv.end = sampleRange->second;
      }
      iv.buffer = buffer;
      iv.size = size;
      iv.order = static_cast<int64_t>(transient.size());
      transient.push_back(iv);
    }

    // Largest first, each at the lowest offset free for its whole range.
    std::sort(transient.begin(), transient.end(),
              [](const Interval &a, const Interval &b) {
                return a.size != b.size ? a.size > b.size : a.order < b.order;
              });
    int64_t transientPeak = 0;
    std::vector<const Interval *> placed;
    for (Interval &iv : transient) {
      std::vector<std::pair<int64_t, int64_t>> busy;
      for (const Interval *other : placed)
        if (other->begin <= iv.end && iv.begin <= other->end)
          busy.push_back({other->offset, other->offset + other->size});
      std::sort(busy.begin(), busy.end());
      int64_t candidate = 0;
      for (auto [lo, hi] : busy) {
        if (candidate + iv.size <= lo)
          break;
        candidate = std::max(candidate, hi);
      }
      iv.offset = candidate;
      transientPeak = std::max(transientPeak, candidate + iv.size);
      placed.push_back(&iv);
    }
    for (Interval &iv : transient)
      iv.buffer.setOffsetAttr(IntegerAttr::get(IntegerType::get(&getContext(), 64),
                                               offset + iv.offset));
    int64_t arena = offset + transientPeak;
    module->setAttr("stk.arena_bytes",
                    IntegerAttr::get(IntegerType::get(&getContext(), 64), arena));
    module->setAttr("stk.persistent_bytes",
                    IntegerAttr::get(IntegerType::get(&getContext(), 64),
                                     persistentBytes));
    mlir::emitRemark(module.getLoc()) << "arena " << abi::bytesText(arena) << ": persistent "
                        << abi::bytesText(persistentBytes) << ", activations and "
                        << "gradients " << abi::bytesText(transientPeak);
    if (arena > abi::kMaxArenaBytes) {
      module.emitError() << "the model needs " << abi::bytesText(arena)
                         << " of device memory, over stc's limit of "
                         << abi::bytesText(abi::kMaxArenaBytes)
                         << "; lower the batch or the context";
      return signalPassFailure();
    }
    if (budget > 0 && arena > budget) {
      module.emitError() << "the model needs " << abi::bytesText(arena)
                         << " of device memory (persistent " << abi::bytesText(persistentBytes)
                         << ", activations and gradients " << abi::bytesText(transientPeak)
                         << "), over the budget of " << abi::bytesText(budget)
                         << "; lower the batch or the context, or raise the budget";
      signalPassFailure();
    }
  }
};

} // namespace
