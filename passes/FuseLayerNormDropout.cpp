//===- FuseLayerNormDropout.cpp - stc-fuse-layer-norm-dropout -------------===//
//
// Around every layer norm of a pre-norm block with dropout, the training
// step runs two launches over the same [M, C] rows where one would do:
//
//   forward   dropout_fwd (residual: sum = residual + dropout(x)), then
//             layer_norm_fwd of sum      -> dropout_layer_norm_fwd
//   backward  layer_norm_bwd (dx, the residual stream's gradient), then
//             dropout_bwd of dx          -> layer_norm_bwd with `dropout`
//                                           (dbranch)
//
// The fused launch writes the same buffers (sum, dbranch) and reads sum and
// dx from registers instead of memory; the layer norm sees sum rounded to
// its type as before, and dbranch masks dx as stored (abi/Ops.def). Only
// adjacent launches fuse, with matching sizes. The module gets
// `stk.fused_layer_norms`, the launches removed.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "passes/Launches.h"

#include "dialect/stk/StkOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace stc {
#define GEN_PASS_DEF_FUSELAYERNORMDROPOUTPASS
#include "passes/Passes.h.inc"
} // namespace stc

using namespace mlir;
using namespace stc;

namespace {

// Sizes: -1 when absent, so that absent sizes never match.
int64_t intOf(DictionaryAttr d, StringRef name) {
  return launches::intParam(d, name, -1);
}

struct FuseLayerNormDropoutPass
    : public stc::impl::FuseLayerNormDropoutPassBase<FuseLayerNormDropoutPass> {
  using Base::Base;

  void runOnOperation() override {
    int64_t fused = 0;
    for (auto program : getOperation().getOps<stk::ProgramOp>()) {
      SmallVector<stk::LaunchOp> ops(
          program.getBody().front().getOps<stk::LaunchOp>());
      for (size_t i = 0; i + 1 < ops.size(); ++i) {
        if (fuseForward(ops[i], ops[i + 1]) ||
            fuseBackward(ops[i], ops[i + 1])) {
          ops.erase(ops.begin() + static_cast<ptrdiff_t>(i) + 1);
          ++fused;
        }
      }
    }
    launches::recordCount(getOperation(), "stk.fused_layer_norms", fused);
  }

  static StringAttr argName(stk::LaunchOp op, size_t i) {
    return cast<FlatSymbolRefAttr>(op.getArgs()[i]).getAttr();
  }

  /// dropout_fwd [x, sum, residual] + layer_norm_fwd [sum, gamma, beta, y,
  /// mean, rstd] -> dropout_layer_norm_fwd.
  static bool fuseForward(stk::LaunchOp drop, stk::LaunchOp ln) {
    if (drop.getKind() != "dropout_fwd" || ln.getKind() != "layer_norm_fwd")
      return false;
    DictionaryAttr dp = drop.getParams(), lp = ln.getParams();
    if (!launches::flagParam(dp, "residual") || drop.getArgs().size() != 3 ||
        ln.getArgs().size() != 6 || argName(ln, 0) != argName(drop, 1) ||
        intOf(lp, "M") * intOf(lp, "C") != intOf(dp, "count"))
      return false;
    OpBuilder b(ln);
    NamedAttrList params(lp);
    params.set("rate", dp.get("rate"));
    params.set("salt", dp.get("salt"));
    SmallVector<Attribute> args = {drop.getArgs()[0], drop.getArgs()[2],
                                   drop.getArgs()[1]};
    for (size_t j = 1; j < 6; ++j)
      args.push_back(ln.getArgs()[j]);
    stk::LaunchOp::create(b, ln.getLoc(), b.getStringAttr("dropout_layer_norm_fwd"),
                          b.getArrayAttr(args),
                          params.getDictionary(b.getContext()));
    drop.erase();
    ln.erase();
    return true;
  }

  /// layer_norm_bwd [.., dx, dgamma, dbeta] + dropout_bwd [dx, dbranch]
  /// -> layer_norm_bwd with dropout.
  static bool fuseBackward(stk::LaunchOp ln, stk::LaunchOp drop) {
    if (ln.getKind() != "layer_norm_bwd" || drop.getKind() != "dropout_bwd")
      return false;
    DictionaryAttr lp = ln.getParams(), dp = drop.getParams();
    if (launches::flagParam(lp, "dropout") || ln.getArgs().size() != 8 ||
        drop.getArgs().size() != 2 || argName(drop, 0) != argName(ln, 5) ||
        intOf(lp, "M") * intOf(lp, "C") != intOf(dp, "count"))
      return false;
    OpBuilder b(ln);
    NamedAttrList params(lp);
    params.set("dropout", b.getBoolAttr(true));
    params.set("rate", dp.get("rate"));
    params.set("salt", dp.get("salt"));
    SmallVector<Attribute> args(ln.getArgs().begin(), ln.getArgs().end());
    args.push_back(drop.getArgs()[1]);
    ln.setArgsAttr(b.getArrayAttr(args));
    ln.setParamsAttr(params.getDictionary(b.getContext()));
    drop.erase();
    return true;
  }
};

} // namespace
