//===- FoldSummaryGathers.cpp - stc-fold-summary-gathers ------------------===//
//
// stc-normalize-patterns splits fixed(l, c) into an attention over the
// sequence's own keys plus one over the summary columns, which
// stc-lower-to-kernels lowers as written: summary_gather copies the summary
// rows of k and v into dense buffers, the summaries' attention reads those,
// and its backward writes their gradients into dense buffers that
// summary_scatter adds back (with `accumulate`, after stc-fuse-accumulate).
// Each copy is a pass over memory and a launch, four per layer and step in
// the forward and six in the backward.
//
// This pass moves the gathers into the attention kernels' loads and the
// scatters into their stores (abi/Ops.def, attention_fwd: gather_block,
// gather_summary; the backward's accumulate):
//
//   - an attention launch (attention_fwd, attention_bwd,
//     attention_bwd_atomic) whose k and v are each written only by a
//     summary_gather of the same (block, summary), from k' and v' that
//     nothing writes between the gather and the attention, reads k' and v'
//     itself with gather_block / gather_summary set;
//   - a gather whose output nobody reads any more goes, with its buffer;
//   - such an attention backward whose dk and dv are read only by a
//     summary_scatter each (accumulate, the same block and summary) into
//     x_k and x_v, complete before it and untouched between it and the
//     scatters, adds into x_k and x_v itself (`accumulate`); the scatters
//     and the dense gradient buffers go.
//
// The forward maps every key tile of its inner loop, so the map must be
// cheap there (KeyRows: unsigned 32-bit arithmetic): fixed(128, 32) at
// n = 16384 on an H100, forward 1.28 ms with the gathers, 1.22 folded
// (1.48 with signed 64-bit division); backward 4.29 -> 3.98 ms
// (bench/attention/LOG.md).
//
// Exact: the kernels read and write the same rows the copies did. In
// floating point the summaries' dk and dv are rounded once (added to x in
// fp32) instead of twice. The module gets `stk.folded_summary_ops`, the
// number of launches removed.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "passes/Launches.h"

#include "dialect/stk/StkOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

namespace stc {
#define GEN_PASS_DEF_FOLDSUMMARYGATHERSPASS
#include "passes/Passes.h.inc"
} // namespace stc

using namespace mlir;
using namespace stc;
using stc::launches::LaunchInfo;

namespace {

bool isAttention(const LaunchInfo &op) {
  StringRef k = op.kind();
  return k == "attention_fwd" || k == "attention_bwd" ||
         k == "attention_bwd_atomic";
}

bool isBackward(const LaunchInfo &op) {
  return op.kind() != "attention_fwd";
}

int64_t intParam(const LaunchInfo &op, StringRef name) {
  return launches::intParam(op.params(), name);
}

bool boolParam(const LaunchInfo &op, StringRef name) {
  return launches::flagParam(op.params(), name);
}

struct FoldSummaryGathersPass
    : public stc::impl::FoldSummaryGathersPassBase<FoldSummaryGathersPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::DenseSet<StringAttr> pinned = launches::pinnedBuffers(module);
    llvm::DenseMap<StringAttr, stk::BufferOp> buffers =
        launches::buffersByName(module);

    int64_t removed = 0;
    auto step = [&](ArrayRef<LaunchInfo> ops, size_t i) {
      if (isAttention(ops[i]) && foldGathers(ops, i))
        return true;
      if (ops[i].kind() == "summary_gather" &&
          eraseUnread(ops, i, pinned, buffers)) {
        ++removed;
        return true;
      }
      if (isAttention(ops[i]) && isBackward(ops[i]) &&
          foldScatters(ops, i, pinned, buffers)) {
        removed += 2;
        return true;
      }
      return false;
    };
    if (!launches::rewriteUntilFixpoint(module, step))
      return signalPassFailure(); // the verifier has said why
    launches::recordCount(module, "stk.folded_summary_ops", removed);
  }

  /// Attention i reads k and v through their summary gathers.
  bool foldGathers(ArrayRef<LaunchInfo> ops, size_t i) {
    const LaunchInfo &attn = ops[i];
    if (intParam(attn, "gather_block") != 0)
      return false;
    auto ki = attn.arg("k"), vi = attn.arg("v");
    if (!ki || !vi)
      return false;
    struct Source {
      size_t arg;
      StringAttr from;
      int64_t block, summary, width;
    };
    SmallVector<Source, 2> sources;
    for (size_t a : {*ki, *vi}) {
      auto g = launches::soleWriter(ops, attn.args[a]);
      if (!g || *g >= i || ops[*g].kind() != "summary_gather")
        return false;
      const LaunchInfo &gather = ops[*g];
      StringAttr from = gather.args[0];
      if (launches::namedBetween(ops, from, *g, i, true))
        return false;
      sources.push_back({a, from, intParam(gather, "block"),
                         intParam(gather, "summary"), intParam(gather, "D")});
      if (intParam(gather, "B") != intParam(attn, "B") ||
          intParam(gather, "T") != intParam(attn, "T"))
        return false;
    }
    const int64_t H = intParam(attn, "H");
    if (sources[0].block != sources[1].block ||
        sources[0].summary != sources[1].summary ||
        sources[0].width != H * intParam(attn, "dk") ||
        sources[1].width != H * intParam(attn, "dv"))
      return false;

    stk::LaunchOp op = attn.op;
    OpBuilder builder(op);
    SmallVector<Attribute> args(op.getArgs().begin(), op.getArgs().end());
    for (const Source &s : sources)
      args[s.arg] = FlatSymbolRefAttr::get(s.from);
    NamedAttrList params(op.getParams());
    params.set("gather_block", builder.getI64IntegerAttr(sources[0].block));
    params.set("gather_summary",
               builder.getI64IntegerAttr(sources[0].summary));
    op.setArgsAttr(builder.getArrayAttr(args));
    op.setParamsAttr(params.getDictionary(builder.getContext()));
    return true;
  }

  /// Erases gather i when nothing reads its output any more.
  static bool eraseUnread(ArrayRef<LaunchInfo> ops, size_t i,
                          const llvm::DenseSet<StringAttr> &pinned,
                          llvm::DenseMap<StringAttr, stk::BufferOp> &buffers) {
    StringAttr y = ops[i].args[1];
    if (pinned.contains(y) || launches::usesOf(ops, y).size() != 1)
      return false;
    stk::LaunchOp op = ops[i].op;
    op.erase();
    if (stk::BufferOp b = buffers.lookup(y)) {
      buffers.erase(y);
      b.erase();
    }
    return true;
  }

  /// Attention backward i adds its dk and dv into the buffers their
  /// summary scatters add them to.
  bool foldScatters(ArrayRef<LaunchInfo> ops, size_t i,
                    const llvm::DenseSet<StringAttr> &pinned,
                    llvm::DenseMap<StringAttr, stk::BufferOp> &buffers) {
    const LaunchInfo &attn = ops[i];
    const int64_t block = intParam(attn, "gather_block"),
                  summary = intParam(attn, "gather_summary");
    if (block == 0 || boolParam(attn, "accumulate"))
      return false;
    auto dki = attn.arg("dk"), dvi = attn.arg("dv");
    if (!dki || !dvi)
      return false;
    struct Target {
      size_t arg, scatter;
      StringAttr grad, into;
    };
    SmallVector<Target, 2> targets;
    for (size_t a : {*dki, *dvi}) {
      StringAttr grad = attn.args[a];
      auto uses = launches::usesOf(ops, grad);
      if (pinned.contains(grad) || uses.size() != 2)
        return false;
      size_t s = uses[0].first == i ? uses[1].first : uses[0].first;
      if (s <= i || ops[s].kind() != "summary_scatter" ||
          ops[s].args[0] != grad || !boolParam(ops[s], "accumulate") ||
          intParam(ops[s], "block") != block ||
          intParam(ops[s], "summary") != summary)
        return false;
      StringAttr into = ops[s].args[1];
      // Complete before the attention, untouched from it to the scatter.
      bool before = false;
      for (auto [k, j] : launches::usesOf(ops, into)) {
        if (k < i)
          before |= ops[k].roles[j] != abi::Role::In;
        else if (k < s)
          return false;
      }
      if (!before)
        return false;
      targets.push_back({a, s, grad, into});
    }
    if (targets[0].into == targets[1].into)
      return false;

    stk::LaunchOp op = attn.op;
    OpBuilder builder(op);
    SmallVector<Attribute> args(op.getArgs().begin(), op.getArgs().end());
    for (const Target &t : targets)
      args[t.arg] = FlatSymbolRefAttr::get(t.into);
    NamedAttrList params(op.getParams());
    params.set("accumulate", builder.getBoolAttr(true));
    op.setArgsAttr(builder.getArrayAttr(args));
    op.setParamsAttr(params.getDictionary(builder.getContext()));
    for (const Target &t : targets) {
      stk::LaunchOp scatter = ops[t.scatter].op;
      scatter.erase();
      if (stk::BufferOp b = buffers.lookup(t.grad)) {
        buffers.erase(t.grad);
        b.erase();
      }
    }
    return true;
  }
};

} // namespace
