//===- TileAttention.cpp - stc-tile-attention -----------------------------===//
//
// Gives each attention op the block layouts of its head groups: one
// st.layout per distinct (pattern, sequence length) at the chosen block
// size, classifying every block of the grid as full, partial, empty or above
// the diagonal (the pattern library's classification, within the contract's
// limits: abi/Layout.h). stc-eliminate-upper-triangle then chooses the
// blocks kernels visit.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "abi/Hash.h"
#include "abi/Layout.h"
#include "abi/Limits.h"
#include "dialect/st/StOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/DenseMap.h"

namespace stc {
#define GEN_PASS_DEF_TILEATTENTIONPASS
#include "passes/Passes.h.inc"
} // namespace stc

using namespace mlir;
using namespace stc;
using namespace stc::st;

namespace {

int64_t timeDim(Value q) {
  return cast<RankedTensorType>(q.getType()).getDimSize(1);
}

struct TileAttentionPass
    : public stc::impl::TileAttentionPassBase<TileAttentionPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (!abi::isAttentionBlockSize(blockSize)) {
      module.emitError() << "stc-tile-attention: block-size "
                         << static_cast<int64_t>(blockSize)
                         << " is not supported; valid: "
                         << abi::attentionBlockSizesText();
      return signalPassFailure();
    }
    OpBuilder builder(module.getBodyRegion());
    builder.setInsertionPointToStart(module.getBody());
    llvm::DenseMap<std::pair<Attribute, int64_t>, FlatSymbolRefAttr> layouts;
    auto layoutFor = [&](Operation *op, Attribute patternAttr,
                         int64_t n) -> FailureOr<FlatSymbolRefAttr> {
      auto key = std::make_pair(patternAttr, n);
      if (auto it = layouts.find(key); it != layouts.end())
        return it->second;
      if (auto blocks = dyn_cast<BlockLayoutAttr>(patternAttr)) {
        int64_t b = blocks.getBlock();
        if (n % b != 0)
          return op->emitOpError()
                 << "sequence length " << n << " is not a multiple of the "
                 << "block size " << b << " of " << patternAttr
                 << "; use a context that is a multiple of " << b;
        ArrayRef<int64_t> pairs = blocks.getPairs();
        for (size_t i = 0; i < pairs.size(); i += 2)
          if (pairs[i] >= n / b)
            return op->emitOpError()
                   << patternAttr << " lists block " << pairs[i] << ":"
                   << pairs[i + 1] << ", but a sequence of " << n << " has "
                   << n / b << " query blocks of " << b;
      }
      FailureOr<pattern::Pattern> p =
          cast<PatternAttrInterface>(patternAttr).toPattern(op);
      if (failed(p))
        return failure();
      // A block longer than the sequence tiles it as one block of n.
      int64_t block = std::min<int64_t>(blockSize, n);
      std::string error;
      std::optional<pattern::BlockLayout> layout =
          abi::buildLayout(*p, n, block, &error);
      if (!layout)
        return op->emitOpError() << "cannot tile " << patternAttr << ": "
                                 << error;
      std::string name = "layout" + std::to_string(layouts.size());
      const int64_t rows = layout->numBlockRows;
      const int64_t lower = rows * (rows + 1) / 2;
      LayoutOp::create(
          builder, module.getLoc(), builder.getStringAttr(name), patternAttr,
          builder.getI64IntegerAttr(n), builder.getI64IntegerAttr(block),
          builder.getI64IntegerAttr(layout->numFull()),
          builder.getI64IntegerAttr(layout->numBlocks() - layout->numFull()),
          builder.getI64IntegerAttr(lower - layout->numBlocks()),
          builder.getI64IntegerAttr(lower - rows), IntegerAttr(), StringAttr());
      auto ref = FlatSymbolRefAttr::get(builder.getContext(), name);
      layouts[key] = ref;
      return ref;
    };

    // Sets `attrName` to the layouts of `patterns` over n; false on error.
    auto setLayouts = [&](Operation *op, ArrayAttr patterns, int64_t n,
                          StringRef attrName) {
      SmallVector<Attribute> refs;
      for (Attribute p : patterns) {
        FailureOr<FlatSymbolRefAttr> ref = layoutFor(op, p, n);
        if (failed(ref))
          return false;
        refs.push_back(*ref);
      }
      op->setAttr(attrName, builder.getArrayAttr(refs));
      return true;
    };

    WalkResult result = module.walk([&](Operation *op) {
      // The patterns and the sequence length the op attends over.
      ArrayAttr patterns;
      int64_t n = 0;
      if (auto a = dyn_cast<AttentionOp>(op)) {
        patterns = a.getPatterns();
        n = timeDim(a.getQ());
      } else if (auto g = dyn_cast<AttentionGradOp>(op)) {
        patterns = g.getPatterns();
        n = timeDim(g.getQ());
      } else if (isa<AttentionSplitOp, AttentionSplitGradOp>(op)) {
        // Two sources: the sequence's keys and the second (gathered
        // summaries, or the keys in the stride-permuted order).
        auto second = op->getAttrOfType<ArrayAttr>("second");
        n = timeDim(op->getOperand(isa<AttentionSplitOp>(op) ? 0 : 1));
        if (!setLayouts(op, second, n, "st.second_layouts"))
          return WalkResult::interrupt();
        patterns = op->getAttrOfType<ArrayAttr>("patterns");
      } else if (auto m = dyn_cast<MaskedSoftmaxOp>(op)) {
        // The unfused chain's mask.
        patterns = m.getPatterns();
        n = m.getScores().getType().getDimSize(2);
      } else if (auto d = dyn_cast<DecodeAttentionOp>(op)) {
        patterns = d.getPatterns();
        auto cache = module.lookupSymbol<KvCacheOp>(d.getKcacheAttr());
        if (!cache) {
          d.emitOpError() << "names cache " << d.getKcacheAttr()
                          << ", which is not an st.kv_cache";
          return WalkResult::interrupt();
        }
        n = cast<RankedTensorType>(cache.getType()).getDimSize(1);
      } else {
        return WalkResult::advance();
      }
      return setLayouts(op, patterns, n, "st.layouts") ? WalkResult::advance()
                                                       : WalkResult::interrupt();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
