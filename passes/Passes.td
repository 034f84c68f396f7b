//===- Passes.td - stc passes -------------------------------*- tablegen -*-===//

#ifndef STC_PASSES_PASSES_TD
#define STC_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// Pattern analysis
//===----------------------------------------------------------------------===//

def VerifyPatternsPass : Pass<"stc-verify-patterns", "::mlir::ModuleOp"> {
  let summary = "Checks attention patterns: no empty rows, every position reachable";
  let description = [{
    For every `st.model` and every function holding `st.attention` ops:
    - rejects a pattern that leaves some query row with nothing to attend to
      at the model's context (a row with no allowed key has no softmax);
    - computes, through the stack of layers in order (each layer's heads
      merged), whether every key j <= i is reachable from every query i and
      the number of leading layers needed for that (the paper's p + 1 hops);
      unreachable positions are a warning, or an error with
      `unreachable-is-error`.
    Reachability is analysed over the first `reach-limit` positions (exact
    there: paths never leave [j, i]). The result is attached to the model or
    function as `st.reachability = {analyzed, max_hops, unreachable_pairs}`
    (max_hops = -1 when some pair is never reached).
    Patterns that read the future are rejected earlier, by the `st.pattern`
    verifier.
  }];
  let options = [
    Option<"unreachableIsError", "unreachable-is-error", "bool",
           /*default=*/"false",
           "Report unreachable positions as an error instead of a warning">,
    Option<"reachLimit", "reach-limit", "int64_t", /*default=*/"2048",
           "Analyse reachability over at most this many leading positions">,
  ];
}

#endif // STC_PASSES_PASSES_TD
