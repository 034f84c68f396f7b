//===- PlanMemory.cpp - stc-plan-memory -----------------------------------===//
//
// Places every stk.buffer in one arena: persistent buffers (parameters,
// moments, scalars) side by side, then the rest packed by live range so that
// buffers never live at the same time share bytes. Sampling caches live for
// the whole sample program (a sampling session refills them from position
// 0), so they share bytes with the training step's activations, not with the
// persistent buffers. The buffers of each list in `stk.buffer_groups`
// (stc-group-gemms) lie side by side, in order, each list placed as one
// buffer over its members' joint live range. The peak is known here, at
// compile time.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "abi/Limits.h"

#include "dialect/stk/StkOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
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
  /// A list of stk.buffer_groups: its buffers, side by side from offset.
  std::vector<stk::BufferOp> members;
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

    // The lists of buffers placed side by side: each buffer's list.
    llvm::DenseMap<StringAttr, std::vector<stk::BufferOp>> groupOf;
    if (auto lists = module->getAttrOfType<ArrayAttr>("stk.buffer_groups")) {
      llvm::DenseMap<StringAttr, stk::BufferOp> byName;
      for (auto buffer : module.getOps<stk::BufferOp>())
        byName[buffer.getSymNameAttr()] = buffer;
      for (Attribute listAttr : lists) {
        auto list = dyn_cast<ArrayAttr>(listAttr);
        std::vector<stk::BufferOp> members;
        for (Attribute ref : list ? list.getValue() : ArrayRef<Attribute>()) {
          auto name = dyn_cast<FlatSymbolRefAttr>(ref);
          stk::BufferOp b = name ? byName.lookup(name.getAttr()) : nullptr;
          if (!b || groupOf.count(name.getAttr()) || b.isSession() ||
              (!members.empty() &&
               (b.sizeInBytes() != members[0].sizeInBytes() ||
                b.isPersistent() != members[0].isPersistent()))) {
            module.emitError()
                << "stk.buffer_groups: " << listAttr
                << " must list distinct buffers of one size and lifetime "
                   "kind, each in one list (stc-group-gemms writes it)";
            return signalPassFailure();
          }
          members.push_back(b);
        }
        if (members.empty()) {
          module.emitError() << "stk.buffer_groups: " << listAttr
                             << " must be a non-empty list of buffers";
          return signalPassFailure();
        }
        for (stk::BufferOp b : members)
          groupOf[b.getSymNameAttr()] = members;
      }
    }

    int64_t offset = 0, persistentBytes = 0;
    std::vector<Interval> transient;
    llvm::DenseSet<StringAttr> placedInGroup;
    for (auto buffer : module.getOps<stk::BufferOp>()) {
      int64_t size = alignUp(std::max<int64_t>(buffer.sizeInBytes(), 1));
      if (placedInGroup.contains(buffer.getSymNameAttr()))
        continue;
      auto group = groupOf.find(buffer.getSymNameAttr());
      if (group != groupOf.end()) {
        const std::vector<stk::BufferOp> &members = group->second;
        for (stk::BufferOp b : members)
          placedInGroup.insert(b.getSymNameAttr());
        if (buffer.isPersistent()) {
          for (stk::BufferOp b : members) {
            b.setOffsetAttr(IntegerAttr::get(IntegerType::get(&getContext(), 64), offset));
            offset += size;
            persistentBytes += size;
          }
          continue;
        }
        // One interval over the members' joint live range.
        Interval iv;
        bool used = false;
        for (stk::BufferOp b : members) {
          auto r = ranges.find(b.getSymNameAttr());
          if (r == ranges.end())
            continue;
          iv.begin = used ? std::min(iv.begin, r->second.begin) : r->second.begin;
          iv.end = used ? std::max(iv.end, r->second.end) : r->second.end;
          used = true;
        }
        if (!used) {
          for (stk::BufferOp b : members)
            b.setOffsetAttr(IntegerAttr::get(IntegerType::get(&getContext(), 64), 0));
          continue;
        }
        iv.buffer = buffer;
        iv.members = members;
        iv.size = size * static_cast<int64_t>(members.size());
        iv.order = static_cast<int64_t>(transient.size());
        transient.push_back(iv);
        continue;
      }
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
    for (Interval &iv : transient) {
      if (iv.members.empty()) {
        iv.buffer.setOffsetAttr(IntegerAttr::get(
            IntegerType::get(&getContext(), 64), offset + iv.offset));
        continue;
      }
      const int64_t each = iv.size / static_cast<int64_t>(iv.members.size());
      for (size_t k = 0; k < iv.members.size(); ++k)
        iv.members[k].setOffsetAttr(
            IntegerAttr::get(IntegerType::get(&getContext(), 64),
                             offset + iv.offset + static_cast<int64_t>(k) * each));
    }
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
