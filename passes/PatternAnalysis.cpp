//===- PatternAnalysis.cpp - Attention layers of a module -----------------===//

#include "passes/PatternAnalysis.h"

#include "abi/Layout.h"
#include "dialect/st/StOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

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
  if (groups.size() == 1)
    return displayName(groups.front());
  std::string s = "[";
  int64_t perGroup = heads / static_cast<int64_t>(groups.size());
  for (size_t i = 0; i < groups.size(); ++i)
    s += (i ? ", " : "") + displayName(groups[i]) + " x" + std::to_string(perGroup);
  return s + "]";
}

static FailureOr<AttentionLayer> makeLayer(Operation *op, ArrayAttr patterns,
                                           int64_t heads, int64_t headDim) {
  FailureOr<SmallVector<pattern::Pattern>> groups =
      st::resolvePatterns(patterns, op);
  if (failed(groups))
    return failure();
  AttentionLayer layer;
  layer.op = op;
  layer.groups.assign(groups->begin(), groups->end());
  layer.heads = heads;
  layer.headDim = headDim;
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
          makeLayer(block, block.getPatterns(), model.getHeads(), headDim);
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
                    q.getDimSize(2) / attn.getHeads());
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

std::optional<GroupNormalization>
stc::chooseNormalization(const pattern::Pattern &p, int64_t n,
                         int64_t blockSize) {
  std::optional<pattern::PermutedPattern> rewrite =
      pattern::strideNormalization(p, n);
  if (!rewrite)
    return std::nullopt;
  int64_t block = std::min<int64_t>(blockSize, n);
  std::string error;
  std::optional<pattern::BlockLayout> before =
      abi::buildLayout(p, n, block, &error);
  std::optional<pattern::BlockLayout> after =
      abi::buildLayout(rewrite->pattern, n, block, &error);
  // A pattern beyond the layout limits is reported by stc-tile-attention.
  if (!before || !after || after->numBlocks() >= before->numBlocks())
    return std::nullopt;
  return GroupNormalization{*rewrite, before->numBlocks(), after->numBlocks()};
}
