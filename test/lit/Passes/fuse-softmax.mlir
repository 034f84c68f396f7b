// RUN: stc-opt %s -split-input-file -stc-fuse-softmax -verify-diagnostics | FileCheck %s
// RUN: stc-opt %S/Inputs/fixed-model.mlir -stc-expand-model=batch=2 -stc-fuse-softmax | FileCheck %s --check-prefix=MODEL
// RUN: stc-opt %S/Inputs/fixed-model.mlir -stc-expand-model=batch=2 -stc-autodiff | FileCheck %s --check-prefix=UNFUSED

// The chain stc-expand-model writes, scores -> masked softmax -> weighted
// sum, becomes one st.attention with the scores' heads, patterns and scale;
// nothing of the chain is left.
// CHECK-LABEL: func.func @chain
// CHECK-NEXT: %[[A:.*]] = st.attention %arg0, %arg1, %arg2 heads(2) patterns [#st.local<4>, #st.strided<4>] {scale = 5.000000e-01 : f64}
// CHECK-NEXT: return %[[A]]
func.func @chain(%q: tensor<1x16x8xf32>, %k: tensor<1x16x8xf32>, %v: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  %s = st.attention_scores %q, %k heads(2) patterns [#st.local<4>, #st.strided<4>] {scale = 0.5 : f64}
         : tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x2x16x16xf32>
  %p = st.masked_softmax %s patterns [#st.local<4>, #st.strided<4>] : tensor<1x2x16x16xf32>
  %o = st.attention_weighted_sum %p, %v : tensor<1x2x16x16xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return %o : tensor<1x16x8xf32>
}

// -----

// Probabilities read by something else (here returned as well): fusing would
// lose them, so the chain stays, and a remark says why.
// CHECK-LABEL: func.func @probs_escape
// CHECK: st.attention_scores
// CHECK: st.masked_softmax
// CHECK: st.attention_weighted_sum
// CHECK-NOT: st.attention %
func.func @probs_escape(%q: tensor<1x16x8xf32>, %v: tensor<1x16x8xf32>) -> (tensor<1x16x8xf32>, tensor<1x2x16x16xf32>) {
  %s = st.attention_scores %q, %q heads(2) patterns [#st.causal]
         : tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x2x16x16xf32>
  %p = st.masked_softmax %s patterns [#st.causal] : tensor<1x2x16x16xf32>
  // expected-remark @+1 {{stc-fuse-softmax: left unfused: its probabilities are used by another op as well}}
  %o = st.attention_weighted_sum %p, %v : tensor<1x2x16x16xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return %o, %p : tensor<1x16x8xf32>, tensor<1x2x16x16xf32>
}

// -----

// Scores read twice.
// CHECK-LABEL: func.func @scores_escape
// CHECK-NOT: st.attention %
func.func @scores_escape(%q: tensor<1x16x8xf32>, %v: tensor<1x16x8xf32>) -> (tensor<1x16x8xf32>, tensor<1x2x16x16xf32>) {
  %s = st.attention_scores %q, %q heads(2) patterns [#st.causal]
         : tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x2x16x16xf32>
  %p = st.masked_softmax %s patterns [#st.causal] : tensor<1x2x16x16xf32>
  // expected-remark @+1 {{left unfused: its scores are used by another op as well}}
  %o = st.attention_weighted_sum %p, %v : tensor<1x2x16x16xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return %o, %s : tensor<1x16x8xf32>, tensor<1x2x16x16xf32>
}

// -----

// A softmax over other patterns than the scores were computed for is not
// one attention.
// CHECK-LABEL: func.func @other_patterns
// CHECK-NOT: st.attention %
func.func @other_patterns(%q: tensor<1x16x8xf32>, %v: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  %s = st.attention_scores %q, %q heads(2) patterns [#st.causal]
         : tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x2x16x16xf32>
  %p = st.masked_softmax %s patterns [#st.local<4>] : tensor<1x2x16x16xf32>
  // expected-remark @+1 {{left unfused: its softmax masks other patterns than its scores were computed for}}
  %o = st.attention_weighted_sum %p, %v : tensor<1x2x16x16xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return %o : tensor<1x16x8xf32>
}

// -----

// A weighted sum of probabilities that are no softmax's.
// CHECK-LABEL: func.func @no_softmax
func.func @no_softmax(%p: tensor<1x2x16x16xf32>, %v: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  // expected-remark @+1 {{left unfused: its probabilities do not come from st.masked_softmax}}
  %o = st.attention_weighted_sum %p, %v : tensor<1x2x16x16xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return %o : tensor<1x16x8xf32>
}

// A whole model: every layer's chain is fused (the model's attention keeps
// no [B, H, T, T] tensor). Without the pass the chain stays, and autodiff
// differentiates it link by link (stc compile --no-fuse-softmax).
// MODEL-NOT: st.attention_scores
// MODEL-NOT: st.masked_softmax
// MODEL-NOT: st.attention_weighted_sum
// MODEL: st.attention %{{.*}} heads(2) patterns [#st.fixed<block = 16, summary = 4>]
// UNFUSED-LABEL: func.func @sample_step
// UNFUSED-NOT: st.attention_scores
// UNFUSED: st.decode_attention
// UNFUSED-LABEL: func.func @train_step
// UNFUSED: %[[S:.*]] = st.attention_scores
// UNFUSED: %[[P:.*]] = st.masked_softmax %[[S]]
// UNFUSED: st.attention_weighted_sum %[[P]]
// UNFUSED: %[[DP:.*]], %{{.*}} = st.attention_weighted_sum_grad %{{.*}}, %[[P]]
// UNFUSED: %[[DS:.*]] = st.masked_softmax_grad %[[DP]], %[[P]]
// UNFUSED: st.attention_scores_grad %[[DS]]

// -----

// Score modifications between the scores and the softmax ride into the
// fused attention, in order; the chain is gone.
// CHECK-LABEL: func.func @score_mods
// CHECK-NEXT: %[[A:.*]] = st.attention %arg0, %arg1, %arg2 heads(2) patterns [#st.causal] {score_mods = [#st.temperature<5.000000e-01>, #st.alibi<8.000000e+00>, #st.softcap<3.000000e+01>]}
// CHECK-NEXT: return %[[A]]
func.func @score_mods(%q: tensor<1x16x8xf32>, %k: tensor<1x16x8xf32>, %v: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  %s = st.attention_scores %q, %k heads(2) patterns [#st.causal]
         : tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x2x16x16xf32>
  %t = st.score_mod #st.temperature<0.5> (%s) : tensor<1x2x16x16xf32>
  %a = st.score_mod #st.alibi<8.0> (%t) : tensor<1x2x16x16xf32>
  %c = st.score_mod #st.softcap<30.0> (%a) : tensor<1x2x16x16xf32>
  %p = st.masked_softmax %c patterns [#st.causal] : tensor<1x2x16x16xf32>
  %o = st.attention_weighted_sum %p, %v : tensor<1x2x16x16xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return %o : tensor<1x16x8xf32>
}

// -----

// Modified scores read elsewhere too: left as written.
// CHECK-LABEL: func.func @mod_escapes
// CHECK: st.score_mod
// CHECK-NOT: st.attention %
func.func @mod_escapes(%q: tensor<1x16x8xf32>, %v: tensor<1x16x8xf32>) -> (tensor<1x16x8xf32>, tensor<1x2x16x16xf32>) {
  %s = st.attention_scores %q, %q heads(2) patterns [#st.causal]
         : tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x2x16x16xf32>
  %c = st.score_mod #st.softcap<30.0> (%s) : tensor<1x2x16x16xf32>
  %p = st.masked_softmax %c patterns [#st.causal] : tensor<1x2x16x16xf32>
  // expected-remark @+1 {{left unfused: a st.score_mod result is used by another op as well}}
  %o = st.attention_weighted_sum %p, %v : tensor<1x2x16x16xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return %o, %c : tensor<1x16x8xf32>, tensor<1x2x16x16xf32>
}

// -----

// Modifications the fused kernels do not take (two soft caps; a temperature
// after a cap): left as written, with the reason.
// CHECK-LABEL: func.func @no_fused_form
// CHECK-NOT: st.attention %
func.func @no_fused_form(%q: tensor<1x16x8xf32>, %v: tensor<1x16x8xf32>) -> (tensor<1x16x8xf32>, tensor<1x16x8xf32>) {
  %s = st.attention_scores %q, %q heads(2) patterns [#st.causal]
         : tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x2x16x16xf32>
  %c = st.score_mod #st.softcap<30.0> (%s) : tensor<1x2x16x16xf32>
  %c2 = st.score_mod #st.softcap<10.0> (%c) : tensor<1x2x16x16xf32>
  %p = st.masked_softmax %c2 patterns [#st.causal] : tensor<1x2x16x16xf32>
  // expected-remark @+1 {{left unfused: its score modifications have no fused form: has two #st.softcap; the fused kernels take at most one}}
  %o = st.attention_weighted_sum %p, %v : tensor<1x2x16x16xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  %s2 = st.attention_scores %q, %q heads(2) patterns [#st.causal]
          : tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x2x16x16xf32>
  %d = st.score_mod #st.softcap<30.0> (%s2) : tensor<1x2x16x16xf32>
  %t = st.score_mod #st.temperature<2.0> (%d) : tensor<1x2x16x16xf32>
  %p2 = st.masked_softmax %t patterns [#st.causal] : tensor<1x2x16x16xf32>
  // expected-remark @+1 {{no fused form: a #st.temperature comes after a #st.softcap or #st.alibi}}
  %o2 = st.attention_weighted_sum %p2, %v : tensor<1x2x16x16xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return %o, %o2 : tensor<1x16x8xf32>, tensor<1x16x8xf32>
}
