//===- FuseSoftmax.cpp - stc-fuse-softmax ---------------------------------===//
//
// scores = st.attention_scores(q, k), any st.score_mod on them, p =
// st.masked_softmax(scores), o = st.attention_weighted_sum(p, v)  ->
// o = st.attention(q, k, v) with the modifications as its score_mods: the
// fused online-softmax attention, whose kernels never hold the [B, H, T, T]
// scores and apply the modifications in registers. Only a chain whose
// intermediates nothing else reads, over one list of patterns, with
// modifications the kernels take (stc::st::kernelScoreMods), is fused; any
// other is left as written.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/st/StOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace stc {
#define GEN_PASS_DEF_FUSESOFTMAXPASS
#include "passes/Passes.h.inc"
} // namespace stc

using namespace mlir;
using namespace stc;
using namespace stc::st;

namespace {

struct FuseSoftmaxPass
    : public stc::impl::FuseSoftmaxPassBase<FuseSoftmaxPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<AttentionWeightedSumOp> sums;
    getOperation().walk([&](AttentionWeightedSumOp op) { sums.push_back(op); });
    for (AttentionWeightedSumOp sum : sums) {
      std::string why;
      std::optional<AttentionChain> chain = attentionChain(sum, &why);
      if (chain && !kernelScoreMods(chain->scoreMods(), &why))
        why = "its score modifications have no fused form: " + why;
      if (!chain || !why.empty()) {
        sum.emitRemark() << "stc-fuse-softmax: left unfused: " << why;
        continue;
      }
      AttentionScoresOp scores = chain->scores;
      OpBuilder builder(sum);
      auto fused = AttentionOp::create(
          builder, sum.getLoc(), sum.getType(), scores.getQ(), scores.getK(),
          sum.getV(), scores.getHeadsAttr(), scores.getPatterns(),
          scores.getScaleAttr(), chain->scoreMods());
      // Attributes the chain carried (e.g. st.checkpoint) stay with it.
      for (NamedAttribute a : sum->getDiscardableAttrs())
        fused->setAttr(a.getName(), a.getValue());
      sum.replaceAllUsesWith(fused.getResult());
      sum.erase();
      chain->softmax.erase();
      for (ScoreModOp m : llvm::reverse(chain->mods))
        m.erase();
      scores.erase();
    }
  }
};

} // namespace
