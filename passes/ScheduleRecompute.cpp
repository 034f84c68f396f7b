//===- ScheduleRecompute.cpp - stc-schedule-recompute ---------------------===//
//
// Recomputation in the training step's backward (Passes.td has the
// policies). The forward is cut into segments at the kept values (the ops
// marked st.checkpoint); a segment's values that the backward reads are
// cloned, in forward order, right before the first backward op reading one
// of them, and the backward reads the clones: the originals die in the
// forward, and the memory planner reuses their bytes.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/st/StOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"

#include <algorithm>
#include <optional>
#include <cstdio>
#include <map>

namespace stc {
#define GEN_PASS_DEF_SCHEDULERECOMPUTEPASS
#include "passes/Passes.h.inc"
} // namespace stc

using namespace mlir;
using namespace stc;
using namespace stc::st;

namespace {

int64_t numElements(Type t) {
  auto r = dyn_cast<RankedTensorType>(t);
  return r ? r.getNumElements() : 0;
}

/// 2 M N K of a linear layer (its GEMM), 0 for other ops.
double gemmFlops(Operation *op) {
  auto linear = dyn_cast<LinearOp>(op);
  if (!linear)
    return 0;
  auto w = cast<RankedTensorType>(linear.getWeight().getType());
  return 2.0 * static_cast<double>(numElements(linear.getType())) *
         static_cast<double>(w.getDimSize(0));
}

struct Recompute {
  int64_t blocks = 0, totalBlocks = 0; ///< recomputed / checkpointed
  int64_t ops = 0;
  double flops = 0;
};

/// What a block recomputes, cheapest per byte first: layer norms and
/// elementwise ops (cheap), and its GEMMs (gemm), and its attention
/// (paper: the whole block).
enum class Level { Cheap, Gemm, Paper };

/// Applies policy `level` to one training step, to the first `limit` blocks
/// (all when negative); the blocks after them get `rest` (none: nothing
/// recomputed).
FailureOr<Recompute> recomputeSegments(func::FuncOp fn, int64_t limit,
                                       Level level,
                                       std::optional<Level> rest) {
  Block &body = fn.getBody().front();
  // The loss splits forward from backward: autodiff puts every backward op
  // after the forward's st.cross_entropy.
  Operation *loss = nullptr;
  for (Operation &op : body)
    if (isa<CrossEntropyOp>(op))
      loss = &op;
  if (!loss)
    return fn.emitOpError() << "has no st.cross_entropy; stc-schedule-recompute "
                               "runs on the training step autodiff builds";

  // Segment of each forward op: the number of checkpoints before it. Ops
  // after the last checkpoint (the tail) and checkpoints themselves are kept.
  llvm::DenseMap<Operation *, int64_t> segment;
  llvm::DenseMap<Operation *, int64_t> position;
  int64_t checkpoints = 0, index = 0;
  for (Operation &op : body) {
    if (&op == loss)
      break;
    position[&op] = index++;
    segment[&op] = checkpoints;
    if (op.hasAttr("st.checkpoint"))
      ++checkpoints;
  }
  if (checkpoints == 0)
    return Recompute{}; // nothing marked: nothing to cut at
  // Segment s in 1 .. checkpoints - 1 is block s - 1 (segment 0 precedes the
  // embedding's checkpoint; the tail follows the last block's).
  const int64_t last = limit < 0 ? checkpoints - 1
                                 : std::min<int64_t>(limit, checkpoints - 1);
  auto recomputable = [&](Value v) -> Operation * {
    Operation *def = v.getDefiningOp();
    if (!def || !segment.count(def) || def->hasAttr("st.checkpoint") ||
        segment[def] == 0 || segment[def] >= checkpoints || isa<LoadOp>(def))
      return nullptr;
    const bool full = segment[def] <= last;
    if (!full && !rest)
      return nullptr;
    // Ops whose results are a function of their operands and the step's
    // scalars (dropout: the seed and its salt): cloning them gives the same
    // values. Anything else the backward reads is kept.
    if (!isa<LayerNormOp, LinearOp, GeluOp, AddOp, DropoutOp, AttentionOp>(def))
      return nullptr;
    const Level l = full ? level : *rest;
    if (l == Level::Cheap && isa<LinearOp, AttentionOp>(def))
      return nullptr; // kept: a GEMM or attention costs more than its bytes
    if (l == Level::Gemm && isa<AttentionOp>(def))
      return nullptr; // kept: attention costs the most per byte
    return def;
  };

  // Backward reads of recomputable values, by segment (ordered maps: the
  // clones go in in a deterministic order), in program order.
  std::map<int64_t, Operation *> firstUse;
  std::map<int64_t, llvm::SetVector<Operation *>> needed;
  bool backward = false;
  for (Operation &op : body) {
    if (&op == loss) {
      backward = true;
      continue;
    }
    if (!backward)
      continue;
    for (Value operand : op.getOperands())
      if (Operation *def = recomputable(operand)) {
        int64_t s = segment[def];
        firstUse.try_emplace(s, &op);
        needed[s].insert(def);
      }
  }

  Recompute stats;
  stats.blocks = last;
  stats.totalBlocks = checkpoints - 1;
  OpBuilder builder(fn.getContext());
  for (auto &[s, roots] : needed) {
    // Everything the roots need inside the segment, cloned in forward order.
    llvm::SetVector<Operation *> closure;
    SmallVector<Operation *> work(roots.begin(), roots.end());
    while (!work.empty()) {
      Operation *op = work.pop_back_val();
      if (!closure.insert(op))
        continue;
      for (Value operand : op->getOperands())
        if (Operation *def = recomputable(operand))
          work.push_back(def);
    }
    SmallVector<Operation *> ordered(closure.begin(), closure.end());
    llvm::sort(ordered, [&](Operation *a, Operation *b) {
      return position[a] < position[b];
    });
    Operation *at = firstUse[s];
    builder.setInsertionPoint(at);
    IRMapping map;
    for (Operation *op : ordered) {
      builder.clone(*op, map);
      ++stats.ops;
      stats.flops += gemmFlops(op);
    }
    // Backward ops read the clones (every backward read of a segment value
    // is at or after `at`; the clones read clones or kept values only).
    for (Operation *op : ordered)
      for (Value result : op->getResults())
        result.replaceUsesWithIf(map.lookup(result), [&](OpOperand &use) {
          Operation *user = use.getOwner();
          return !position.count(user) && user != loss;
        });
  }
  return stats;
}

struct ScheduleRecomputePass
    : public stc::impl::ScheduleRecomputePassBase<ScheduleRecomputePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto levelOf = [](StringRef name) -> std::optional<Level> {
      if (name == "cheap")
        return Level::Cheap;
      if (name == "gemm")
        return Level::Gemm;
      if (name == "paper")
        return Level::Paper;
      return std::nullopt;
    };
    const std::optional<Level> level = levelOf(policy);
    if (policy != "none" && !level) {
      module.emitError() << "stc-schedule-recompute: unknown policy '"
                         << policy << "'; valid: none, cheap, gemm, paper";
      return signalPassFailure();
    }
    const std::optional<Level> restLevel = levelOf(rest);
    if ((rest != "none" && (!restLevel || *restLevel == Level::Paper)) ||
        (restLevel && level && *restLevel > *level)) {
      module.emitError() << "stc-schedule-recompute: rest is '" << rest
                         << "'; valid: none, cheap or gemm, and no more than "
                            "the policy ('"
                         << policy << "')";
      return signalPassFailure();
    }
    if (policy == "none")
      return;
    auto fn = module.lookupSymbol<func::FuncOp>("train_step");
    if (!fn)
      return; // nothing trains
    FailureOr<Recompute> stats =
        recomputeSegments(fn, blocks, *level, restLevel);
    if (failed(stats))
      return signalPassFailure();
    char gflops[32];
    std::snprintf(gflops, sizeof gflops, "%.2f", stats->flops / 1e9);
    InFlightDiagnostic remark = mlir::emitRemark(fn.getLoc());
    remark << "recompute (" << policy;
    if (stats->blocks < stats->totalBlocks)
      remark << ", the first " << stats->blocks << " of " << stats->totalBlocks
             << " blocks"
             << (restLevel ? ", " + rest + " in the others" : std::string());
    remark << "): " << stats->ops
           << " forward ops run again in the backward, " << gflops
           << " GFLOP of GEMMs per step";
  }
};

} // namespace
