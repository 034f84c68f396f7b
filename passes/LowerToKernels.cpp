//===- LowerToKernels.cpp - stc-lower-to-kernels --------------------------===//
//
// Step functions of tensor-level st ops -> stk programs: every tensor gets a
// buffer, every op the artifact ops that compute it (docs/artifact-format.md
// gives each op's arguments, attributes and meaning).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/st/StOps.h"
#include "dialect/stk/StkOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"

#include <cmath>

namespace stc {
#define GEN_PASS_DEF_LOWERTOKERNELSPASS
#include "passes/Passes.h.inc"
} // namespace stc

using namespace mlir;
using namespace stc;

namespace {

/// Head sizes the generated attention kernels support.
constexpr int64_t kMinHeadDim = 8, kMaxHeadDim = 256;

int64_t lastDim(Type t) {
  auto type = cast<RankedTensorType>(t);
  return type.getDimSize(type.getRank() - 1);
}
int64_t numElements(Type t) { return cast<RankedTensorType>(t).getNumElements(); }
int64_t rowsOf(Type t) { return numElements(t) / lastDim(t); }

/// Lowers the module's step functions into stk programs.
class KernelLowering {
public:
  explicit KernelLowering(ModuleOp module)
      : module(module), builder(module.getContext()),
        loc(module.getLoc()) {}

  LogicalResult run() {
    builder.setInsertionPointToEnd(module.getBody());
    scalars = buffer("scalars", RankedTensorType::get({16}, builder.getI32Type()),
                     "scalars");
    // Buffers take over the names of parameters and caches.
    for (auto param : llvm::to_vector(module.getOps<st::ParameterOp>())) {
      params.push_back({param.getSymNameAttr(), param.getType(),
                        param.getInit(), param.getDecay(), param.getLoc()});
      param.erase();
    }
    SmallVector<std::pair<StringAttr, Type>> caches;
    for (auto cache : llvm::to_vector(module.getOps<st::KvCacheOp>())) {
      caches.push_back({cache.getSymNameAttr(), cache.getType()});
      cache.erase();
    }
    for (const ParamInfo &p : params)
      paramBuffers[p.name] = buffer(p.name, p.type, "param");
    for (auto [name, type] : caches)
      paramBuffers[name] = buffer(name, type, "cache");

    for (StringRef name : {"train_step", "eval_step", "sample_step"}) {
      auto fn = module.lookupSymbol<func::FuncOp>(name);
      if (!fn)
        return module.emitError() << "stc-lower-to-kernels: no @" << name
                                  << "; run stc-autodiff first";
      if (failed(lowerFunction(fn)))
        return failure();
    }

    // The parameter table.
    for (const ParamInfo &param : params) {
      auto grad = paramGrads.find(param.name);
      if (grad == paramGrads.end())
        return emitError(param.loc) << "parameter @" << param.name.getValue()
                                    << " gets no gradient in @train_step";
      auto f32 = [&](Type t) {
        return RankedTensorType::get(cast<RankedTensorType>(t).getShape(),
                                     builder.getF32Type());
      };
      std::string name = param.name.str();
      auto m = buffer(name + ".adam_m", f32(param.type), "moment");
      auto v = buffer(name + ".adam_v", f32(param.type), "moment");
      // The table entry is named after the parameter, like its value buffer,
      // so it lives in the programs' namespace: prefix it.
      builder.setInsertionPointToEnd(module.getBody());
      stk::ParameterOp::create(builder, param.loc,
                               builder.getStringAttr("param." + name),
                               paramBuffers[param.name], grad->second, m, v,
                               param.init,
                               param.decay ? builder.getUnitAttr() : UnitAttr());
    }
    for (auto fn : llvm::to_vector(module.getOps<func::FuncOp>()))
      fn.erase();
    return success();
  }

private:
  struct ParamInfo {
    StringAttr name;
    Type type;
    Attribute init;
    bool decay;
    Location loc;
  };

  FlatSymbolRefAttr buffer(StringRef name, Type type, StringRef role) {
    // Buffers stay ahead of the programs, in creation order.
    OpBuilder::InsertionGuard guard(builder);
    if (programs.empty())
      builder.setInsertionPointToEnd(module.getBody());
    else
      builder.setInsertionPoint(programs.front());
    stk::BufferOp::create(builder, loc, name, type, role, IntegerAttr());
    return FlatSymbolRefAttr::get(builder.getContext(), name);
  }

  FlatSymbolRefAttr fresh(Type type, StringRef hint, StringRef role = "activation") {
    return buffer((prefix + "." + hint + std::to_string(counter++)).str(), type,
                  role);
  }

  FlatSymbolRefAttr f32Buffer(ArrayRef<int64_t> shape, StringRef hint) {
    return fresh(RankedTensorType::get(shape, builder.getF32Type()), hint);
  }

  void launch(StringRef kind, ArrayRef<FlatSymbolRefAttr> args,
              ArrayRef<NamedAttribute> params) {
    SmallVector<Attribute> argAttrs(args.begin(), args.end());
    stk::LaunchOp::create(builder, loc, kind, builder.getArrayAttr(argAttrs),
                          builder.getDictionaryAttr(params));
  }

  NamedAttribute i64(StringRef name, int64_t v) {
    return builder.getNamedAttr(name, builder.getI64IntegerAttr(v));
  }
  NamedAttribute f64(StringRef name, double v) {
    return builder.getNamedAttr(name, builder.getF64FloatAttr(v));
  }
  NamedAttribute flag(StringRef name, bool v) {
    return builder.getNamedAttr(name, builder.getBoolAttr(v));
  }

  FlatSymbolRefAttr of(Value v) { return values.lookup(v); }

  /// Result buffer of `v`, created on first use. The sampling step's logits
  /// are always f32 (the artifact's contract), whatever the model's dtype.
  FlatSymbolRefAttr def(Value v, StringRef hint) {
    Type type = v.getType();
    if (v == sampledLogits)
      type = RankedTensorType::get(cast<RankedTensorType>(type).getShape(),
                                   builder.getF32Type());
    auto ref = fresh(type, hint);
    values[v] = ref;
    return ref;
  }

  void zero(FlatSymbolRefAttr buf, Type type) {
    launch("zero", {buf}, {i64("count", numElements(type))});
  }

  /// Attention attributes shared by forward, backward and decode.
  FailureOr<SmallVector<NamedAttribute>>
  attentionParams(Operation *op, int64_t batch, int64_t time, int64_t heads,
                  int64_t qkWidth, int64_t vWidth, std::optional<double> scale,
                  ArrayAttr patterns) {
    int64_t dk = qkWidth / heads, dv = vWidth / heads;
    for (int64_t d : {dk, dv})
      if (d < kMinHeadDim || d > kMaxHeadDim || d % 8 != 0)
        return op->emitOpError()
               << "head size " << d << " is not supported by the attention "
               << "kernels; valid: multiples of 8 from " << kMinHeadDim
               << " to " << kMaxHeadDim << " (width / heads)";
    auto layouts = op->getAttrOfType<ArrayAttr>("st.layouts");
    if (!layouts || layouts.size() != patterns.size())
      return op->emitOpError() << "has no block layouts; run "
                                  "stc-tile-attention first";
    SmallVector<Attribute> names;
    for (Attribute l : layouts)
      names.push_back(builder.getStringAttr(cast<FlatSymbolRefAttr>(l).getValue()));
    return SmallVector<NamedAttribute>{
        i64("B", batch), i64("T", time), i64("H", heads), i64("dk", dk),
        i64("dv", dv), f64("scale", scale.value_or(1.0 / std::sqrt(double(dk)))),
        builder.getNamedAttr("layouts", builder.getArrayAttr(names)),
        i64("heads_per_layout", heads / static_cast<int64_t>(patterns.size()))};
  }

  LogicalResult lowerFunction(func::FuncOp fn) {
    prefix = fn.getName() == "train_step" ? "train"
             : fn.getName() == "eval_step" ? "eval" : "sample";
    counter = 0;
    values.clear();
    lnStats.clear();
    attnLse.clear();
    // Inputs.
    NamedAttrList inputs, outputs;
    Block &body = fn.getBody().front();
    sampledLogits = fn.getName() == "sample_step"
                        ? body.getTerminator()->getOperand(0)
                        : Value();
    StringRef inputNames[] = {"tokens", "targets"};
    for (BlockArgument arg : body.getArguments()) {
      StringRef role = fn.getName() == "sample_step" ? StringRef("token")
                                                     : inputNames[arg.getArgNumber()];
      auto ref = buffer((prefix + "." + role).str(), arg.getType(), "input");
      values[arg] = ref;
      inputs.append(role, ref);
    }
    builder.setInsertionPointToEnd(module.getBody());
    auto program = stk::ProgramOp::create(builder, fn.getLoc(), fn.getName(),
                                          builder.getDictionaryAttr({}),
                                          builder.getDictionaryAttr({}));
    programs.push_back(program);
    builder.setInsertionPointToStart(&program.getBody().emplaceBlock());
    for (Operation &op : body) {
      loc = op.getLoc();
      if (auto ret = dyn_cast<func::ReturnOp>(op)) {
        auto role = fn.getName() == "sample_step" ? "logits" : "losses";
        outputs.append(role, of(ret.getOperand(0)));
        continue;
      }
      if (failed(lower(&op)))
        return failure();
    }
    program.setInputsAttr(inputs.getDictionary(builder.getContext()));
    program.setOutputsAttr(outputs.getDictionary(builder.getContext()));
    return success();
  }

  LogicalResult lower(Operation *op);

  ModuleOp module;
  OpBuilder builder;
  Location loc;
  std::string prefix;
  int64_t counter = 0;
  FlatSymbolRefAttr scalars;
  SmallVector<stk::ProgramOp> programs;
  SmallVector<ParamInfo> params;
  llvm::DenseMap<Attribute, FlatSymbolRefAttr> paramBuffers;
  llvm::DenseMap<Attribute, FlatSymbolRefAttr> paramGrads;
  llvm::DenseMap<Value, FlatSymbolRefAttr> values;
  Value sampledLogits;
  /// Forward layer norm (x, gamma) -> (mean, rstd), for its backward.
  llvm::DenseMap<std::pair<Value, Value>,
                 std::pair<FlatSymbolRefAttr, FlatSymbolRefAttr>> lnStats;
  /// Forward attention output -> its log-sum-exp buffer, for its backward.
  llvm::DenseMap<Value, FlatSymbolRefAttr> attnLse;
};

LogicalResult KernelLowering::lower(Operation *op) {
  using namespace st;
  if (auto load = dyn_cast<LoadOp>(op)) {
    values[load.getResult()] = paramBuffers.lookup(load.getNameAttr().getAttr());
    return success();
  }
  if (auto embed = dyn_cast<EmbedOp>(op)) {
    auto type = cast<RankedTensorType>(embed.getType());
    // Decoding embeds one position of a sequence as long as the context.
    int64_t time = type.getDimSize(1);
    if (embed.getDecode()) {
      auto models = module.getOps<ModelOp>();
      if (models.empty())
        return op->emitOpError() << "decodes, but the module has no st.model "
                                    "to take the context from";
      time = (*models.begin()).getContextSize();
    }
    SmallVector<FlatSymbolRefAttr> args = {of(embed.getTokens()), of(embed.getTable())};
    for (Value p : embed.getPositions())
      args.push_back(of(p));
    args.push_back(def(embed.getResult(), "embed"));
    SmallVector<Attribute> pos;
    for (auto [div, mod] : embed.getPosition().components(time))
      pos.push_back(builder.getArrayAttr(
          {builder.getI64IntegerAttr(div), builder.getI64IntegerAttr(mod)}));
    launch("embed_fwd", args,
           {i64("rows", rowsOf(type)), i64("T", time), i64("D", lastDim(type)),
            i64("V", cast<RankedTensorType>(embed.getTable().getType()).getDimSize(0)),
            builder.getNamedAttr("pos", builder.getArrayAttr(pos)),
            flag("decode", embed.getDecode())});
    return success();
  }
  if (auto ln = dyn_cast<LayerNormOp>(op)) {
    Type t = ln.getX().getType();
    auto mean = f32Buffer({rowsOf(t)}, "ln_mean");
    auto rstd = f32Buffer({rowsOf(t)}, "ln_rstd");
    launch("layer_norm_fwd",
           {of(ln.getX()), of(ln.getGamma()), of(ln.getBeta()),
            def(ln.getResult(), "ln"), mean, rstd},
           {i64("M", rowsOf(t)), i64("C", lastDim(t)),
            f64("eps", ln.getEpsilon().convertToDouble())});
    lnStats[{ln.getX(), ln.getGamma()}] = {mean, rstd};
    return success();
  }
  if (auto linear = dyn_cast<LinearOp>(op)) {
    Type x = linear.getX().getType(), y = linear.getType();
    SmallVector<FlatSymbolRefAttr> args = {of(linear.getX()), of(linear.getWeight()),
                                           def(linear.getResult(), "linear")};
    if (linear.getBias())
      args.push_back(of(linear.getBias()));
    launch("gemm", args,
           {i64("M", rowsOf(x)), i64("N", lastDim(y)), i64("K", lastDim(x)),
            flag("trans_a", false), flag("trans_b", false), f64("alpha", 1.0),
            f64("beta", 0.0), flag("bias", bool(linear.getBias()))});
    return success();
  }
  if (auto gelu = dyn_cast<GeluOp>(op)) {
    launch("gelu_fwd", {of(gelu.getX()), def(gelu.getResult(), "gelu")},
           {i64("count", numElements(gelu.getType()))});
    return success();
  }
  if (auto add = dyn_cast<AddOp>(op)) {
    launch("add", {of(add.getLhs()), of(add.getRhs()), def(add.getResult(), "add")},
           {i64("count", numElements(add.getType()))});
    return success();
  }
  if (auto drop = dyn_cast<DropoutOp>(op)) {
    auto salt = drop->getAttrOfType<IntegerAttr>("salt");
    launch("dropout_fwd", {of(drop.getX()), def(drop.getResult(), "dropout")},
           {i64("count", numElements(drop.getType())),
            f64("rate", drop.getRate().convertToDouble()),
            i64("salt", salt ? salt.getInt() : 0)});
    return success();
  }
  if (auto attn = dyn_cast<AttentionOp>(op)) {
    auto q = cast<RankedTensorType>(attn.getQ().getType());
    int64_t b = q.getDimSize(0), t = q.getDimSize(1), h = attn.getHeads();
    auto params = attentionParams(op, b, t, h, q.getDimSize(2),
                                  lastDim(attn.getV().getType()),
                                  attn.getScale() ? std::optional<double>(attn.getScale()->convertToDouble()) : std::nullopt,
                                  attn.getPatterns());
    if (failed(params))
      return failure();
    auto lse = f32Buffer({b, h, t}, "attn_lse");
    launch("attention_fwd",
           {of(attn.getQ()), of(attn.getK()), of(attn.getV()),
            def(attn.getResult(), "attn"), lse},
           *params);
    attnLse[attn.getResult()] = lse;
    return success();
  }
  if (auto ce = dyn_cast<CrossEntropyOp>(op)) {
    Type logits = ce.getLogits().getType();
    int64_t m = rowsOf(logits), v = lastDim(logits);
    auto losses = fresh(RankedTensorType::get({m}, builder.getF32Type()),
                        "losses", "output");
    values[ce.getResult()] = losses;
    CrossEntropyGradOp grad;
    for (Operation *user : ce.getLogits().getUsers())
      if (auto g = dyn_cast<CrossEntropyGradOp>(user))
        grad = g;
    if (!grad) {
      launch("xent_fwd", {of(ce.getLogits()), of(ce.getTargets()), losses},
             {i64("M", m), i64("V", v)});
      return success();
    }
    // The loss and its gradient in one pass over the logits.
    launch("xent_fwd_bwd",
           {of(ce.getLogits()), of(ce.getTargets()), losses,
            def(grad.getResult(), "dlogits")},
           {i64("M", m), i64("V", v), f64("scale", 1.0 / double(m))});
    return success();
  }
  if (isa<CrossEntropyGradOp>(op)) {
    if (!values.count(op->getResult(0)))
      return op->emitOpError() << "must follow the st.cross_entropy of the "
                                  "same logits";
    return success();
  }
  if (auto g = dyn_cast<LinearGradInputOp>(op)) {
    Type dy = g.getDy().getType(), w = g.getWeight().getType();
    auto wt = cast<RankedTensorType>(w);
    launch("gemm", {of(g.getDy()), of(g.getWeight()), def(g.getResult(), "dx")},
           {i64("M", rowsOf(dy)), i64("N", wt.getDimSize(0)),
            i64("K", wt.getDimSize(1)), flag("trans_a", false),
            flag("trans_b", true), f64("alpha", 1.0), f64("beta", 0.0),
            flag("bias", false)});
    return success();
  }
  if (auto g = dyn_cast<LinearGradWeightOp>(op)) {
    Type dy = g.getDy().getType(), x = g.getX().getType();
    launch("gemm", {of(g.getX()), of(g.getDy()), def(g.getResult(), "dw")},
           {i64("M", lastDim(x)), i64("N", lastDim(dy)), i64("K", rowsOf(x)),
            flag("trans_a", true), flag("trans_b", false), f64("alpha", 1.0),
            f64("beta", 0.0), flag("bias", false)});
    return success();
  }
  if (auto g = dyn_cast<BiasGradOp>(op)) {
    auto db = def(g.getResult(), "db");
    zero(db, g.getType());
    launch("bias_grad", {of(g.getDy()), db},
           {i64("M", rowsOf(g.getDy().getType())), i64("N", lastDim(g.getType()))});
    return success();
  }
  if (auto g = dyn_cast<GeluGradOp>(op)) {
    launch("gelu_bwd", {of(g.getX()), of(g.getDy()), def(g.getResult(), "dgelu")},
           {i64("count", numElements(g.getType())), flag("accumulate", false)});
    return success();
  }
  if (auto g = dyn_cast<DropoutGradOp>(op)) {
    launch("dropout_bwd", {of(g.getDy()), def(g.getResult(), "ddropout")},
           {i64("count", numElements(g.getType())),
            f64("rate", g.getRate().convertToDouble()), i64("salt", g.getSalt())});
    return success();
  }
  if (auto g = dyn_cast<LayerNormGradOp>(op)) {
    auto stats = lnStats.find({g.getX(), g.getGamma()});
    if (stats == lnStats.end())
      return op->emitOpError() << "has no forward st.layer_norm of the same "
                                  "input in this step";
    auto dg = def(g.getDgamma(), "dgamma"), db = def(g.getDbeta(), "dbeta");
    zero(dg, g.getDgamma().getType());
    zero(db, g.getDbeta().getType());
    Type x = g.getX().getType();
    launch("layer_norm_bwd",
           {of(g.getDy()), of(g.getX()), stats->second.first,
            stats->second.second, of(g.getGamma()), def(g.getDx(), "dln"), dg, db},
           {i64("M", rowsOf(x)), i64("C", lastDim(x)), flag("accumulate", false)});
    return success();
  }
  if (auto g = dyn_cast<AttentionGradOp>(op)) {
    auto lse = attnLse.find(g.getOut());
    if (lse == attnLse.end())
      return op->emitOpError() << "has no forward st.attention in this step";
    auto q = cast<RankedTensorType>(g.getQ().getType());
    auto params = attentionParams(op, q.getDimSize(0), q.getDimSize(1),
                                  g.getHeads(), q.getDimSize(2),
                                  lastDim(g.getV().getType()),
                                  g.getScale() ? std::optional<double>(g.getScale()->convertToDouble()) : std::nullopt,
                                  g.getPatterns());
    if (failed(params))
      return failure();
    launch("attention_bwd",
           {of(g.getQ()), of(g.getK()), of(g.getV()), of(g.getOut()),
            lse->second, of(g.getDout()), def(g.getDq(), "dq"),
            def(g.getDk(), "dk"), def(g.getDv(), "dv")},
           *params);
    return success();
  }
  if (auto g = dyn_cast<EmbedGradOp>(op)) {
    auto dy = cast<RankedTensorType>(g.getDy().getType());
    SmallVector<FlatSymbolRefAttr> args = {of(g.getTokens()), of(g.getDy())};
    for (Value r : g.getGrads()) {
      args.push_back(def(r, "demb"));
      zero(args.back(), r.getType());
    }
    SmallVector<Attribute> pos;
    for (auto [div, mod] : g.getPosition().components(dy.getDimSize(1)))
      pos.push_back(builder.getArrayAttr(
          {builder.getI64IntegerAttr(div), builder.getI64IntegerAttr(mod)}));
    launch("embed_bwd", args,
           {i64("rows", rowsOf(dy)), i64("T", dy.getDimSize(1)),
            i64("D", lastDim(dy)),
            i64("V", cast<RankedTensorType>(g.getGrads()[0].getType()).getDimSize(0)),
            builder.getNamedAttr("pos", builder.getArrayAttr(pos)),
            flag("decode", false)});
    return success();
  }
  if (auto g = dyn_cast<GradNormSqOp>(op)) {
    auto out = def(g.getResult(), "gnorm_sq");
    for (auto [i, grad] : llvm::enumerate(g.getGrads()))
      launch("sumsq", {of(grad), out},
             {i64("count", numElements(grad.getType())), flag("accumulate", i > 0)});
    return success();
  }
  if (auto adam = dyn_cast<AdamWOp>(op)) {
    StringAttr name = adam.getParamAttr().getAttr();
    bool decay = llvm::any_of(params, [&](const ParamInfo &p) {
      return p.name == name && p.decay;
    });
    paramGrads[name] = of(adam.getGrad());
    std::string p = name.str();
    auto m = FlatSymbolRefAttr::get(builder.getContext(), p + ".adam_m");
    auto v = FlatSymbolRefAttr::get(builder.getContext(), p + ".adam_v");
    launch("adamw", {paramBuffers.lookup(name), of(adam.getGrad()), m, v,
                     of(adam.getGnormSq())},
           {i64("count", numElements(adam.getGrad().getType())),
            f64("beta1", adam.getBeta1().convertToDouble()),
            f64("beta2", adam.getBeta2().convertToDouble()),
            f64("eps", adam.getEps().convertToDouble()),
            f64("weight_decay",
                decay ? adam.getWeightDecay().convertToDouble() : 0.0),
            f64("clip", adam.getClip().convertToDouble())});
    return success();
  }
  if (auto d = dyn_cast<DecodeAttentionOp>(op)) {
    auto kc = paramBuffers.lookup(d.getKcacheAttr().getAttr());
    auto vc = paramBuffers.lookup(d.getVcacheAttr().getAttr());
    auto kcType = cast<RankedTensorType>(
        module.lookupSymbol<stk::BufferOp>(kc).getType());
    int64_t t = kcType.getDimSize(0);
    launch("kv_store", {of(d.getK()), kc},
           {i64("D", lastDim(d.getK().getType())), i64("T", t)});
    launch("kv_store", {of(d.getV()), vc},
           {i64("D", lastDim(d.getV().getType())), i64("T", t)});
    auto params = attentionParams(op, 1, t, d.getHeads(), lastDim(d.getQ().getType()),
                                  lastDim(d.getV().getType()),
                                  d.getScale() ? std::optional<double>(d.getScale()->convertToDouble()) : std::nullopt,
                                  d.getPatterns());
    if (failed(params))
      return failure();
    SmallVector<NamedAttribute> decodeParams;
    for (NamedAttribute a : *params)
      if (a.getName() != "B")
        decodeParams.push_back(a);
    launch("attention_decode", {of(d.getQ()), kc, vc, def(d.getResult(), "attn")},
           decodeParams);
    return success();
  }
  return op->emitOpError() << "has no kernel lowering";
}

struct LowerToKernelsPass
    : public stc::impl::LowerToKernelsPassBase<LowerToKernelsPass> {
  void runOnOperation() override {
    if (failed(KernelLowering(getOperation()).run()))
      signalPassFailure();
  }
};

} // namespace
