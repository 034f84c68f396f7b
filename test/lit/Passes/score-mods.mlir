// RUN: stc-opt %s -stc-expand-model=batch=2 | FileCheck %s --check-prefix=EXPAND
// RUN: stc-opt %s -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff -stc-normalize-patterns=block-size=16 -stc-tile-attention=block-size=16 -stc-eliminate-upper-triangle -stc-lower-to-kernels -verify-diagnostics | FileCheck %s
// RUN: stc-opt %s -stc-expand-model=batch=2 -stc-autodiff -stc-tile-attention=block-size=16 -stc-eliminate-upper-triangle -stc-lower-to-kernels | FileCheck %s --check-prefix=UNFUSED

// Tests score modifications from the spec to the kernel launches: the
// model's blocks name them, stc-expand-model writes one st.score_mod per
// modification between the scores and the softmax, stc-fuse-softmax folds
// them into st.attention, stc-autodiff gives its gradient and its decoding
// the same list, stc-normalize-patterns leaves the ALiBi layer as written
// (a remark) but splits the soft-capped fixed layer, and every attention
// launch of the layer carries them: leading temperatures folded into the
// scale (0.5 / sqrt(8) below), the soft cap, the ALiBi base and whether the
// bias comes before the cap.

// EXPAND: %[[S0:.*]] = st.attention_scores
// EXPAND-NEXT: %[[T0:.*]] = st.score_mod #st.temperature<5.000000e-01>(%[[S0]])
// EXPAND-NEXT: %[[A0:.*]] = st.score_mod #st.alibi<8.000000e+00>(%[[T0]])
// EXPAND-NEXT: %[[C0:.*]] = st.score_mod #st.softcap<2.000000e+00>(%[[A0]])
// EXPAND-NEXT: st.masked_softmax %[[C0]]
// EXPAND: %[[S1:.*]] = st.attention_scores
// EXPAND-NEXT: %[[C1:.*]] = st.score_mod #st.softcap<3.000000e+00>(%[[S1]])
// EXPAND-NEXT: st.masked_softmax %[[C1]]

// CHECK-LABEL: stk.program @train_step
// CHECK: stk.launch "attention_fwd" [{{.*}}] params {B = 2 : i64, H = 2 : i64, T = 64 : i64, alibi = 8.000000e+00 : f64, alibi_first = true, dk = 8 : i64, dv = 8 : i64, heads_per_layout = 2 : i64, layouts = ["layout0"], scale = 0.17677669529663687 : f64, softcap = 2.000000e+00 : f64}
// CHECK: stk.launch "attention_fwd" [{{.*}}] params {{{.*}}scale = 0.35355339059327373 : f64, softcap = 3.000000e+00 : f64}
// CHECK: stk.launch "attention_fwd" [{{.*}}] params {{{.*}}merge = true, scale = 0.35355339059327373 : f64, softcap = 3.000000e+00 : f64}
// CHECK: stk.launch "attention_bwd" [{{.*}}] params {{{.*}}softcap = 3.000000e+00 : f64}
// CHECK: stk.launch "attention_bwd" [{{.*}}] params {{{.*}}softcap = 3.000000e+00 : f64}
// CHECK: stk.launch "attention_bwd" [{{.*}}] params {B = 2 : i64, H = 2 : i64, T = 64 : i64, alibi = 8.000000e+00 : f64, alibi_first = true, {{.*}}softcap = 2.000000e+00 : f64}
// CHECK-LABEL: stk.program @sample_step
// CHECK: stk.launch "attention_decode" [{{.*}}] params {{{.*}}alibi = 8.000000e+00 : f64, alibi_first = true, {{.*}}softcap = 2.000000e+00 : f64}
// CHECK: stk.launch "attention_decode" [{{.*}}] params {{{.*}}softcap = 3.000000e+00 : f64}
st.model @mods {vocab = 256, context = 64, width = 16, heads = 2} {
  // expected-remark @+1 {{stc-normalize-patterns: runs as written: #st.alibi reads positions, which the normalized forms renumber}}
  st.block attention [#st.strided<4>]
      score_mods [#st.temperature<0.5>, #st.alibi<8.0>, #st.softcap<2.0>]
  st.block attention [#st.fixed<block = 16, summary = 4>] score_mods [#st.softcap<3.0>]
}

// Without stc-fuse-softmax the chain runs as written, one launch per link
// (a temperature is its launch's scale), and its backward link by link; the
// sample step decodes the chain as the one attention it computes.
// UNFUSED-LABEL: stk.program @train_step
// UNFUSED: stk.launch "attention_scores" [{{.*}}] params {B = 2 : i64, H = 2 : i64, T = 64 : i64, dk = 8 : i64, scale = 0.35355339059327373 : f64}
// UNFUSED-NEXT: stk.launch "score_mod" [{{.*}}] params {B = 2 : i64, H = 2 : i64, T = 64 : i64, scale = 5.000000e-01 : f64}
// UNFUSED-NEXT: stk.launch "score_mod" [{{.*}}] params {B = 2 : i64, H = 2 : i64, T = 64 : i64, alibi = 8.000000e+00 : f64}
// UNFUSED-NEXT: stk.launch "score_mod" [{{.*}}] params {B = 2 : i64, H = 2 : i64, T = 64 : i64, softcap = 2.000000e+00 : f64}
// UNFUSED-NEXT: stk.launch "masked_softmax" [{{.*}}] params {B = 2 : i64, H = 2 : i64, T = 64 : i64, heads_per_layout = 2 : i64, layouts = ["layout0"]}
// UNFUSED-NEXT: stk.launch "weighted_sum" [{{.*}}] params {B = 2 : i64, H = 2 : i64, T = 64 : i64, dv = 8 : i64}
// UNFUSED: stk.launch "weighted_sum_bwd"
// UNFUSED-NEXT: stk.launch "masked_softmax_bwd"
// UNFUSED-NEXT: stk.launch "score_mod_bwd" [{{.*}}] params {B = 2 : i64, H = 2 : i64, T = 64 : i64, softcap = 3.000000e+00 : f64}
// UNFUSED-NEXT: stk.launch "attention_scores_bwd"
// UNFUSED: stk.launch "score_mod_bwd" [{{.*}}] params {{{.*}}softcap = 2.000000e+00 : f64}
// UNFUSED-NEXT: stk.launch "score_mod_bwd" [{{.*}}] params {{{.*}}alibi = 8.000000e+00 : f64}
// UNFUSED-NEXT: stk.launch "score_mod_bwd" [{{.*}}] params {{{.*}}scale = 5.000000e-01 : f64}
// UNFUSED-NEXT: stk.launch "attention_scores_bwd"
// UNFUSED-LABEL: stk.program @sample_step
// UNFUSED-NOT: "attention_scores"
// UNFUSED: stk.launch "attention_decode" [{{.*}}] params {{{.*}}alibi = 8.000000e+00 : f64, alibi_first = true, {{.*}}scale = 0.17677669529663687 : f64, softcap = 2.000000e+00 : f64}
