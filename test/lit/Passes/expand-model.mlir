// RUN: stc-opt %s -split-input-file -stc-expand-model=batch=2 -verify-diagnostics | FileCheck %s

// Tests that a model becomes parameters with the paper's initialisation and a
// pre-activation forward function: one block of width 16, so the output
// projections are scaled by sqrt(1 / (2 * 1)): 0.02 * 0.7071 = 0.01414.
// CHECK-LABEL: module
// CHECK: st.parameter @tok_emb : tensor<256x16xf32> init <normal, std = 2.000000e-02> decay
// CHECK: st.parameter @pos_emb0 : tensor<32x16xf32> init <normal, std = 1.000000e-02> decay
// CHECK: st.parameter @block0.ln1.g : tensor<16xf32> init <ones>{{$}}
// CHECK: st.parameter @block0.ln1.b : tensor<16xf32> init <zeros>{{$}}
// CHECK: st.parameter @block0.attn.q.w : tensor<16x8xf32> init <normal, std = 2.000000e-02> decay
// CHECK: st.parameter @block0.attn.o.w : tensor<16x16xf32> init <normal, std = 0.014142135623730952> decay
// CHECK: st.parameter @block0.ffn.1.w : tensor<16x32xf32>
// CHECK: st.parameter @block0.ffn.2.w : tensor<32x16xf32> init <normal, std = 0.014142135623730952> decay
// CHECK: st.parameter @out.w : tensor<16x256xf32>
// CHECK: func.func @forward(%[[TOK:.*]]: tensor<2x32xi32>, %[[TGT:.*]]: tensor<2x32xi32>) -> tensor<f32> attributes {st.model = @m}
// CHECK: %[[X:.*]] = st.embed %[[TOK]]{{.*}}st.checkpoint}
// CHECK: %[[H:.*]] = st.layer_norm %[[X]]
// CHECK: %[[Q:.*]] = st.linear %[[H]], {{.*}} -> tensor<2x32x8xf32>
// CHECK: %[[K:.*]] = st.linear %[[H]], {{.*}} -> tensor<2x32x8xf32>
// CHECK: %[[V:.*]] = st.linear %[[H]], {{.*}} -> tensor<2x32x16xf32>
// Attention as the paper writes it (stc-fuse-softmax fuses it).
// CHECK: %[[S:.*]] = st.attention_scores %[[Q]], %[[K]] heads(2) patterns [#st.local<4>, #st.strided<4>] : tensor<2x32x8xf32>, tensor<2x32x8xf32> -> tensor<2x2x32x32xf32>
// CHECK: %[[P:.*]] = st.masked_softmax %[[S]] patterns [#st.local<4>, #st.strided<4>] : tensor<2x2x32x32xf32>
// CHECK: %[[A:.*]] = st.attention_weighted_sum %[[P]], %[[V]] : tensor<2x2x32x32xf32>, tensor<2x32x16xf32> -> tensor<2x32x16xf32>
// CHECK: %[[O:.*]] = st.linear %[[A]]
// CHECK: %[[D:.*]] = st.dropout %[[O]] {rate = 1.250000e-01 : f64, salt = 1 : i64}
// The block's inner residual sum is no checkpoint; the embedding and the
// block's output are (stc-schedule-recompute keeps them).
// CHECK: %[[R:.*]] = st.add %[[X]], %[[D]] :
// CHECK: st.layer_norm %[[R]]
// CHECK: st.gelu
// CHECK: %[[D2:.*]] = st.dropout {{.*}}salt = 2
// CHECK: st.add %[[R]], %[[D2]] {st.checkpoint}
// CHECK: %[[LOGITS:.*]] = st.linear {{.*}} -> tensor<2x32x256xf32>
// CHECK: %[[LOSS:.*]] = st.cross_entropy %[[LOGITS]], %[[TGT]]
// CHECK: return %[[LOSS]]
st.model @m {vocab = 256, context = 32, width = 16, heads = 2, qk_ratio = 0.5,
             ffn_ratio = 2.0, dropout = 0.125} {
  st.block attention [#st.local<4>, #st.strided<4>]
}

// -----

// Tests that dropout 0 leaves no dropout op and that position kinds expand to
// their tables.
// CHECK-LABEL: module
// CHECK: st.parameter @pos_emb0 : tensor<8x16xf32>
// CHECK: st.parameter @pos_emb1 : tensor<4x16xf32>
// CHECK-NOT: st.dropout
// CHECK: st.embed {{.*}} positions({{.*}} : tensor<8x16xf32>, tensor<4x16xf32>) {position = #st.position<attention_aligned stride = 8>, st.checkpoint}
st.model @aligned {vocab = 256, context = 32, width = 16, heads = 2,
                   position = #st.position<attention_aligned stride = 8>} {
  st.block attention [#st.causal]
}

// -----

// Tests that the pass expands exactly one model.
// expected-error @+1 {{stc-expand-model: expected exactly one st.model in the module, found 2; compile one model per file}}
module {
  st.model @a {vocab = 256, context = 16, width = 16, heads = 2} { st.block attention [#st.causal] }
  st.model @b {vocab = 256, context = 16, width = 16, heads = 2} { st.block attention [#st.causal] }
}
