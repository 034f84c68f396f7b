//===- FuseGemmEpilogues.cpp - stc-fuse-gemm-epilogues --------------------===//
//
// A linear layer's training step runs small launches beside its GEMMs that
// the GEMM's epilogue can do while its tile is in registers (abi/Ops.def's
// gemm epilogues; cuBLASLt's GELU_AUX_BIAS, DGELU and BGRADA on the GPU):
//
//   gemm (C = y) + gelu_fwd (y -> g)      -> gemm with `gelu`, C = g, and
//                                            with `gelu_pre` (pre = y) when
//                                            y is read again (the backward)
//   gemm (C = d) + gelu_bwd (x, d -> dx)  -> gemm with `dgelu`, C = dx,
//                                            gelu_x = x; d is gone (the
//                                            gelu_bwd may come a few
//                                            launches later)
//   gemm (B = dy) + bias_grad (dy -> db)  -> gemm with `bias_grad`, db the
//                                            column sums of B (dy), beside
//                                            the weight gradient
//
// Otherwise only adjacent launches fuse (either order for bias_grad), with matching
// sizes, beta 0 for the gelu epilogues and one epilogue per gemm besides a
// bias. A buffer nothing reads any more is removed. The module gets
// `stk.fused_gemm_epilogues`, the launches removed.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "passes/Launches.h"

#include "dialect/stk/StkOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace stc {
#define GEN_PASS_DEF_FUSEGEMMEPILOGUESPASS
#include "passes/Passes.h.inc"
} // namespace stc

using namespace mlir;
using namespace stc;
using launches::LaunchInfo;

namespace {

bool flag(const LaunchInfo &op, StringRef name) {
  return launches::flagParam(op.params(), name);
}
int64_t intOf(const LaunchInfo &op, StringRef name) {
  return launches::intParam(op.params(), name, -1);
}

/// A gemm that has no epilogue yet besides a bias.
bool plainGemm(const LaunchInfo &op) {
  return op.kind() == "gemm" && !flag(op, "gelu") && !flag(op, "dgelu") &&
         !flag(op, "bias_grad");
}
bool betaZero(const LaunchInfo &op) {
  auto beta = op.params().getAs<FloatAttr>("beta");
  return !beta || beta.getValueAsDouble() == 0;
}

struct FuseGemmEpiloguesPass
    : public stc::impl::FuseGemmEpiloguesPassBase<FuseGemmEpiloguesPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    pinned = launches::pinnedBuffers(module);
    buffers = launches::buffersByName(module);
    int64_t fused = 0;
    auto step = [&](ArrayRef<LaunchInfo> ops, size_t i) {
      if (i + 1 >= ops.size())
        return false;
      if (fuseGelu(ops, i) || fuseDgelu(ops, i) || fuseBiasGrad(ops, i) ||
          fuseBiasGrad(ops, i, /*gemmFirst=*/false)) {
        ++fused;
        return true;
      }
      return false;
    };
    if (!launches::rewriteUntilFixpoint(module, step))
      return signalPassFailure(); // the verifier has said why
    launches::recordCount(module, "stk.fused_gemm_epilogues", fused);
  }

  /// The gemm with `extra` appended to its arguments (abi/Ops.def's order
  /// after A B C [bias]) and `flags` set; C replaced by `c` if given.
  static void rewrite(const LaunchInfo &gemm, ArrayRef<StringAttr> extra,
                      ArrayRef<StringRef> flags, StringAttr c = {}) {
    stk::LaunchOp op = gemm.op;
    OpBuilder b(op);
    SmallVector<Attribute> args(op.getArgs().begin(), op.getArgs().end());
    if (c)
      args[*gemm.arg("C")] = FlatSymbolRefAttr::get(c);
    for (StringAttr e : extra)
      args.push_back(FlatSymbolRefAttr::get(e));
    NamedAttrList params(op.getParams());
    for (StringRef f : flags)
      params.set(f, b.getBoolAttr(true));
    op.setArgsAttr(b.getArrayAttr(args));
    op.setParamsAttr(params.getDictionary(b.getContext()));
  }

  static void erase(const LaunchInfo &op) {
    stk::LaunchOp launch = op.op;
    launch.erase();
  }

  /// Removes buffer `name` if no launch names it (uses counted before the
  /// rewrite: `before` of them were the fused launches').
  void eraseIfUnused(ArrayRef<LaunchInfo> ops, StringAttr name,
                     size_t before) {
    if (pinned.contains(name) || launches::usesOf(ops, name).size() != before)
      return;
    if (stk::BufferOp b = buffers.lookup(name)) {
      buffers.erase(name);
      b.erase();
    }
  }

  /// gemm [A, B, y, bias?] + gelu_fwd [y, g].
  bool fuseGelu(ArrayRef<LaunchInfo> ops, size_t i) {
    const LaunchInfo &gemm = ops[i], &gelu = ops[i + 1];
    if (!plainGemm(gemm) || gelu.kind() != "gelu_fwd" || !betaZero(gemm) ||
        intOf(gemm, "M") * intOf(gemm, "N") != intOf(gelu, "count"))
      return false;
    StringAttr y = gemm.args[*gemm.arg("C")];
    if (gelu.args[*gelu.arg("x")] != y)
      return false;
    StringAttr g = gelu.args[*gelu.arg("y")];
    // y is read again (the backward's gelu_bwd): keep it as `pre`.
    const size_t yUses = launches::usesOf(ops, y).size();
    const bool keep = g != y && (pinned.contains(y) || yUses > 2);
    if (keep)
      rewrite(gemm, {y}, {"gelu", "gelu_pre"}, g);
    else
      rewrite(gemm, {}, {"gelu"}, g);
    erase(gelu);
    if (!keep && g != y)
      eraseIfUnused(ops, y, 2);
    return true;
  }

  /// gemm [A, B, d] + gelu_bwd [x, d, dx] (dx overwritten), the gelu_bwd
  /// adjacent or a few launches later (a linear's backward puts its weight
  /// and bias gradients between): nothing between reads d or names dx, or
  /// writes x, so the gemm can write dx itself.
  bool fuseDgelu(ArrayRef<LaunchInfo> ops, size_t i) {
    const LaunchInfo &gemm = ops[i];
    if (!plainGemm(gemm) || !betaZero(gemm) || flag(gemm, "bias"))
      return false;
    StringAttr d = gemm.args[*gemm.arg("C")];
    constexpr size_t kWindow = 4;
    for (size_t j = i + 1; j < ops.size() && j <= i + kWindow; ++j) {
      const LaunchInfo &bwd = ops[j];
      if (bwd.kind() != "gelu_bwd" || bwd.args[*bwd.arg("dy")] != d)
        continue;
      StringAttr x = bwd.args[*bwd.arg("x")];
      StringAttr dx = bwd.args[*bwd.arg("dx")];
      if (flag(bwd, "accumulate") || x == d ||
          intOf(gemm, "M") * intOf(gemm, "N") != intOf(bwd, "count") ||
          launches::namedBetween(ops, d, i, j, false) ||
          launches::namedBetween(ops, dx, i, j, false) ||
          launches::namedBetween(ops, x, i, j, true))
        return false;
      for (StringAttr a : {gemm.args[*gemm.arg("A")], gemm.args[*gemm.arg("B")]})
        if (a == dx)
          return false;
      rewrite(gemm, {x}, {"dgelu"}, dx);
      erase(bwd);
      if (dx != d)
        eraseIfUnused(ops, d, 2);
      return true;
    }
    return false;
  }

  /// gemm [A, B = dy, C] + bias_grad [dy, db], or bias_grad then gemm.
  bool fuseBiasGrad(ArrayRef<LaunchInfo> ops, size_t i, bool gemmFirst = true) {
    const LaunchInfo &gemm = ops[gemmFirst ? i : i + 1];
    const LaunchInfo &bg = ops[gemmFirst ? i + 1 : i];
    if (!plainGemm(gemm) || bg.kind() != "bias_grad" || flag(gemm, "bias") ||
        flag(gemm, "trans_b") || intOf(bg, "M") != intOf(gemm, "K") ||
        intOf(bg, "N") != intOf(gemm, "N"))
      return false;
    StringAttr dy = bg.args[*bg.arg("dy")], db = bg.args[*bg.arg("db")];
    if (gemm.args[*gemm.arg("B")] != dy)
      return false;
    // The gemm's own buffers stay apart from db (an output shares no bytes).
    for (StringAttr a : gemm.args)
      if (a == db)
        return false;
    rewrite(gemm, {db}, {"bias_grad"});
    erase(bg);
    return true;
  }

  llvm::DenseSet<StringAttr> pinned;
  llvm::DenseMap<StringAttr, stk::BufferOp> buffers;
};

} // namespace
