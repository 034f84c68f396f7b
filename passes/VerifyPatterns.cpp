//===- VerifyPatterns.cpp - stc-verify-patterns ---------------------------===//
//
// Rejects patterns with empty query rows and measures how information flows
// through the stack of attention layers (the paper's p + 1 hop rule).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "abi/Layout.h"
#include "abi/Limits.h"
#include "passes/PatternAnalysis.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"

namespace stc {
#define GEN_PASS_DEF_VERIFYPATTERNSPASS
#include "passes/Passes.h.inc"
} // namespace stc

using namespace mlir;
using namespace stc;

namespace {

struct VerifyPatternsPass
    : public stc::impl::VerifyPatternsPassBase<VerifyPatternsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (reachLimit < 1 || reachLimit > abi::kMaxReachPrefix) {
      getOperation().emitError()
          << "stc-verify-patterns: reach-limit must be in [1, "
          << abi::kMaxReachPrefix << "] (got "
          << static_cast<int64_t>(reachLimit) << ")";
      return signalPassFailure();
    }
    FailureOr<std::vector<AttentionStack>> stacks =
        collectAttentionStacks(getOperation());
    if (failed(stacks))
      return signalPassFailure();
    for (AttentionStack &stack : *stacks)
      if (failed(verifyStack(stack)))
        signalPassFailure();
  }

  LogicalResult verifyStack(AttentionStack &stack) {
    // Empty rows, once per distinct pattern.
    std::vector<pattern::Pattern> checked;
    for (auto [index, layer] : llvm::enumerate(stack.layers)) {
      for (const pattern::Pattern &p : layer.groups) {
        if (llvm::find(checked, p) != checked.end())
          continue;
        checked.push_back(p);
        // The contract's limits first: what follows may evaluate elements.
        std::string why = abi::checkLayoutRequest(p, stack.context, 1);
        if (!why.empty())
          return layer.op->emitOpError() << "pattern " << p.str() << ": "
                                         << why;
        if (std::optional<int64_t> row = p.firstEmptyRow(stack.context))
          return layer.op->emitOpError()
                 << "pattern " << p.str() << " leaves query " << *row
                 << " with no key to attend to (context " << stack.context
                 << "); every query must attend to at least one key, e.g. "
                    "itself";
      }
    }

    std::vector<pattern::Pattern> merged;
    for (const AttentionLayer &layer : stack.layers)
      merged.push_back(layer.merged());
    int64_t n = std::min<int64_t>(stack.context, reachLimit);
    pattern::Reachability reach = pattern::analyzeReachability(merged, n);

    Builder b(stack.owner->getContext());
    stack.owner->setAttr(
        "st.reachability",
        b.getDictionaryAttr({
            b.getNamedAttr("analyzed", b.getI64IntegerAttr(reach.n)),
            b.getNamedAttr("max_hops", b.getI64IntegerAttr(reach.maxHops)),
            b.getNamedAttr("unreachable_pairs",
                           b.getI64IntegerAttr(reach.unreachablePairs)),
        }));
    if (reach.unreachablePairs == 0)
      return success();

    InFlightDiagnostic diag =
        unreachableIsError ? stack.owner->emitError()
                           : stack.owner->emitWarning();
    diag << "@" << stack.name << ": " << reach.unreachablePairs
         << " (query, key) pairs are unreachable through its "
         << stack.layers.size() << " attention layer(s)";
    if (reach.exampleUnreachable)
      diag << ", e.g. query " << reach.exampleUnreachable->first
           << " never sees key " << reach.exampleUnreachable->second;
    diag << " (analysed over the first " << reach.n
         << " positions); add layers or combine patterns so every key is "
            "reachable";
    return unreachableIsError ? failure() : success();
  }
};

} // namespace
