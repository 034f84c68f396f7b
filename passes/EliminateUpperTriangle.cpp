//===- EliminateUpperTriangle.cpp - stc-eliminate-upper-triangle ----------===//
//
// Chooses the blocks a layout's kernels visit: of the grid stc-tile-attention
// classified, the full and partial blocks; the blocks above the diagonal and
// the empty ones are dropped. The tables come from the pattern library
// (abi::buildLayout); st.layout records their count and fingerprint.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "abi/Hash.h"
#include "abi/Layout.h"
#include "dialect/st/StOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace stc {
#define GEN_PASS_DEF_ELIMINATEUPPERTRIANGLEPASS
#include "passes/Passes.h.inc"
} // namespace stc

using namespace mlir;
using namespace stc;
using namespace stc::st;

namespace {

struct EliminateUpperTrianglePass
    : public stc::impl::EliminateUpperTrianglePassBase<
          EliminateUpperTrianglePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    Builder builder(module.getContext());
    WalkResult result = module.walk([&](LayoutOp layout) {
      if (layout.isEliminated())
        return WalkResult::advance();
      FailureOr<pattern::Pattern> p =
          cast<PatternAttrInterface>(layout.getPattern()).toPattern(layout);
      if (failed(p))
        return WalkResult::interrupt();
      std::string error;
      std::optional<pattern::BlockLayout> blocks =
          abi::buildLayout(*p, static_cast<int64_t>(layout.getN()),
                           static_cast<int64_t>(layout.getBlock()), &error);
      if (!blocks) {
        layout.emitOpError() << "cannot build the blocks of " << p->str()
                             << ": " << error;
        return WalkResult::interrupt();
      }
      // What stc-tile-attention classified is what is kept.
      if (blocks->numFull() != static_cast<int64_t>(layout.getFull()) ||
          (layout.getPartial() &&
           blocks->numBlocks() - blocks->numFull() !=
               static_cast<int64_t>(*layout.getPartial()))) {
        layout.emitOpError() << "classifies " << layout.getFull()
                             << " full blocks, but " << p->str() << " has "
                             << blocks->numFull() << " full and "
                             << blocks->numBlocks() - blocks->numFull()
                             << " partial ones";
        return WalkResult::interrupt();
      }
      layout.setBlocksAttr(builder.getI64IntegerAttr(blocks->numBlocks()));
      layout.setFnv1a64Attr(
          builder.getStringAttr(abi::hex64(abi::layoutFingerprint(*blocks))));
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
