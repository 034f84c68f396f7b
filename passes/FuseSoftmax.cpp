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

#include <algorithm>

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

  /// The chain's st.score_mod ops, in application order.
  SmallVector<ScoreModOp> mods;

  /// Their modifications as a score_mods attribute (null: none).
  ArrayAttr modsAttr(MLIRContext *ctx) const {
    if (mods.empty())
      return {};
    SmallVector<Attribute> list;
    for (ScoreModOp m : mods)
      list.push_back(m.getMod());
    return ArrayAttr::get(ctx, list);
  }

  /// Why the chain ending in `sum` cannot be fused, or "" if it can.
  std::string whyNot(AttentionWeightedSumOp sum, MaskedSoftmaxOp &softmax,
                     AttentionScoresOp &scores) {
    softmax = sum.getProbs().getDefiningOp<MaskedSoftmaxOp>();
    if (!softmax)
      return "its probabilities do not come from st.masked_softmax";
    if (!softmax->hasOneUse())
      return "its probabilities are used by another op as well";
    // Score modifications, innermost first once reversed.
    Value s = softmax.getScores();
    mods.clear();
    while (auto mod = s.getDefiningOp<ScoreModOp>()) {
      if (!mod->hasOneUse())
        return "a st.score_mod result is used by another op as well";
      mods.push_back(mod);
      s = mod.getScores();
    }
    std::reverse(mods.begin(), mods.end());
    scores = s.getDefiningOp<AttentionScoresOp>();
    if (!scores)
      return "its softmax's scores do not come from st.attention_scores";
    if (!scores->hasOneUse())
      return "its scores are used by another op as well";
    std::string why;
    if (!kernelScoreMods(modsAttr(sum.getContext()), &why))
      return "its score modifications have no fused form: " + why;
    if (softmax.getPatterns() != scores.getPatterns())
      return "its softmax masks other patterns than its scores were "
             "computed for";
    return "";
  }

  void runOnOperation() override {
    SmallVector<AttentionWeightedSumOp> sums;
    getOperation().walk([&](AttentionWeightedSumOp op) { sums.push_back(op); });
    for (AttentionWeightedSumOp sum : sums) {
      MaskedSoftmaxOp softmax;
      AttentionScoresOp scores;
      std::string why = whyNot(sum, softmax, scores);
      if (!why.empty()) {
        sum.emitRemark() << "stc-fuse-softmax: left unfused: " << why;
        continue;
      }
      OpBuilder builder(sum);
      auto fused = AttentionOp::create(
          builder, sum.getLoc(), sum.getType(), scores.getQ(), scores.getK(),
          sum.getV(), scores.getHeadsAttr(), scores.getPatterns(),
          scores.getScaleAttr(), modsAttr(sum.getContext()));
      // Attributes the chain carried (e.g. st.checkpoint) stay with it.
      for (NamedAttribute a : sum->getDiscardableAttrs())
        fused->setAttr(a.getName(), a.getValue());
      sum.replaceAllUsesWith(fused.getResult());
      sum.erase();
      softmax.erase();
      for (ScoreModOp m : llvm::reverse(mods))
        m.erase();
      scores.erase();
    }
  }
};

} // namespace
