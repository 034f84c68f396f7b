//===- FuseSoftmax.cpp - stc-fuse-softmax ---------------------------------===//
//
// scores = st.attention_scores(q, k), p = st.masked_softmax(scores),
// o = st.attention_weighted_sum(p, v)  ->  o = st.attention(q, k, v): the
// fused online-softmax attention, whose kernels never hold the [B, H, T, T]
// scores. Only a chain whose intermediates nothing else reads, over one list
// of patterns, is fused; any other is left as written.
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

  /// Why the chain ending in `sum` cannot be fused, or "" if it can.
  static std::string whyNot(AttentionWeightedSumOp sum, MaskedSoftmaxOp &softmax,
                            AttentionScoresOp &scores) {
    softmax = sum.getProbs().getDefiningOp<MaskedSoftmaxOp>();
    if (!softmax)
      return "its probabilities do not come from st.masked_softmax";
    scores = softmax.getScores().getDefiningOp<AttentionScoresOp>();
    if (!scores)
      return "its softmax's scores do not come from st.attention_scores";
    if (!softmax->hasOneUse())
      return "its probabilities are used by another op as well";
    if (!scores->hasOneUse())
      return "its scores are used by another op as well";
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
          scores.getScaleAttr());
      // Attributes the chain carried (e.g. st.checkpoint) stay with it.
      for (NamedAttribute a : sum->getDiscardableAttrs())
        fused->setAttr(a.getName(), a.getValue());
      sum.replaceAllUsesWith(fused.getResult());
      sum.erase();
      softmax.erase();
      scores.erase();
    }
  }
};

} // namespace
