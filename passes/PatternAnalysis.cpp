//===- PatternAnalysis.cpp - Attention layers of a module -----------------===//

#include "passes/PatternAnalysis.h"

#include "abi/Layout.h"
#include "dialect/st/StOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/Support/Format.h"

using namespace mlir;
using namespace stc;

pattern::Pattern AttentionLayer::merged() const {
  return st::unionOfPatterns(groups);
}

std::string stc::displayName(const pattern::Pattern &p) {
  if (p.kind() == pattern::Pattern::Kind::Predicate)
    return "@" + p.predicateName();
  return p.str();
}

std::string AttentionLayer::describe() const {
  std::string s;
  if (groups.size() == 1) {
    s = displayName(groups.front());
  } else {
    s = "[";
    int64_t perGroup = heads / static_cast<int64_t>(groups.size());
    for (size_t i = 0; i < groups.size(); ++i)
      s += (i ? ", " : "") + displayName(groups[i]) + " x" +
           std::to_string(perGroup);
    s += "]";
  }
  return s;
}

/// `softcap(30)`: a score modification as `stc inspect` shows it.
static std::string modName(Attribute mod) {
  auto show = [](const char *name, const APFloat &v) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << name << "(" << llvm::format("%g", v.convertToDouble()) << ")";
    return text;
  };
  if (auto c = dyn_cast<st::SoftcapAttr>(mod))
    return show("softcap", c.getValue());
  if (auto a = dyn_cast<st::AlibiAttr>(mod))
    return show("alibi", a.getValue());
  return show("temperature", cast<st::TemperatureAttr>(mod).getValue());
}

static FailureOr<AttentionLayer> makeLayer(Operation *op, ArrayAttr patterns,
                                           int64_t heads, int64_t headDim,
                                           ArrayAttr mods) {
  FailureOr<SmallVector<pattern::Pattern>> groups =
      st::resolvePatterns(patterns, op);
  if (failed(groups))
    return failure();
  AttentionLayer layer;
  layer.op = op;
  layer.groups.assign(groups->begin(), groups->end());
  layer.heads = heads;
  layer.headDim = headDim;
  if (mods)
    for (Attribute m : mods) {
      layer.scoreMods.push_back(modName(m));
      layer.positionalMods |= isa<st::AlibiAttr>(m);
    }
  return layer;
}

FailureOr<std::vector<AttentionStack>>
stc::collectAttentionStacks(ModuleOp module) {
  std::vector<AttentionStack> stacks;
  bool failedAny = false;
  module.walk([&](st::ModelOp model) {
    AttentionStack stack;
    stack.owner = model;
    stack.name = model.getSymName().str();
    stack.context = model.getContextSize();
    int64_t headDim = model.qkWidth() / model.getHeads();
    for (st::BlockOp block : model.layers()) {
      FailureOr<AttentionLayer> layer =
          makeLayer(block, block.getPatterns(), model.getHeads(), headDim,
                    block.getScoreModsAttr());
      if (failed(layer)) {
        failedAny = true;
        return;
      }
      stack.layers.push_back(std::move(*layer));
    }
    stacks.push_back(std::move(stack));
  });
  module.walk([&](FunctionOpInterface fn) {
    AttentionStack stack;
    stack.owner = fn;
    stack.name = fn.getName().str();
    fn.walk([&](st::AttentionOp attn) {
      auto q = attn.getQ().getType();
      stack.context = q.getDimSize(1);
      FailureOr<AttentionLayer> layer =
          makeLayer(attn, attn.getPatterns(), attn.getHeads(),
                    q.getDimSize(2) / attn.getHeads(), attn.getScoreModsAttr());
      if (failed(layer)) {
        failedAny = true;
        return;
      }
      stack.layers.push_back(std::move(*layer));
    });
    if (!stack.layers.empty())
      stacks.push_back(std::move(stack));
  });
  if (failedAny)
    return failure();
  return stacks;
}

std::string stc::GroupNormalization::describe() const {
  if (permuted)
    return permuted->pattern.str() + " over the sequence permuted by stride " +
           std::to_string(permuted->permutation.stride);
  if (strideSplit)
    return strideSplit->rest.str() + " plus " + strideSplit->strided.str() +
           " over the sequence permuted by stride " +
           std::to_string(strideSplit->permutation.stride);
  return split->local.str() + " plus " + split->summaries.str() +
         " over the " + std::to_string(split->gather.count()) +
         " gathered summary columns";
}

std::optional<GroupNormalization>
stc::chooseNormalization(const pattern::Pattern &p, int64_t n,
                         int64_t blockSize, bool allowSplit) {
  GroupNormalization norm;
  norm.permuted = pattern::strideNormalization(p, n);
  if (!norm.permuted && allowSplit) {
    norm.split = pattern::summarySplit(p, n);
    if (!norm.split)
      norm.strideSplit = pattern::strideSplit(p, n);
  }
  if (!norm.permuted && !norm.split && !norm.strideSplit)
    return std::nullopt;
  int64_t block = std::min<int64_t>(blockSize, n);
  std::string error;
  // Blocks of a layout, or -1 if it is beyond the layout limits (reported
  // by stc-tile-attention when it matters).
  auto blocks = [&](const pattern::Pattern &q) -> int64_t {
    std::optional<pattern::BlockLayout> l = abi::buildLayout(q, n, block, &error);
    return l ? l->numBlocks() : -1;
  };
  norm.blocksBefore = blocks(p);
  auto both = [](int64_t a, int64_t b) { return a < 0 || b < 0 ? -1 : a + b; };
  if (norm.permuted)
    norm.blocksAfter = blocks(norm.permuted->pattern);
  else if (norm.split)
    norm.blocksAfter =
        both(blocks(norm.split->local), blocks(norm.split->summaries));
  else
    norm.blocksAfter =
        both(blocks(norm.strideSplit->rest), blocks(norm.strideSplit->strided));
  if (norm.blocksBefore < 0 || norm.blocksAfter < 0 ||
      norm.blocksAfter >= norm.blocksBefore)
    return std::nullopt;
  return norm;
}
