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
#include "abi/Limits.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>
#include <cmath>

namespace stc {
#define GEN_PASS_DEF_LOWERTOKERNELSPASS
#include "passes/Passes.h.inc"
} // namespace stc

using namespace mlir;
using namespace stc;

namespace {


int64_t lastDim(Type t) {
  auto type = cast<RankedTensorType>(t);
  return type.getDimSize(type.getRank() - 1);
}
int64_t numElements(Type t) { return cast<RankedTensorType>(t).getNumElements(); }
int64_t rowsOf(Type t) { return numElements(t) / lastDim(t); }
/// Parameters stored below f32 (bf16) get f32 master weights: AdamW
/// updates those, so updates smaller than the stored precision add up.
bool hasMaster(Type t) {
  return !cast<RankedTensorType>(t).getElementType().isF32();
}
/// An attention's score scale: the op's, else 1 / sqrt(head size dk).
double scoreScale(std::optional<double> scale, int64_t dk) {
  return scale.value_or(1.0 / std::sqrt(double(dk)));
}

/// Lowers the module's step functions into stk programs. The per-op
/// lowerings below use its helpers (buffers, launches, attributes).
struct KernelLowering {
  KernelLowering(ModuleOp module, bool deterministic, int64_t decodeSplits)
      : module(module), builder(module.getContext()), loc(module.getLoc()),
        deterministic(deterministic), decodeSplits(decodeSplits) {}

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
    // f16 parameters: the training step runs with a dynamic loss scale
    // (abi/Ops.def loss_scale_update), its state kept with the optimizer's.
    if (llvm::any_of(params, [](const ParamInfo &p) {
          return cast<RankedTensorType>(p.type).getElementType().isF16();
        }))
      lossScale = buffer("loss_scale",
                         RankedTensorType::get({4}, builder.getF32Type()),
                         "moment");
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
      // bf16 parameters: AdamW updates an f32 master copy (lowerAdamW).
      FlatSymbolRefAttr master;
      if (hasMaster(param.type))
        master = buffer(name + ".master", f32(param.type), "moment");
      // The table entry is named after the parameter, like its value buffer,
      // so it lives in the programs' namespace: prefix it.
      builder.setInsertionPointToEnd(module.getBody());
      stk::ParameterOp::create(builder, param.loc,
                               builder.getStringAttr("param." + name),
                               paramBuffers[param.name], grad->second, m, v,
                               param.init,
                               param.decay ? builder.getUnitAttr() : UnitAttr(),
                               master);
    }
    for (auto fn : llvm::to_vector(module.getOps<func::FuncOp>()))
      fn.erase();
    return success();
  }

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
  /// A bool attribute; false is the default of every bool in abi/Ops.def,
  /// so it is left out.
  void flag(SmallVectorImpl<NamedAttribute> &attrs, StringRef name, bool v) {
    if (v)
      attrs.push_back(builder.getNamedAttr(name, builder.getBoolAttr(true)));
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

  /// One key set of an attention gradient: the buffers of its keys, values
  /// and their gradients, and the attention attributes over them.
  struct KeySet {
    FlatSymbolRefAttr k, v, dk, dv;
    ArrayRef<NamedAttribute> params;
  };

  /// The fast attention backward of an attention with queries `q` (of type
  /// `qType`), output `out` and statistics `lse`: attention_bwd_prep (delta,
  /// a zeroed fp32 dq), one attention_bwd_atomic per key set (each adds its
  /// dq into it), and a cast into `dq`.
  void atomicAttentionBackward(FlatSymbolRefAttr q, RankedTensorType qType,
                               FlatSymbolRefAttr out, FlatSymbolRefAttr dout,
                               FlatSymbolRefAttr dq, FlatSymbolRefAttr lse,
                               int64_t heads, int64_t vWidth,
                               ArrayRef<KeySet> sets) {
    int64_t b = qType.getDimSize(0), t = qType.getDimSize(1);
    auto delta = f32Buffer({b, heads, t}, "attn_delta");
    auto dqAcc = f32Buffer(qType.getShape(), "dq_acc");
    launch("attention_bwd_prep", {out, dout, delta, dqAcc},
           {i64("B", b), i64("T", t), i64("H", heads),
            i64("dk", qType.getDimSize(2) / heads), i64("dv", vWidth / heads)});
    for (const KeySet &s : sets)
      launch("attention_bwd_atomic",
             {q, s.k, s.v, lse, dout, delta, dqAcc, s.dk, s.dv}, s.params);
    launch("cast", {dqAcc, dq}, {i64("count", numElements(qType))});
  }

  void zero(FlatSymbolRefAttr buf, Type type) {
    launch("zero", {buf}, {i64("count", numElements(type))});
  }

  /// Attention attributes shared by forward, backward and decode.
  FailureOr<SmallVector<NamedAttribute>>
  attentionParams(Operation *op, int64_t batch, int64_t time, int64_t heads,
                  int64_t qkWidth, int64_t vWidth, std::optional<double> scale,
                  ArrayAttr patterns, StringRef layoutsAttr = "st.layouts") {
    int64_t dk = qkWidth / heads, dv = vWidth / heads;
    for (int64_t d : {dk, dv})
      if (d < abi::kMinHeadDim || d > abi::kMaxHeadDim ||
          d % abi::kHeadDimMultiple != 0)
        return op->emitOpError()
               << "head size " << d << " is not supported by the attention "
               << "kernels; valid: multiples of " << abi::kHeadDimMultiple
               << " from " << abi::kMinHeadDim << " to " << abi::kMaxHeadDim
               << " (width / heads)";
    auto layouts = op->getAttrOfType<ArrayAttr>(layoutsAttr);
    if (!layouts || layouts.size() != patterns.size())
      return op->emitOpError() << "has no block layouts; run "
                                  "stc-tile-attention first";
    SmallVector<Attribute> names;
    for (Attribute l : layouts)
      names.push_back(builder.getStringAttr(cast<FlatSymbolRefAttr>(l).getValue()));
    // Score modifications: leading temperatures fold into the scale.
    std::string why;
    std::optional<st::KernelScoreMods> mods = st::kernelScoreMods(
        op->getAttrOfType<ArrayAttr>("score_mods"), &why);
    if (!mods)
      return op->emitOpError() << "score_mods " << why;
    SmallVector<NamedAttribute> params = {
        i64("B", batch), i64("T", time), i64("H", heads), i64("dk", dk),
        i64("dv", dv),
        f64("scale", scoreScale(scale, dk) * mods->temperature),
        builder.getNamedAttr("layouts", builder.getArrayAttr(names)),
        i64("heads_per_layout", heads / static_cast<int64_t>(patterns.size()))};
    if (mods->softcap != 0.0)
      params.push_back(f64("softcap", mods->softcap));
    if (mods->alibi != 0.0) {
      params.push_back(f64("alibi", mods->alibi));
      // The order matters only around a soft cap.
      flag(params, "alibi_first", mods->alibiFirst && mods->softcap != 0.0);
    }
    return params;
  }

  /// Whether the backward of attention op `op` (q of type `q`, head sizes
  /// dk and dv, layouts in `layoutsAttr`) lowers to the fast atomic ops:
  /// not --deterministic, and the tensor-core kernels run it.
  bool atomicBackward(Operation *op, RankedTensorType q, int64_t dk, int64_t dv,
                      ArrayRef<StringRef> layoutsAttrs) {
    Type e = q.getElementType();
    if (deterministic || !(e.isBF16() || e.isF16()))
      return false;
    SmallVector<int64_t> blocks;
    for (StringRef name : layoutsAttrs)
      if (auto layouts = op->getAttrOfType<ArrayAttr>(name))
        for (Attribute l : layouts)
          if (auto layout = module.lookupSymbol<st::LayoutOp>(
                  cast<FlatSymbolRefAttr>(l).getValue()))
            blocks.push_back(static_cast<int64_t>(layout.getBlock()));
    return abi::attentionOnTensorCores(dk, dv, blocks.data(), blocks.size());
  }

  LogicalResult lowerFunction(func::FuncOp fn) {
    prefix = fn.getName() == "train_step" ? "train"
             : fn.getName() == "eval_step" ? "eval" : "sample";
    counter = 0;
    gnormSq = FlatSymbolRefAttr();
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
        // The loss scale changes after the last update read it.
        if (lossScale && gnormSq)
          launch("loss_scale_update", {gnormSq, lossScale},
                 {i64("growth_interval", abi::kLossScaleGrowthInterval)});
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
  /// The dynamic loss scale's state (f16 models), else null.
  FlatSymbolRefAttr lossScale;
  /// The training step's gradient norm squared, once lowered.
  FlatSymbolRefAttr gnormSq;
  bool deterministic; ///< attention backward without atomics
  int64_t decodeSplits; ///< 0: chosen per decode; 1: none; else forced
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
  /// st.adamw ops waiting to share one multi-tensor launch (lowerAdamW).
  SmallVector<st::AdamWOp> adamGroup;
};

//===----------------------------------------------------------------------===//
// One lowering per op family
//===----------------------------------------------------------------------===//

using namespace st;
using L = KernelLowering;

// -- parameters, embeddings ---------------------------------------------------

LogicalResult lowerLoad(L &l, LoadOp load) {
  l.values[load.getResult()] =
      l.paramBuffers.lookup(load.getNameAttr().getAttr());
  return success();
}

SmallVector<Attribute> positionPairs(L &l, PositionAttr position, int64_t t) {
  SmallVector<Attribute> pos;
  for (auto [div, mod] : position.components(t))
    pos.push_back(l.builder.getArrayAttr({l.builder.getI64IntegerAttr(div),
                                          l.builder.getI64IntegerAttr(mod)}));
  return pos;
}

LogicalResult lowerEmbed(L &l, EmbedOp embed) {
  auto type = cast<RankedTensorType>(embed.getType());
  // Decoding embeds one position of a sequence as long as the context.
  int64_t time = type.getDimSize(1);
  if (embed.getDecode()) {
    auto models = l.module.getOps<ModelOp>();
    if (models.empty())
      return embed.emitOpError() << "decodes, but the module has no st.model "
                                    "to take the context from";
    time = (*models.begin()).getContextSize();
  }
  SmallVector<FlatSymbolRefAttr> args = {l.of(embed.getTokens()),
                                         l.of(embed.getTable())};
  for (Value p : embed.getPositions())
    args.push_back(l.of(p));
  args.push_back(l.def(embed.getResult(), "embed"));
  SmallVector<NamedAttribute> attrs = {
      l.i64("rows", rowsOf(type)), l.i64("T", time),
      l.i64("D", lastDim(type)),
      l.i64("V", cast<RankedTensorType>(embed.getTable().getType())
                     .getDimSize(0)),
      l.builder.getNamedAttr(
          "pos", l.builder.getArrayAttr(
                     positionPairs(l, embed.getPosition(), time)))};
  l.flag(attrs, "decode", embed.getDecode());
  l.launch("embed_fwd", args, attrs);
  return success();
}

LogicalResult lowerEmbedGrad(L &l, EmbedGradOp g) {
  auto dy = cast<RankedTensorType>(g.getDy().getType());
  SmallVector<FlatSymbolRefAttr> args = {l.of(g.getTokens()), l.of(g.getDy())};
  for (Value r : g.getGrads()) {
    args.push_back(l.def(r, "demb"));
    l.zero(args.back(), r.getType());
  }
  l.launch(
      "embed_bwd", args,
      {l.i64("rows", rowsOf(dy)), l.i64("T", dy.getDimSize(1)),
       l.i64("D", lastDim(dy)),
       l.i64("V",
             cast<RankedTensorType>(g.getGrads()[0].getType()).getDimSize(0)),
       l.builder.getNamedAttr(
           "pos", l.builder.getArrayAttr(
                      positionPairs(l, g.getPosition(), dy.getDimSize(1))))});
  return success();
}

// -- layer norm ---------------------------------------------------------------

LogicalResult lowerLayerNorm(L &l, LayerNormOp ln) {
  Type t = ln.getX().getType();
  auto mean = l.f32Buffer({rowsOf(t)}, "ln_mean");
  auto rstd = l.f32Buffer({rowsOf(t)}, "ln_rstd");
  l.launch("layer_norm_fwd",
           {l.of(ln.getX()), l.of(ln.getGamma()), l.of(ln.getBeta()),
            l.def(ln.getResult(), "ln"), mean, rstd},
           {l.i64("M", rowsOf(t)), l.i64("C", lastDim(t)),
            l.f64("eps", ln.getEpsilon().convertToDouble())});
  l.lnStats[{ln.getX(), ln.getGamma()}] = {mean, rstd};
  return success();
}

LogicalResult lowerLayerNormGrad(L &l, LayerNormGradOp g) {
  auto stats = l.lnStats.find({g.getX(), g.getGamma()});
  if (stats == l.lnStats.end())
    return g.emitOpError() << "has no forward st.layer_norm of the same "
                              "input in this step";
  auto dg = l.def(g.getDgamma(), "dgamma"), db = l.def(g.getDbeta(), "dbeta");
  Type x = g.getX().getType();
  l.launch("layer_norm_bwd",
           {l.of(g.getDy()), l.of(g.getX()), stats->second.first,
            stats->second.second, l.of(g.getGamma()), l.def(g.getDx(), "dln"),
            dg, db},
           {l.i64("M", rowsOf(x)), l.i64("C", lastDim(x))});
  return success();
}

// -- linear layers: cuBLASLt GEMMs and bias gradients ------------------------

/// C = op(A) op(B) [+ bias]: gemm with alpha 1 and beta 0 (the defaults).
void gemm(L &l, ArrayRef<FlatSymbolRefAttr> args, int64_t m, int64_t n,
          int64_t k, bool transA, bool transB, bool bias) {
  SmallVector<NamedAttribute> attrs = {l.i64("M", m), l.i64("N", n),
                                       l.i64("K", k)};
  l.flag(attrs, "trans_a", transA);
  l.flag(attrs, "trans_b", transB);
  l.flag(attrs, "bias", bias);
  l.launch("gemm", args, attrs);
}

LogicalResult lowerLinear(L &l, LinearOp linear) {
  Type x = linear.getX().getType(), y = linear.getType();
  SmallVector<FlatSymbolRefAttr> args = {l.of(linear.getX()),
                                         l.of(linear.getWeight()),
                                         l.def(linear.getResult(), "linear")};
  if (linear.getBias())
    args.push_back(l.of(linear.getBias()));
  gemm(l, args, rowsOf(x), lastDim(y), lastDim(x), false, false,
       bool(linear.getBias()));
  return success();
}

LogicalResult lowerLinearGradInput(L &l, LinearGradInputOp g) {
  auto wt = cast<RankedTensorType>(g.getWeight().getType());
  gemm(l, {l.of(g.getDy()), l.of(g.getWeight()), l.def(g.getResult(), "dx")},
       rowsOf(g.getDy().getType()), wt.getDimSize(0), wt.getDimSize(1), false,
       true, false);
  return success();
}

LogicalResult lowerLinearGradWeight(L &l, LinearGradWeightOp g) {
  Type dy = g.getDy().getType(), x = g.getX().getType();
  gemm(l, {l.of(g.getX()), l.of(g.getDy()), l.def(g.getResult(), "dw")},
       lastDim(x), lastDim(dy), rowsOf(x), true, false, false);
  return success();
}

LogicalResult lowerBiasGrad(L &l, BiasGradOp g) {
  auto db = l.def(g.getResult(), "db");
  l.launch("bias_grad", {l.of(g.getDy()), db},
           {l.i64("M", rowsOf(g.getDy().getType())),
            l.i64("N", lastDim(g.getType()))});
  return success();
}

// -- elementwise ----------------------------------------------------------------

LogicalResult lowerGelu(L &l, GeluOp gelu) {
  l.launch("gelu_fwd", {l.of(gelu.getX()), l.def(gelu.getResult(), "gelu")},
           {l.i64("count", numElements(gelu.getType()))});
  return success();
}

LogicalResult lowerGeluGrad(L &l, GeluGradOp g) {
  l.launch("gelu_bwd",
           {l.of(g.getX()), l.of(g.getDy()), l.def(g.getResult(), "dgelu")},
           {l.i64("count", numElements(g.getType()))});
  return success();
}

LogicalResult lowerAdd(L &l, AddOp add) {
  l.launch("add",
           {l.of(add.getLhs()), l.of(add.getRhs()), l.def(add.getResult(), "add")},
           {l.i64("count", numElements(add.getType()))});
  return success();
}

LogicalResult lowerDropout(L &l, DropoutOp drop) {
  auto salt = drop->getAttrOfType<IntegerAttr>("salt");
  l.launch("dropout_fwd", {l.of(drop.getX()), l.def(drop.getResult(), "dropout")},
           {l.i64("count", numElements(drop.getType())),
            l.f64("rate", drop.getRate().convertToDouble()),
            l.i64("salt", salt ? salt.getInt() : 0)});
  return success();
}

LogicalResult lowerDropoutGrad(L &l, DropoutGradOp g) {
  l.launch("dropout_bwd", {l.of(g.getDy()), l.def(g.getResult(), "ddropout")},
           {l.i64("count", numElements(g.getType())),
            l.f64("rate", g.getRate().convertToDouble()),
            l.i64("salt", g.getSalt())});
  return success();
}

/// stride_permute of x into y over [rows, T, width], columns [c0, c1).
void launchStridePermute(L &l, FlatSymbolRefAttr x, FlatSymbolRefAttr y,
                         int64_t rows, int64_t t, int64_t width, int64_t c0,
                         int64_t c1, int64_t stride, bool inverse) {
  SmallVector<NamedAttribute> attrs = {
      l.i64("B", rows),       l.i64("T", t),        l.i64("D", width),
      l.i64("col_begin", c0), l.i64("col_end", c1), l.i64("stride", stride)};
  l.flag(attrs, "inverse", inverse);
  l.launch("stride_permute", {x, y}, attrs);
}

LogicalResult lowerStridePermute(L &l, StridePermuteOp p) {
  auto type = cast<RankedTensorType>(p.getType());
  int64_t width = type.getDimSize(2);
  int64_t headDim = width / static_cast<int64_t>(p.getHeads());
  launchStridePermute(l, l.of(p.getX()), l.def(p.getResult(), "permuted"),
                      type.getDimSize(0), type.getDimSize(1), width,
                      static_cast<int64_t>(p.getHeadBegin()) * headDim,
                      static_cast<int64_t>(p.getHeadEnd()) * headDim,
                      static_cast<int64_t>(p.getStride()), p.getInverse());
  return success();
}

// -- attention ------------------------------------------------------------------

std::optional<double> scaleOf(std::optional<APFloat> scale) {
  return scale ? std::optional<double>(scale->convertToDouble())
               : std::nullopt;
}

LogicalResult lowerAttention(L &l, AttentionOp attn) {
  auto q = cast<RankedTensorType>(attn.getQ().getType());
  int64_t b = q.getDimSize(0), t = q.getDimSize(1), h = attn.getHeads();
  auto params = l.attentionParams(attn, b, t, h, q.getDimSize(2),
                                  lastDim(attn.getV().getType()),
                                  scaleOf(attn.getScale()), attn.getPatterns());
  if (failed(params))
    return failure();
  auto lse = l.f32Buffer({b, h, t}, "attn_lse");
  l.launch("attention_fwd",
           {l.of(attn.getQ()), l.of(attn.getK()), l.of(attn.getV()),
            l.def(attn.getResult(), "attn"), lse},
           *params);
  l.attnLse[attn.getResult()] = lse;
  return success();
}

LogicalResult lowerAttentionGrad(L &l, AttentionGradOp g) {
  auto lse = l.attnLse.find(g.getOut());
  if (lse == l.attnLse.end())
    return g.emitOpError() << "has no forward st.attention in this step";
  auto q = cast<RankedTensorType>(g.getQ().getType());
  int64_t h = g.getHeads(), dv = lastDim(g.getV().getType());
  auto params = l.attentionParams(g, q.getDimSize(0), q.getDimSize(1), h,
                                  q.getDimSize(2), dv, scaleOf(g.getScale()),
                                  g.getPatterns());
  if (failed(params))
    return failure();
  if (l.atomicBackward(g, q, q.getDimSize(2) / h, dv / h, {"st.layouts"})) {
    auto dk = l.def(g.getDk(), "dk"), dvBuf = l.def(g.getDv(), "dv");
    l.atomicAttentionBackward(
        l.of(g.getQ()), q, l.of(g.getOut()), l.of(g.getDout()),
        l.def(g.getDq(), "dq"), lse->second, h, dv,
        {{l.of(g.getK()), l.of(g.getV()), dk, dvBuf, *params}});
    return success();
  }
  l.launch("attention_bwd",
           {l.of(g.getQ()), l.of(g.getK()), l.of(g.getV()), l.of(g.getOut()),
            lse->second, l.of(g.getDout()), l.def(g.getDq(), "dq"),
            l.def(g.getDk(), "dk"), l.def(g.getDv(), "dv")},
           *params);
  return success();
}

/// The attention attributes of a split layer's two sources: the keys
/// (`patterns`, st.layouts) and the second source (`second`,
/// st.second_layouts).
template <typename OpT>
FailureOr<std::pair<SmallVector<NamedAttribute>, SmallVector<NamedAttribute>>>
splitParams(L &l, OpT op) {
  auto q = cast<RankedTensorType>(op.getQ().getType());
  int64_t b = q.getDimSize(0), t = q.getDimSize(1), h = op.getHeads();
  int64_t qk = q.getDimSize(2), dv = lastDim(op.getV().getType());
  auto first = l.attentionParams(op, b, t, h, qk, dv, scaleOf(op.getScale()),
                                 op.getPatterns());
  if (failed(first)) // one diagnostic, not one per source
    return failure();
  auto second = l.attentionParams(op, b, t, h, qk, dv, scaleOf(op.getScale()),
                                  op.getSecond(), "st.second_layouts");
  if (failed(second))
    return failure();
  return std::make_pair(std::move(*first), std::move(*second));
}

/// A stride split's reordering of every column of x (stride_permute into a
/// fresh buffer of type `type`), viewed as [rows, T, width]: activations
/// [B, T, width], or statistics [B, H, T] as [B * H, T, 1].
FlatSymbolRefAttr strideReordered(L &l, FlatSymbolRefAttr x, Type type,
                                  int64_t rows, int64_t t, int64_t width,
                                  int64_t stride, bool inverse,
                                  StringRef hint) {
  auto y = l.fresh(type, hint);
  launchStridePermute(l, x, y, rows, t, width, 0, width, stride, inverse);
  return y;
}

/// The buffers of one attention (queries, keys, values, output, lse and
/// the output gradient) in the stride-permuted order, made by the forward or
/// the gradient of a stride split.
struct Permuted {
  L &l;
  int64_t b, h, t, stride;

  FlatSymbolRefAttr of(FlatSymbolRefAttr x, Type type, StringRef hint,
                       bool inverse = false) {
    return strideReordered(l, x, type, b, t, lastDim(type), stride, inverse,
                           hint);
  }
  FlatSymbolRefAttr stats(FlatSymbolRefAttr x, StringRef hint,
                          bool inverse = false) {
    return strideReordered(
        l, x, RankedTensorType::get({b, h, t}, l.builder.getF32Type()), b * h,
        t, 1, stride, inverse, hint);
  }
};

/// st.attention_split: one attention per source, the second merging the
/// first's result into its own by their lse (attention_fwd `merge`). With
/// `stride`, the second source (strided(l) as fixed(T / l, 0)) runs first,
/// on q, k, v permuted; its result and lse are restored, and the attention
/// over the keys merges them.
LogicalResult lowerAttentionSplit(L &l, AttentionSplitOp attn) {
  auto params = splitParams(l, attn);
  if (failed(params))
    return failure();
  auto &[first, second] = *params;
  auto q = cast<RankedTensorType>(attn.getQ().getType());
  int64_t b = q.getDimSize(0), t = q.getDimSize(1), h = attn.getHeads();
  Type oType = attn.getResult().getType();
  auto lse = l.f32Buffer({b, h, t}, "attn_lse");
  l.attnLse[attn.getResult()] = lse;
  if (std::optional<uint64_t> stride = attn.getStride()) {
    Permuted p{l, b, h, t, static_cast<int64_t>(*stride)};
    auto o2 = l.fresh(oType, "attn_strided_perm");
    auto lse2 = l.f32Buffer({b, h, t}, "attn_lse_strided_perm");
    l.launch("attention_fwd",
             {p.of(l.of(attn.getQ()), q, "q_perm"),
              p.of(l.of(attn.getKs()), attn.getKs().getType(), "k_perm"),
              p.of(l.of(attn.getVs()), attn.getVs().getType(), "v_perm"), o2,
              lse2},
             second);
    l.flag(first, "merge", true);
    l.launch("attention_fwd",
             {l.of(attn.getQ()), l.of(attn.getK()), l.of(attn.getV()),
              l.def(attn.getResult(), "attn"), lse,
              p.of(o2, oType, "attn_strided", /*inverse=*/true),
              p.stats(lse2, "attn_lse_strided", /*inverse=*/true)},
             first);
    return success();
  }
  auto o1 = l.fresh(oType, "attn_local");
  auto lse1 = l.f32Buffer({b, h, t}, "attn_lse_local");
  l.launch("attention_fwd",
           {l.of(attn.getQ()), l.of(attn.getK()), l.of(attn.getV()), o1, lse1},
           first);
  l.flag(second, "merge", true);
  l.launch("attention_fwd",
           {l.of(attn.getQ()), l.of(attn.getKs()), l.of(attn.getVs()),
            l.def(attn.getResult(), "attn"), lse, o1, lse1},
           second);
  return success();
}

/// Both sources' backward with the merged o and lse (so each sees the one
/// softmax), dq summed. With `stride`, the second source's backward runs on
/// q, k, v, o, lse and dO permuted (its own dq), and its dq, dks, dvs are
/// restored.
LogicalResult lowerAttentionSplitGrad(L &l, AttentionSplitGradOp g) {
  auto lse = l.attnLse.find(g.getOut());
  if (lse == l.attnLse.end())
    return g.emitOpError() << "has no forward st.attention_split in this "
                              "step";
  auto params = splitParams(l, g);
  if (failed(params))
    return failure();
  auto &[first, second] = *params;
  auto q = cast<RankedTensorType>(g.getQ().getType());
  int64_t b = q.getDimSize(0), t = q.getDimSize(1), h = g.getHeads();
  int64_t dv = lastDim(g.getV().getType());
  Type kType = g.getK().getType(), vType = g.getV().getType();
  bool atomic = l.atomicBackward(g, q, q.getDimSize(2) / h, dv / h,
                                 {"st.layouts", "st.second_layouts"});
  auto dq = l.def(g.getDq(), "dq");
  auto dk = l.def(g.getDk(), "dk"), dvBuf = l.def(g.getDv(), "dv");
  // One source's backward: queries q, output o, statistics lse, gradient
  // dout, the key set `keys`; its dq into `dqOut`.
  auto backward = [&](FlatSymbolRefAttr qBuf, FlatSymbolRefAttr o,
                      FlatSymbolRefAttr lseBuf, FlatSymbolRefAttr dout,
                      FlatSymbolRefAttr dqOut, ArrayRef<L::KeySet> keys) {
    if (atomic) {
      l.atomicAttentionBackward(qBuf, q, o, dout, dqOut, lseBuf, h, dv, keys);
      return;
    }
    for (auto [i, s] : llvm::enumerate(keys)) {
      auto dqPart = i == 0 ? dqOut : l.fresh(q, "dq_part");
      l.launch("attention_bwd",
               {qBuf, s.k, s.v, o, lseBuf, dout, dqPart, s.dk, s.dv}, s.params);
      if (i != 0)
        l.launch("accumulate", {dqOut, dqPart},
                 {l.i64("count", numElements(q))});
    }
  };
  if (std::optional<uint64_t> stride = g.getStride()) {
    Permuted p{l, b, h, t, static_cast<int64_t>(*stride)};
    backward(l.of(g.getQ()), l.of(g.getOut()), lse->second, l.of(g.getDout()),
             dq, {{l.of(g.getK()), l.of(g.getV()), dk, dvBuf, first}});
    auto dqp = l.fresh(q, "dq_strided_perm");
    auto dksp = l.fresh(kType, "dk_strided_perm");
    auto dvsp = l.fresh(vType, "dv_strided_perm");
    backward(p.of(l.of(g.getQ()), q, "q_perm"),
             p.of(l.of(g.getOut()), g.getOut().getType(), "attn_perm"),
             p.stats(lse->second, "attn_lse_perm"),
             p.of(l.of(g.getDout()), g.getDout().getType(), "dattn_perm"), dqp,
             {{p.of(l.of(g.getKs()), kType, "k_perm"),
               p.of(l.of(g.getVs()), vType, "v_perm"), dksp, dvsp, second}});
    l.launch("accumulate", {dq, p.of(dqp, q, "dq_strided", true)},
             {l.i64("count", numElements(q))});
    l.values[g.getDks()] = p.of(dksp, kType, "dks", true);
    l.values[g.getDvs()] = p.of(dvsp, vType, "dvs", true);
    return success();
  }
  backward(l.of(g.getQ()), l.of(g.getOut()), lse->second, l.of(g.getDout()), dq,
           {{l.of(g.getK()), l.of(g.getV()), dk, dvBuf, first},
            {l.of(g.getKs()), l.of(g.getVs()), l.def(g.getDks(), "dks"),
             l.def(g.getDvs(), "dvs"), second}});
  return success();
}

// -- the unfused attention chain (what stc-fuse-softmax left as written) ------

/// The shape attributes of an unfused op over [B, H, T, T] scores: B, T, H
/// and, for q/k or v of width `width`, the head size `dName`. Fails above
/// abi::kMaxUnfusedContext.
FailureOr<SmallVector<NamedAttribute>> unfusedParams(L &l, Operation *op,
                                                     Type scores,
                                                     StringRef dName = "",
                                                     int64_t width = 0) {
  auto s = cast<RankedTensorType>(scores);
  int64_t b = s.getDimSize(0), h = s.getDimSize(1), t = s.getDimSize(2);
  if (t > abi::kMaxUnfusedContext)
    return op->emitOpError()
           << "materializes [" << b << ", " << h << ", " << t << ", " << t
           << "] scores: the unfused attention ops run contexts up to "
           << abi::kMaxUnfusedContext
           << "; let stc-fuse-softmax fuse the chain (nothing else may read "
              "its scores or probabilities)";
  SmallVector<NamedAttribute> attrs = {l.i64("B", b), l.i64("T", t),
                                       l.i64("H", h)};
  if (!dName.empty())
    attrs.push_back(l.i64(dName, width / h));
  return attrs;
}

/// A score modification's launch attributes: a temperature is `scale`.
void scoreModAttrs(L &l, Attribute mod, SmallVectorImpl<NamedAttribute> &attrs) {
  if (auto t = dyn_cast<TemperatureAttr>(mod))
    attrs.push_back(l.f64("scale", t.getValue().convertToDouble()));
  else if (auto c = dyn_cast<SoftcapAttr>(mod))
    attrs.push_back(l.f64("softcap", c.getValue().convertToDouble()));
  else
    attrs.push_back(
        l.f64("alibi", cast<AlibiAttr>(mod).getValue().convertToDouble()));
}

/// The scale attribute of the unfused scores op `op` (or its gradient).
template <typename OpT> NamedAttribute scoresScale(L &l, OpT op) {
  return l.f64("scale", scoreScale(scaleOf(op.getScale()),
                                   lastDim(op.getQ().getType()) / op.getHeads()));
}

LogicalResult lowerAttentionScores(L &l, AttentionScoresOp op) {
  auto p = unfusedParams(l, op, op.getType(), "dk", lastDim(op.getQ().getType()));
  if (failed(p))
    return failure();
  p->push_back(scoresScale(l, op));
  l.launch("attention_scores",
           {l.of(op.getQ()), l.of(op.getK()), l.def(op.getResult(), "scores")},
           *p);
  return success();
}

LogicalResult lowerAttentionScoresGrad(L &l, AttentionScoresGradOp op) {
  auto p = unfusedParams(l, op, op.getDs().getType(), "dk",
                         lastDim(op.getQ().getType()));
  if (failed(p))
    return failure();
  p->push_back(scoresScale(l, op));
  l.launch("attention_scores_bwd",
           {l.of(op.getDs()), l.of(op.getQ()), l.of(op.getK()),
            l.def(op.getDq(), "dq"), l.def(op.getDk(), "dk")},
           *p);
  return success();
}

LogicalResult lowerScoreMod(L &l, ScoreModOp op) {
  auto p = unfusedParams(l, op, op.getType());
  if (failed(p))
    return failure();
  scoreModAttrs(l, op.getMod(), *p);
  l.launch("score_mod", {l.of(op.getScores()), l.def(op.getResult(), "scores")},
           *p);
  return success();
}

LogicalResult lowerScoreModGrad(L &l, ScoreModGradOp op) {
  auto p = unfusedParams(l, op, op.getType());
  if (failed(p))
    return failure();
  scoreModAttrs(l, op.getMod(), *p);
  l.launch("score_mod_bwd",
           {l.of(op.getDy()), l.of(op.getScores()), l.def(op.getResult(), "ds")},
           *p);
  return success();
}

LogicalResult lowerMaskedSoftmax(L &l, MaskedSoftmaxOp op) {
  auto p = unfusedParams(l, op, op.getType());
  if (failed(p))
    return failure();
  auto layouts = op->getAttrOfType<ArrayAttr>("st.layouts");
  if (!layouts || layouts.size() != op.getPatterns().size())
    return op.emitOpError() << "has no block layouts; run stc-tile-attention "
                               "first";
  SmallVector<Attribute> names;
  for (Attribute ref : layouts)
    names.push_back(l.builder.getStringAttr(cast<FlatSymbolRefAttr>(ref).getValue()));
  int64_t heads = op.getType().getDimSize(1);
  p->push_back(l.builder.getNamedAttr("layouts", l.builder.getArrayAttr(names)));
  p->push_back(l.i64("heads_per_layout",
                     heads / static_cast<int64_t>(op.getPatterns().size())));
  l.launch("masked_softmax",
           {l.of(op.getScores()), l.def(op.getResult(), "probs")}, *p);
  return success();
}

LogicalResult lowerMaskedSoftmaxGrad(L &l, MaskedSoftmaxGradOp op) {
  auto p = unfusedParams(l, op, op.getType());
  if (failed(p))
    return failure();
  l.launch("masked_softmax_bwd",
           {l.of(op.getDy()), l.of(op.getProbs()), l.def(op.getResult(), "ds")},
           *p);
  return success();
}

LogicalResult lowerWeightedSum(L &l, AttentionWeightedSumOp op) {
  auto p = unfusedParams(l, op, op.getProbs().getType(), "dv",
                         lastDim(op.getV().getType()));
  if (failed(p))
    return failure();
  l.launch("weighted_sum",
           {l.of(op.getProbs()), l.of(op.getV()), l.def(op.getResult(), "attn")},
           *p);
  return success();
}

LogicalResult lowerWeightedSumGrad(L &l, AttentionWeightedSumGradOp op) {
  auto p = unfusedParams(l, op, op.getProbs().getType(), "dv",
                         lastDim(op.getV().getType()));
  if (failed(p))
    return failure();
  l.launch("weighted_sum_bwd",
           {l.of(op.getDy()), l.of(op.getProbs()), l.of(op.getV()),
            l.def(op.getDprobs(), "dprobs"), l.def(op.getDv(), "dv")},
           *p);
  return success();
}

LogicalResult lowerSummary(L &l, StringRef kind, StringRef hint, Value in,
                           Value out, int64_t block, int64_t summary) {
  auto type = cast<RankedTensorType>(in.getType());
  l.launch(kind, {l.of(in), l.def(out, hint)},
           {l.i64("B", type.getDimSize(0)), l.i64("T", type.getDimSize(1)),
            l.i64("D", type.getDimSize(2)), l.i64("block", block),
            l.i64("summary", summary)});
  return success();
}

LogicalResult lowerDecodeAttention(L &l, DecodeAttentionOp d) {
  auto kc = l.paramBuffers.lookup(d.getKcacheAttr().getAttr());
  auto vc = l.paramBuffers.lookup(d.getVcacheAttr().getAttr());
  auto kcType = cast<RankedTensorType>(
      l.module.lookupSymbol<stk::BufferOp>(kc).getType());
  // Caches are [sequences, context, width]; every sequence is at the same
  // position.
  int64_t b = kcType.getDimSize(0), t = kcType.getDimSize(1);
  l.launch("kv_store", {l.of(d.getK()), kc},
           {l.i64("B", b), l.i64("D", lastDim(d.getK().getType())),
            l.i64("T", t)});
  l.launch("kv_store", {l.of(d.getV()), vc},
           {l.i64("B", b), l.i64("D", lastDim(d.getV().getType())),
            l.i64("T", t)});
  auto params = l.attentionParams(d, b, t, d.getHeads(),
                                  lastDim(d.getQ().getType()),
                                  lastDim(d.getV().getType()),
                                  scaleOf(d.getScale()), d.getPatterns());
  if (failed(params))
    return failure();
  int64_t heads = d.getHeads(), dv = lastDim(d.getV().getType()) / heads;
  int64_t splits = l.decodeSplits;
  if (splits == 0) {
    // Flash-decoding pays when the sequences' heads alone would leave most
    // of a GPU's ~132 SMs idle and each query has keys enough for several
    // CTAs: about 256 CTAs in all, each with at least 4 chunks of 32 keys
    // (one per warp), out of twice the mean keys per query (later queries
    // of a causal pattern have more).
    int64_t keys = 0;
    for (Attribute ref : d->getAttrOfType<ArrayAttr>("st.layouts")) {
      auto layout = l.module.lookupSymbol<LayoutOp>(
          cast<FlatSymbolRefAttr>(ref).getValue());
      int64_t block = static_cast<int64_t>(layout.getBlock());
      keys = std::max(keys, 2 * static_cast<int64_t>(*layout.getBlocks()) *
                                block * block /
                                static_cast<int64_t>(layout.getN()));
    }
    int64_t byKeys = keys / (4 * 32), byCtas = (256 + b * heads - 1) / (b * heads);
    splits = std::clamp<int64_t>(std::min(byKeys, byCtas), 1,
                                 abi::kMaxDecodeSplits);
  }
  if (splits == 1) {
    l.launch("attention_decode",
             {l.of(d.getQ()), kc, vc, l.def(d.getResult(), "attn")}, *params);
    return success();
  }
  auto stats = l.f32Buffer({b, heads, splits, 2}, "decode_stats");
  auto acc = l.f32Buffer({b, heads, splits, dv}, "decode_acc");
  SmallVector<NamedAttribute> splitParams(*params);
  splitParams.push_back(l.i64("splits", splits));
  l.launch("attention_decode_split", {l.of(d.getQ()), kc, vc, stats, acc},
           splitParams);
  l.launch("attention_decode_combine", {stats, acc, l.def(d.getResult(), "attn")},
           {l.i64("B", b), l.i64("H", heads), l.i64("dv", dv),
            l.i64("splits", splits)});
  return success();
}

// -- loss -----------------------------------------------------------------------

LogicalResult lowerCrossEntropy(L &l, CrossEntropyOp ce) {
  Type logits = ce.getLogits().getType();
  int64_t m = rowsOf(logits), v = lastDim(logits);
  auto losses = l.fresh(RankedTensorType::get({m}, l.builder.getF32Type()),
                        "losses", "output");
  l.values[ce.getResult()] = losses;
  CrossEntropyGradOp grad;
  for (Operation *user : ce.getLogits().getUsers())
    if (auto g = dyn_cast<CrossEntropyGradOp>(user))
      grad = g;
  if (!grad) {
    l.launch("xent_fwd", {l.of(ce.getLogits()), l.of(ce.getTargets()), losses},
             {l.i64("M", m), l.i64("V", v)});
    return success();
  }
  // The loss and its gradient in one pass over the logits; the gradient
  // times the loss scale, if any.
  SmallVector<FlatSymbolRefAttr> args = {l.of(ce.getLogits()),
                                         l.of(ce.getTargets()), losses,
                                         l.def(grad.getResult(), "dlogits")};
  SmallVector<NamedAttribute> attrs = {l.i64("M", m), l.i64("V", v),
                                       l.f64("scale", 1.0 / double(m))};
  if (l.lossScale)
    args.push_back(l.lossScale);
  l.flag(attrs, "loss_scaling", static_cast<bool>(l.lossScale));
  l.launch("xent_fwd_bwd", args, attrs);
  return success();
}

LogicalResult lowerCrossEntropyGrad(L &l, CrossEntropyGradOp g) {
  if (!l.values.count(g.getResult()))
    return g.emitOpError() << "must follow the st.cross_entropy of the "
                              "same logits";
  return success(); // computed by the forward's xent_fwd_bwd
}

// -- optimizer ------------------------------------------------------------------

/// An integer-list attribute.
NamedAttribute i64s(L &l, StringRef name, ArrayRef<int64_t> values) {
  SmallVector<Attribute> items;
  for (int64_t v : values)
    items.push_back(l.builder.getI64IntegerAttr(v));
  return l.builder.getNamedAttr(name, l.builder.getArrayAttr(items));
}

Type elementTypeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getElementType();
}

/// The gradients' squares, summed in multi-tensor launches of up to
/// abi::kMaxGroupTensors gradients of one dtype each.
LogicalResult lowerGradNormSq(L &l, GradNormSqOp g) {
  auto out = l.def(g.getResult(), "gnorm_sq");
  l.gnormSq = out;
  SmallVector<FlatSymbolRefAttr> args;
  SmallVector<int64_t> counts;
  bool first = true;
  auto flush = [&] {
    args.push_back(out);
    SmallVector<NamedAttribute> attrs = {i64s(l, "counts", counts)};
    l.flag(attrs, "accumulate", !first);
    l.launch("sumsq", args, attrs);
    args.clear();
    counts.clear();
    first = false;
  };
  auto grads = g.getGrads();
  for (size_t i = 0; i < grads.size(); ++i) {
    args.push_back(l.of(grads[i]));
    counts.push_back(numElements(grads[i].getType()));
    if (i + 1 == grads.size() ||
        static_cast<int64_t>(counts.size()) == abi::kMaxGroupTensors ||
        elementTypeOf(grads[i + 1]) != elementTypeOf(grads[i]))
      flush();
  }
  return success();
}

/// The type of an update's parameter (its st.parameter's).
Type paramTypeOf(L &l, AdamWOp adam) {
  for (const L::ParamInfo &p : l.params)
    if (p.name == adam.getParamAttr().getAttr())
      return p.type;
  return adam.getGrad().getType();
}

/// Whether two st.adamw ops can share a launch: the same norm, settings,
/// parameter dtype (so all or none of a group has master weights) and
/// gradient dtype.
bool sameAdamGroup(L &l, AdamWOp a, AdamWOp b) {
  return a.getGnormSq() == b.getGnormSq() && a.getBeta1() == b.getBeta1() &&
         a.getBeta2() == b.getBeta2() && a.getEps() == b.getEps() &&
         a.getWeightDecay() == b.getWeightDecay() &&
         a.getClip() == b.getClip() &&
         cast<RankedTensorType>(paramTypeOf(l, a)).getElementType() ==
             cast<RankedTensorType>(paramTypeOf(l, b)).getElementType() &&
         elementTypeOf(a.getGrad()) == elementTypeOf(b.getGrad());
}

/// Consecutive st.adamw ops that can share a launch are emitted together,
/// at the last of them, as one multi-tensor adamw of up to
/// abi::kMaxGroupTensors parameters.
LogicalResult lowerAdamW(L &l, AdamWOp adam) {
  l.adamGroup.push_back(adam);
  auto next = dyn_cast_or_null<AdamWOp>(adam->getNextNode());
  if (next && sameAdamGroup(l, adam, next) &&
      static_cast<int64_t>(l.adamGroup.size()) < abi::kMaxGroupTensors)
    return success();
  SmallVector<FlatSymbolRefAttr> params, grads, ms, vs, masters;
  SmallVector<int64_t> counts, decay;
  MLIRContext *ctx = l.builder.getContext();
  const bool master = hasMaster(paramTypeOf(l, adam));
  for (AdamWOp op : l.adamGroup) {
    StringAttr name = op.getParamAttr().getAttr();
    l.paramGrads[name] = l.of(op.getGrad());
    params.push_back(l.paramBuffers.lookup(name));
    grads.push_back(l.of(op.getGrad()));
    ms.push_back(FlatSymbolRefAttr::get(ctx, name.str() + ".adam_m"));
    vs.push_back(FlatSymbolRefAttr::get(ctx, name.str() + ".adam_v"));
    if (master)
      masters.push_back(FlatSymbolRefAttr::get(ctx, name.str() + ".master"));
    counts.push_back(numElements(op.getGrad().getType()));
    decay.push_back(llvm::any_of(l.params, [&](const L::ParamInfo &p) {
      return p.name == name && p.decay;
    }));
  }
  SmallVector<FlatSymbolRefAttr> args;
  for (auto *list : {&params, &grads, &ms, &vs, &masters})
    args.append(list->begin(), list->end());
  args.push_back(l.of(adam.getGnormSq()));
  if (l.lossScale)
    args.push_back(l.lossScale);
  SmallVector<NamedAttribute> attrs = {
      i64s(l, "counts", counts), i64s(l, "decay", decay),
      l.f64("beta1", adam.getBeta1().convertToDouble()),
      l.f64("beta2", adam.getBeta2().convertToDouble()),
      l.f64("eps", adam.getEps().convertToDouble()),
      l.f64("weight_decay", adam.getWeightDecay().convertToDouble()),
      l.f64("clip", adam.getClip().convertToDouble())};
  l.flag(attrs, "master", master);
  l.flag(attrs, "loss_scaling", static_cast<bool>(l.lossScale));
  l.launch("adamw", args, attrs);
  l.adamGroup.clear();
  return success();
}

/// The one list: every st op of a step function and its lowering.
LogicalResult lowerOp(L &l, Operation *op) {
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case<LoadOp>([&](auto o) { return lowerLoad(l, o); })
      .Case<EmbedOp>([&](auto o) { return lowerEmbed(l, o); })
      .Case<EmbedGradOp>([&](auto o) { return lowerEmbedGrad(l, o); })
      .Case<LayerNormOp>([&](auto o) { return lowerLayerNorm(l, o); })
      .Case<LayerNormGradOp>([&](auto o) { return lowerLayerNormGrad(l, o); })
      .Case<LinearOp>([&](auto o) { return lowerLinear(l, o); })
      .Case<LinearGradInputOp>(
          [&](auto o) { return lowerLinearGradInput(l, o); })
      .Case<LinearGradWeightOp>(
          [&](auto o) { return lowerLinearGradWeight(l, o); })
      .Case<BiasGradOp>([&](auto o) { return lowerBiasGrad(l, o); })
      .Case<GeluOp>([&](auto o) { return lowerGelu(l, o); })
      .Case<GeluGradOp>([&](auto o) { return lowerGeluGrad(l, o); })
      .Case<AddOp>([&](auto o) { return lowerAdd(l, o); })
      .Case<DropoutOp>([&](auto o) { return lowerDropout(l, o); })
      .Case<DropoutGradOp>([&](auto o) { return lowerDropoutGrad(l, o); })
      .Case<StridePermuteOp>([&](auto o) { return lowerStridePermute(l, o); })
      .Case<GatherSummariesOp>([&](auto o) {
        return lowerSummary(l, "summary_gather", "gathered", o.getX(),
                            o.getResult(), o.getBlock(), o.getSummary());
      })
      .Case<ScatterSummariesOp>([&](auto o) {
        return lowerSummary(l, "summary_scatter", "scattered", o.getX(),
                            o.getResult(), o.getBlock(), o.getSummary());
      })
      .Case<AttentionSplitOp>([&](auto o) { return lowerAttentionSplit(l, o); })
      .Case<AttentionSplitGradOp>(
          [&](auto o) { return lowerAttentionSplitGrad(l, o); })
      .Case<AttentionScoresOp>(
          [&](auto o) { return lowerAttentionScores(l, o); })
      .Case<AttentionScoresGradOp>(
          [&](auto o) { return lowerAttentionScoresGrad(l, o); })
      .Case<ScoreModOp>([&](auto o) { return lowerScoreMod(l, o); })
      .Case<ScoreModGradOp>([&](auto o) { return lowerScoreModGrad(l, o); })
      .Case<MaskedSoftmaxOp>([&](auto o) { return lowerMaskedSoftmax(l, o); })
      .Case<MaskedSoftmaxGradOp>(
          [&](auto o) { return lowerMaskedSoftmaxGrad(l, o); })
      .Case<AttentionWeightedSumOp>(
          [&](auto o) { return lowerWeightedSum(l, o); })
      .Case<AttentionWeightedSumGradOp>(
          [&](auto o) { return lowerWeightedSumGrad(l, o); })
      .Case<AttentionOp>([&](auto o) { return lowerAttention(l, o); })
      .Case<AttentionGradOp>([&](auto o) { return lowerAttentionGrad(l, o); })
      .Case<DecodeAttentionOp>(
          [&](auto o) { return lowerDecodeAttention(l, o); })
      .Case<CrossEntropyOp>([&](auto o) { return lowerCrossEntropy(l, o); })
      .Case<CrossEntropyGradOp>(
          [&](auto o) { return lowerCrossEntropyGrad(l, o); })
      .Case<GradNormSqOp>([&](auto o) { return lowerGradNormSq(l, o); })
      .Case<AdamWOp>([&](auto o) { return lowerAdamW(l, o); })
      .Default([](Operation *op) {
        return op->emitOpError() << "has no kernel lowering";
      });
}

LogicalResult KernelLowering::lower(Operation *op) { return lowerOp(*this, op); }

struct LowerToKernelsPass
    : public stc::impl::LowerToKernelsPassBase<LowerToKernelsPass> {
  using Base::Base;

  void runOnOperation() override {
    // Kernels visit the blocks stc-eliminate-upper-triangle chose.
    for (auto layout : getOperation().getOps<st::LayoutOp>())
      if (failed(layout.requireEliminated()))
        return signalPassFailure();
    if (decodeSplits < 0 || decodeSplits > abi::kMaxDecodeSplits) {
      getOperation().emitError()
          << "stc-lower-to-kernels: decode-splits is "
          << static_cast<int64_t>(decodeSplits)
          << "; valid: 0 (chosen) .. " << abi::kMaxDecodeSplits;
      return signalPassFailure();
    }
    if (failed(KernelLowering(getOperation(), deterministic, decodeSplits).run()))
      signalPassFailure();
  }
};

} // namespace
