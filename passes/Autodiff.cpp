//===- Autodiff.cpp - stc-autodiff ----------------------------------------===//
//
// @forward -> @train_step (reverse-mode gradients + AdamW), @eval_step and
// @sample_step. The backward of each op is written next to the op's kind
// below; every gradient is checked numerically by the runtime's tests.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/st/StOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"

namespace stc {
#define GEN_PASS_DEF_AUTODIFFPASS
#include "passes/Passes.h.inc"
} // namespace stc

using namespace mlir;
using namespace stc;
using namespace stc::st;

namespace {

func::FuncOp cloneAs(func::FuncOp fn, StringRef name, IRMapping &mapping) {
  OpBuilder builder(fn);
  builder.setInsertionPointAfter(fn);
  auto copy = cast<func::FuncOp>(builder.clone(*fn, mapping));
  copy.setSymName(name);
  return copy;
}

/// Reverse-mode differentiation of a cloned forward function, in place.
class GradientBuilder {
public:
  GradientBuilder(func::FuncOp fn, const AutodiffPassOptions &options)
      : fn(fn), builder(fn.getContext()), options(options) {}

  LogicalResult run() {
    Block &body = fn.getBody().front();
    findF32GradParams(body);
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    auto loss = ret.getOperand(0).getDefiningOp<CrossEntropyOp>();
    if (!loss)
      return fn.emitOpError() << "must return the result of st.cross_entropy "
                                 "(the loss to differentiate)";
    builder.setInsertionPoint(ret);
    Location loc = loss.getLoc();
    accumulate(loss.getLogits(),
               CrossEntropyGradOp::create(builder, loc, loss.getLogits(),
                                          loss.getTargets()));

    SmallVector<Operation *> forwardOps;
    for (Operation &op : body)
      if (&op != ret && &op != loss.getOperation())
        forwardOps.push_back(&op);
    for (Operation *op : llvm::reverse(forwardOps))
      if (failed(backward(op)))
        return failure();

    // One AdamW update per parameter, clipped by the global gradient norm.
    SmallVector<Value> allGrads;
    for (auto &entry : paramGrads)
      allGrads.push_back(entry.second);
    if (allGrads.empty())
      return fn.emitOpError() << "has no trainable parameters";
    Value normSq = GradNormSqOp::create(
        builder, loc, RankedTensorType::get({}, builder.getF32Type()), allGrads);
    for (auto &[name, grad] : paramGrads)
      AdamWOp::create(builder, loc, FlatSymbolRefAttr::get(name), grad, normSq,
                      builder.getF64FloatAttr(options.beta1),
                      builder.getF64FloatAttr(options.beta2),
                      builder.getF64FloatAttr(options.eps),
                      builder.getF64FloatAttr(options.weightDecay),
                      builder.getF64FloatAttr(options.clip));
    return success();
  }

private:
  /// Parameters get f32 gradients, whatever their own type (bf16 ones keep
  /// every reduction that feeds them in f32: the weight GEMM's output, bias,
  /// gamma, beta and embedding sums), when every use of every load of them
  /// is one whose backward writes the gradient itself: a linear's weight or
  /// bias, a layer norm's gamma or beta, an embedding's tables. Another use
  /// (an st.add of a loaded value, say) passes on a gradient of the value's
  /// own type, so such a parameter keeps its type.
  void findF32GradParams(Block &body) {
    llvm::DenseSet<StringAttr> other;
    body.walk([&](LoadOp load) {
      StringAttr name = load.getNameAttr().getAttr();
      f32GradParams.insert(name);
      for (OpOperand &use : load.getResult().getUses()) {
        // Operand 0 is the data (x, tokens); the others are the weights.
        if (!isa<LinearOp, LayerNormOp, EmbedOp>(use.getOwner()) ||
            use.getOperandNumber() == 0)
          other.insert(name);
      }
    });
    for (StringAttr name : other)
      f32GradParams.erase(name);
  }

  /// The type of v's gradient: v's own, or f32 of its shape for a load of a
  /// parameter in f32GradParams.
  Type gradType(Value v) {
    auto type = cast<RankedTensorType>(v.getType());
    auto load = v.getDefiningOp<LoadOp>();
    if (!load || !f32GradParams.contains(load.getNameAttr().getAttr()))
      return type;
    return RankedTensorType::get(type.getShape(), builder.getF32Type());
  }

  void accumulate(Value v, Value grad) {
    auto it = grads.find(v);
    if (it == grads.end()) {
      grads[v] = grad;
      return;
    }
    it->second = AddOp::create(builder, grad.getLoc(), it->second, grad);
  }

  LogicalResult backward(Operation *op) {
    if (op->getNumResults() == 0)
      return success();
    auto it = grads.find(op->getResult(0));
    if (it == grads.end())
      return success(); // does not reach the loss
    Value dy = it->second;
    Location loc = op->getLoc();
    if (isa<arith::ConstantOp>(op))
      return success(); // constants are not trained
    if (auto load = dyn_cast<LoadOp>(op)) {
      auto &slot = paramGrads[load.getNameAttr().getAttr()];
      slot = slot ? AddOp::create(builder, loc, slot, dy).getResult() : dy;
      return success();
    }
    if (auto linear = dyn_cast<LinearOp>(op)) {
      accumulate(linear.getX(),
                 LinearGradInputOp::create(builder, loc, linear.getX().getType(),
                                           dy, linear.getWeight()));
      accumulate(linear.getWeight(),
                 LinearGradWeightOp::create(builder, loc,
                                            gradType(linear.getWeight()), dy,
                                            linear.getX()));
      if (Value bias = linear.getBias())
        accumulate(bias, BiasGradOp::create(builder, loc, gradType(bias), dy));
      return success();
    }
    if (auto gelu = dyn_cast<GeluOp>(op)) {
      accumulate(gelu.getX(), GeluGradOp::create(builder, loc, dy, gelu.getX()));
      return success();
    }
    if (auto add = dyn_cast<AddOp>(op)) {
      accumulate(add.getLhs(), dy);
      accumulate(add.getRhs(), dy);
      return success();
    }
    if (auto drop = dyn_cast<DropoutOp>(op)) {
      auto salt = drop->getAttrOfType<IntegerAttr>("salt");
      if (!salt)
        return drop.emitOpError() << "needs a `salt` to replay its mask in the "
                                     "backward pass (stc-expand-model sets one)";
      accumulate(drop.getX(), DropoutGradOp::create(builder, loc, dy,
                                                    drop.getRateAttr(), salt));
      return success();
    }
    if (auto perm = dyn_cast<StridePermuteOp>(op)) {
      // A permutation's gradient is its inverse applied to dy.
      accumulate(perm.getX(),
                 StridePermuteOp::create(
                     builder, loc, dy, perm.getStrideAttr(),
                     perm.getHeadBeginAttr(), perm.getHeadEndAttr(),
                     perm.getHeadsAttr(),
                     perm.getInverse() ? UnitAttr() : builder.getUnitAttr()));
      return success();
    }
    if (auto gather = dyn_cast<GatherSummariesOp>(op)) {
      accumulate(gather.getX(),
                 ScatterSummariesOp::create(builder, loc, dy,
                                            gather.getBlockAttr(),
                                            gather.getSummaryAttr()));
      return success();
    }
    if (auto scatter = dyn_cast<ScatterSummariesOp>(op)) {
      accumulate(scatter.getX(),
                 GatherSummariesOp::create(builder, loc, dy,
                                           scatter.getBlockAttr(),
                                           scatter.getSummaryAttr()));
      return success();
    }
    if (auto attn = dyn_cast<AttentionSplitOp>(op)) {
      auto g = AttentionSplitGradOp::create(
          builder, loc, dy, attn.getQ(), attn.getK(), attn.getV(), attn.getKs(),
          attn.getVs(), attn.getResult(), attn.getHeadsAttr(),
          attn.getPatterns(), attn.getSecond(), attn.getStrideAttr(),
          attn.getScaleAttr(), attn.getScoreModsAttr());
      accumulate(attn.getQ(), g.getDq());
      accumulate(attn.getK(), g.getDk());
      accumulate(attn.getV(), g.getDv());
      accumulate(attn.getKs(), g.getDks());
      accumulate(attn.getVs(), g.getDvs());
      return success();
    }
    if (auto ln = dyn_cast<LayerNormOp>(op)) {
      auto g = LayerNormGradOp::create(
          builder, loc, ln.getX().getType(), gradType(ln.getGamma()),
          gradType(ln.getBeta()), dy, ln.getX(), ln.getGamma(),
          ln.getEpsilonAttr());
      accumulate(ln.getX(), g.getDx());
      accumulate(ln.getGamma(), g.getDgamma());
      accumulate(ln.getBeta(), g.getDbeta());
      return success();
    }
    if (auto attn = dyn_cast<AttentionOp>(op)) {
      auto g = AttentionGradOp::create(builder, loc, dy, attn.getQ(),
                                       attn.getK(), attn.getV(),
                                       attn.getResult(), attn.getHeadsAttr(),
                                       attn.getPatterns(), attn.getScaleAttr(),
                                       attn.getScoreModsAttr());
      accumulate(attn.getQ(), g.getDq());
      accumulate(attn.getK(), g.getDk());
      accumulate(attn.getV(), g.getDv());
      return success();
    }
    // The unfused attention chain (what stc-fuse-softmax left as written).
    if (auto sum = dyn_cast<AttentionWeightedSumOp>(op)) {
      auto g = AttentionWeightedSumGradOp::create(builder, loc, dy,
                                                  sum.getProbs(), sum.getV());
      accumulate(sum.getProbs(), g.getDprobs());
      accumulate(sum.getV(), g.getDv());
      return success();
    }
    if (auto softmax = dyn_cast<MaskedSoftmaxOp>(op)) {
      accumulate(softmax.getScores(),
                 MaskedSoftmaxGradOp::create(builder, loc, dy,
                                             softmax.getResult(),
                                             softmax.getPatterns()));
      return success();
    }
    if (auto mod = dyn_cast<ScoreModOp>(op)) {
      accumulate(mod.getScores(),
                 ScoreModGradOp::create(builder, loc, dy, mod.getScores(),
                                        mod.getMod()));
      return success();
    }
    if (auto scores = dyn_cast<AttentionScoresOp>(op)) {
      auto g = AttentionScoresGradOp::create(
          builder, loc, dy, scores.getQ(), scores.getK(),
          scores.getHeadsAttr(), scores.getPatterns(), scores.getScaleAttr());
      accumulate(scores.getQ(), g.getDq());
      accumulate(scores.getK(), g.getDk());
      return success();
    }
    if (auto embed = dyn_cast<EmbedOp>(op)) {
      SmallVector<Type> types = {gradType(embed.getTable())};
      for (Value p : embed.getPositions())
        types.push_back(gradType(p));
      auto g = EmbedGradOp::create(builder, loc, types, dy, embed.getTokens(),
                                   embed.getPosition());
      accumulate(embed.getTable(), g.getResult(0));
      for (auto [p, grad] : llvm::zip(embed.getPositions(),
                                      g.getResults().drop_front()))
        accumulate(p, grad);
      return success();
    }
    return op->emitOpError()
           << "has no gradient in stc-autodiff; differentiable ops: st.embed, "
              "st.layer_norm, st.linear, st.gelu, st.add, st.dropout, "
              "st.stride_permute, st.gather_summaries, st.scatter_summaries, "
              "st.attention, st.attention_split, st.attention_scores, "
              "st.score_mod, st.masked_softmax, st.attention_weighted_sum, "
              "st.cross_entropy";
  }

  func::FuncOp fn;
  OpBuilder builder;
  const AutodiffPassOptions &options;
  llvm::DenseMap<Value, Value> grads;
  llvm::MapVector<StringAttr, Value> paramGrads;
  llvm::DenseSet<StringAttr> f32GradParams;
};

/// [B, T, X] -> [S, 1, X]: one position of each of S sequences.
RankedTensorType onePositionOf(Type t, int64_t sequences) {
  auto type = cast<RankedTensorType>(t);
  SmallVector<int64_t> shape(type.getShape());
  if (shape.size() >= 2) {
    shape[0] = sequences;
    shape[1] = 1;
  }
  return RankedTensorType::get(shape, type.getElementType());
}

/// Rewrites @forward as the one-position sampling step with kv caches, for
/// `sequences` sequences at once (0: @forward's batch).
LogicalResult buildSampleStep(func::FuncOp forward, int64_t sequences) {
  OpBuilder builder(forward);
  builder.setInsertionPointAfter(forward);
  Location loc = forward.getLoc();
  MLIRContext *ctx = forward.getContext();
  auto ret = cast<func::ReturnOp>(forward.getBody().front().getTerminator());
  auto loss = ret.getOperand(0).getDefiningOp<CrossEntropyOp>();
  if (!loss)
    return forward.emitOpError() << "must return st.cross_entropy's result";
  auto logits = cast<RankedTensorType>(loss.getLogits().getType());
  if (sequences == 0)
    sequences = logits.getDimSize(0);
  if (sequences < 1 || sequences > abi::kMaxGridYZ)
    return forward.emitOpError()
           << "sample-batch is " << sequences << "; valid: 1 .. "
           << abi::kMaxGridYZ << " (0: the training batch)";
  auto onePosition = [&](Type t) { return onePositionOf(t, sequences); };
  auto tokenType =
      RankedTensorType::get({sequences, 1}, IntegerType::get(ctx, 32));
  Type logitsType = onePosition(logits);
  auto fn = func::FuncOp::create(builder, loc, "sample_step",
                                 builder.getFunctionType({tokenType}, {logitsType}));
  Block *body = fn.addEntryBlock();
  builder.setInsertionPointToStart(body);
  IRMapping map;
  int64_t layer = 0;
  OpBuilder cacheBuilder(forward);
  // Attention decodes one position over caches of every earlier k and v.
  auto decode = [&](Operation *at, Value q, Value k, Value v,
                    IntegerAttr heads, ArrayAttr patterns, FloatAttr scale,
                    ArrayAttr mods) {
    auto qt = cast<RankedTensorType>(q.getType());
    auto vt = cast<RankedTensorType>(v.getType());
    std::string kName = "cache.k" + std::to_string(layer);
    std::string vName = "cache.v" + std::to_string(layer);
    ++layer;
    KvCacheOp::create(
        cacheBuilder, loc, kName,
        RankedTensorType::get({sequences, qt.getDimSize(1), qt.getDimSize(2)},
                              qt.getElementType()));
    KvCacheOp::create(
        cacheBuilder, loc, vName,
        RankedTensorType::get({sequences, vt.getDimSize(1), vt.getDimSize(2)},
                              vt.getElementType()));
    auto decoded = DecodeAttentionOp::create(
        builder, at->getLoc(), map.lookup(q), map.lookup(k), map.lookup(v),
        FlatSymbolRefAttr::get(ctx, kName), FlatSymbolRefAttr::get(ctx, vName),
        heads, patterns, scale, mods);
    map.map(at->getResult(0), decoded.getResult());
  };
  for (Operation &op : forward.getBody().front()) {
    if (&op == loss.getOperation())
      break;
    if (auto embed = dyn_cast<EmbedOp>(op)) {
      SmallVector<Value> positions;
      for (Value p : embed.getPositions())
        positions.push_back(map.lookup(p));
      auto decoded = EmbedOp::create(builder, embed.getLoc(),
                                     onePosition(embed.getType()),
                                     body->getArgument(0),
                                     map.lookup(embed.getTable()), positions,
                                     embed.getPosition(), /*decode=*/true);
      map.map(embed.getResult(), decoded.getResult());
      continue;
    }
    if (auto drop = dyn_cast<DropoutOp>(op)) {
      map.map(drop.getResult(), map.lookup(drop.getX()));
      continue;
    }
    if (auto attn = dyn_cast<AttentionOp>(op)) {
      decode(attn, attn.getQ(), attn.getK(), attn.getV(), attn.getHeadsAttr(),
             attn.getPatterns(), attn.getScaleAttr(), attn.getScoreModsAttr());
      continue;
    }
    // An unfused chain decodes as the one attention it computes; its links
    // (scores, score modifications, softmax) are nothing on their own.
    if (isa<AttentionScoresOp, ScoreModOp, MaskedSoftmaxOp>(op)) {
      if (!op.hasOneUse() ||
          !isa<ScoreModOp, MaskedSoftmaxOp, AttentionWeightedSumOp>(
              *op.getUsers().begin()))
        return op.emitOpError()
               << "cannot be sampled one position at a time: the sample step "
                  "decodes the unfused attention chain as one attention, and "
                  "this op's result is read outside the chain";
      continue;
    }
    if (auto sum = dyn_cast<AttentionWeightedSumOp>(op)) {
      std::string why;
      std::optional<AttentionChain> chain = attentionChain(sum, &why);
      if (!chain)
        return sum.emitOpError()
               << "cannot be sampled one position at a time: " << why;
      AttentionScoresOp scores = chain->scores;
      decode(sum, scores.getQ(), scores.getK(), sum.getV(),
             scores.getHeadsAttr(), scores.getPatterns(), scores.getScaleAttr(),
             chain->scoreMods());
      continue;
    }
    if (!isa<LoadOp, LayerNormOp, LinearOp, GeluOp, AddOp>(op))
      return op.emitOpError() << "cannot be sampled one position at a time; "
                                 "st.sample_step supports st.embed, "
                                 "st.layer_norm, st.linear, st.gelu, st.add, "
                                 "st.dropout and st.attention (fused or as "
                                 "its unfused chain)";
    Operation *copy = builder.clone(op, map);
    if (!isa<LoadOp>(op))
      for (OpResult r : copy->getResults())
        r.setType(onePosition(r.getType()));
  }
  func::ReturnOp::create(builder, loc, map.lookup(loss.getLogits()));
  return success();
}

struct AutodiffPass : public stc::impl::AutodiffPassBase<AutodiffPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto forward = module.lookupSymbol<func::FuncOp>("forward");
    if (!forward) {
      module.emitError() << "stc-autodiff: no @forward function; run "
                            "stc-expand-model first";
      return signalPassFailure();
    }
    for (StringRef name : {"train_step", "eval_step", "sample_step"})
      if (module.lookupSymbol(name)) {
        module.emitError() << "stc-autodiff: @" << name << " already exists";
        return signalPassFailure();
      }

    IRMapping trainMap;
    func::FuncOp train = cloneAs(forward, "train_step", trainMap);
    AutodiffPassOptions opts{beta1, beta2, eps, weightDecay, clip};
    if (failed(GradientBuilder(train, opts).run()))
      return signalPassFailure();

    IRMapping evalMap;
    func::FuncOp eval = cloneAs(forward, "eval_step", evalMap);
    eval.walk([](DropoutOp drop) {
      drop.getResult().replaceAllUsesWith(drop.getX());
      drop.erase();
    });

    if (failed(buildSampleStep(forward, sampleBatch)))
      return signalPassFailure();
    forward.erase();
  }
};

} // namespace
