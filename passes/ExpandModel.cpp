//===- ExpandModel.cpp - stc-expand-model ---------------------------------===//
//
// st.model -> st.parameter symbols + @forward(tokens, targets) -> loss, the
// paper's pre-activation residual stack written in tensor-level st ops, its
// attention unfused (scores, masked softmax, weighted sum).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "abi/Limits.h"

#include "dialect/st/StOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include <cmath>

namespace stc {
#define GEN_PASS_DEF_EXPANDMODELPASS
#include "passes/Passes.h.inc"
} // namespace stc

using namespace mlir;
using namespace stc;
using namespace stc::st;

namespace {

/// Builds the forward function of one model.
class ModelExpander {
public:
  ModelExpander(ModelOp model, int64_t batch)
      : model(model), builder(model->getContext()), batch(batch),
        loc(model.getLoc()) {
    dtype = model.getDtype();
    width = model.getWidth();
    context = model.getContextSize();
    numLayers = static_cast<int64_t>(model.layers().size());
  }

  LogicalResult run() {
    auto module = model->getParentOfType<ModuleOp>();
    // Parameters go before the model, the function after it.
    paramInsertion = OpBuilder::InsertPoint(module.getBody(),
                                            Block::iterator(model));
    builder.setInsertionPointAfter(model);
    auto tokensType = RankedTensorType::get({batch, context},
                                            builder.getI32Type());
    auto fn = func::FuncOp::create(
        builder, loc, "forward",
        builder.getFunctionType({tokensType, tokensType},
                                {RankedTensorType::get({}, builder.getF32Type())}));
    fn->setAttr("st.model", FlatSymbolRefAttr::get(model.getSymNameAttr()));
    Block *body = fn.addEntryBlock();
    builder.setInsertionPointToStart(body);
    Value tokens = body->getArgument(0), targets = body->getArgument(1);

    // Embedding.
    double weightStd = 0.02;
    Value table = param("tok_emb", {static_cast<int64_t>(model.getVocab()), width}, normal(weightStd), true);
    SmallVector<Value> positions;
    for (auto [i, comp] : llvm::enumerate(model.getPosition().components(context)))
      positions.push_back(param("pos_emb" + std::to_string(i),
                                {comp.second, width}, normal(0.01), true));
    Value x = EmbedOp::create(builder, loc, act(width), tokens, table,
                              positions, model.getPosition(),
                              /*decode=*/false);
    markCheckpoint(x);

    // Residual blocks. The output projections are scaled so the residual
    // stream's variance does not grow with depth (paper, section 5.3).
    double residualStd = weightStd * std::sqrt(1.0 / (2.0 * numLayers));
    int64_t qk = model.qkWidth(), ffn = model.ffnWidth();
    for (auto [index, layer] : llvm::enumerate(model.layers())) {
      std::string p = "block" + std::to_string(index) + ".";
      Value h = layerNorm(x, p + "ln1");
      Value q = linear(h, p + "attn.q", qk, weightStd);
      Value k = linear(h, p + "attn.k", qk, weightStd);
      Value v = linear(h, p + "attn.v", width, weightStd);
      // Attention as the paper defines it: scaled scores, the block's score
      // modifications, the pattern's masked softmax, times the values
      // (stc-fuse-softmax makes the chain one online-softmax st.attention).
      int64_t heads = model.getHeadsAttr().getInt();
      auto scoresType = RankedTensorType::get({batch, heads, context, context},
                                              builder.getF32Type());
      Value s = AttentionScoresOp::create(builder, layer.getLoc(), scoresType,
                                          q, k, model.getHeadsAttr(),
                                          layer.getPatterns(), FloatAttr());
      if (ArrayAttr mods = layer.getScoreModsAttr())
        for (Attribute mod : mods)
          s = ScoreModOp::create(builder, layer.getLoc(), s, mod);
      Value probs = MaskedSoftmaxOp::create(builder, layer.getLoc(), s,
                                            layer.getPatterns());
      Value a = AttentionWeightedSumOp::create(builder, layer.getLoc(),
                                               act(width), probs, v);
      Value o = dropout(linear(a, p + "attn.o", width, residualStd));
      x = AddOp::create(builder, loc, x, o);
      Value h2 = layerNorm(x, p + "ln2");
      Value u = GeluOp::create(builder, loc, linear(h2, p + "ffn.1", ffn, weightStd));
      Value f = dropout(linear(u, p + "ffn.2", width, residualStd));
      x = AddOp::create(builder, loc, x, f);
      markCheckpoint(x);
    }
    Value hf = layerNorm(x, "ln_f");
    Value logits = linear(hf, "out", model.getVocab(), weightStd);
    Value loss = CrossEntropyOp::create(
        builder, loc, RankedTensorType::get({}, builder.getF32Type()), logits,
        targets);
    func::ReturnOp::create(builder, loc, loss);
    return success();
  }

private:
  /// A residual stream value stc-schedule-recompute keeps (policy paper).
  void markCheckpoint(Value v) {
    v.getDefiningOp()->setAttr("st.checkpoint", builder.getUnitAttr());
  }

  RankedTensorType act(int64_t features) {
    return RankedTensorType::get({batch, context, features}, dtype);
  }

  InitAttr normal(double std) {
    return InitAttr::get(builder.getContext(), InitKind::Normal, APFloat(std));
  }
  InitAttr constant(InitKind kind) {
    return InitAttr::get(builder.getContext(), kind, APFloat(0.0));
  }

  /// Declares a parameter and loads it at the current insertion point.
  Value param(const std::string &name, ArrayRef<int64_t> shape, InitAttr init,
              bool decay) {
    auto type = RankedTensorType::get(shape, dtype);
    {
      OpBuilder::InsertionGuard guard(builder);
      builder.restoreInsertionPoint(paramInsertion);
      ParameterOp::create(builder, loc, name, type, init, decay);
      paramInsertion = builder.saveInsertionPoint();
    }
    return LoadOp::create(builder, loc, type, name);
  }

  Value linear(Value x, const std::string &name, int64_t out, double std) {
    int64_t in = cast<RankedTensorType>(x.getType()).getDimSize(2);
    Value w = param(name + ".w", {in, out}, normal(std), true);
    Value b = param(name + ".b", {out}, constant(InitKind::Zeros), false);
    return LinearOp::create(builder, loc, act(out), x, w, b);
  }

  Value layerNorm(Value x, const std::string &name) {
    Value g = param(name + ".g", {width}, constant(InitKind::Ones), false);
    Value b = param(name + ".b", {width}, constant(InitKind::Zeros), false);
    return LayerNormOp::create(builder, loc, x, g, b,
                               builder.getF64FloatAttr(1e-5));
  }

  Value dropout(Value x) {
    double rate = model.getDropout().convertToDouble();
    if (rate == 0)
      return x;
    auto op = DropoutOp::create(builder, loc, x, builder.getF64FloatAttr(rate));
    op->setAttr("salt", builder.getI64IntegerAttr(nextSalt++));
    return op;
  }

  ModelOp model;
  OpBuilder builder;
  OpBuilder::InsertPoint paramInsertion;
  int64_t batch;
  Location loc;
  Type dtype;
  int64_t width = 0, context = 0, numLayers = 0;
  int64_t nextSalt = 1;
};

struct ExpandModelPass
    : public stc::impl::ExpandModelPassBase<ExpandModelPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<ModelOp> models(module.getOps<ModelOp>());
    if (batch < 1 || batch > abi::kMaxBatch) {
      module.emitError() << "stc-expand-model: batch must be in [1, "
                         << abi::kMaxBatch << "] (got "
                         << static_cast<int64_t>(batch) << ")";
      return signalPassFailure();
    }
    // A module that states its forward function directly needs no expansion.
    if (models.empty() && module.lookupSymbol("forward"))
      return;
    if (models.size() != 1) {
      module.emitError() << "stc-expand-model: expected exactly one st.model "
                            "in the module, found "
                         << models.size() << "; compile one model per file";
      return signalPassFailure();
    }
    if (module.lookupSymbol("forward")) {
      module.emitError() << "stc-expand-model: the module already has a "
                            "symbol named @forward";
      return signalPassFailure();
    }
    // Activations have batch x context rows (kernels index rows with int)
    // of at most max(vocab, ffn width) elements.
    ModelOp model = models.front();
    int64_t rows = batch * model.getContextSize();
    int64_t widest = std::max<int64_t>(
        {static_cast<int64_t>(model.getVocab()), model.ffnWidth(),
         model.qkWidth(), static_cast<int64_t>(model.getWidth())});
    if (rows > abi::kMaxDim || rows * widest > abi::kMaxCount) {
      module.emitError() << "stc-expand-model: batch " << batch
                         << " x context " << model.getContextSize() << " = "
                         << rows << " rows of up to " << widest
                         << " elements exceed stc's limits (" << abi::kMaxDim
                         << " rows, " << abi::kMaxCount
                         << " elements per tensor); lower the batch";
      return signalPassFailure();
    }
    if (failed(ModelExpander(model, batch).run()))
      signalPassFailure();
  }
};

} // namespace
