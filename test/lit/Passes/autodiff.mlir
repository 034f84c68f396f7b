// RUN: stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff -verify-diagnostics | FileCheck %s
// RUN: stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff=sample-batch=3 | FileCheck %s --check-prefix=THREE
// RUN: not stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff=sample-batch=-1 2>&1 | FileCheck %s --check-prefix=BAD

// Tests the three steps built from one forward function: the train step
// differentiates every op in reverse and updates every parameter once, the
// eval step drops dropout, the sample step decodes one position of the
// batch's sequences (by default) with caches.
// CHECK-LABEL: module
// CHECK: st.kv_cache @cache.k0 : tensor<2x32x16xf32>
// CHECK: st.kv_cache @cache.v0 : tensor<2x32x16xf32>
// CHECK-LABEL: func.func @sample_step(%{{.*}}: tensor<2x1xi32>) -> tensor<2x1x256xf32>
// CHECK: st.embed {{.*}} {decode, position = #st.position<learned>} : tensor<2x1xi32>
// CHECK-NOT: st.dropout
// CHECK: st.decode_attention {{.*}} caches(@cache.k0, @cache.v0) heads(2) patterns [#st.local<4>, #st.strided<4>]
// CHECK-NOT: st.cross_entropy
// CHECK: return {{.*}} : tensor<2x1x256xf32>
// sample-batch sets the sequences the sample step draws at once.
// THREE: st.kv_cache @cache.k0 : tensor<3x32x16xf32>
// THREE-LABEL: func.func @sample_step(%{{.*}}: tensor<3x1xi32>) -> tensor<3x1x256xf32>
// THREE: st.decode_attention {{.*}} : tensor<3x1x16xf32>, tensor<3x1x16xf32>, tensor<3x1x16xf32>
// THREE-LABEL: func.func @train_step(%{{.*}}: tensor<2x32xi32>
// BAD: sample-batch is -1; valid: 1 .. 65535 (0: the training batch)
// CHECK-LABEL: func.func @eval_step
// CHECK-NOT: st.dropout
// CHECK: st.cross_entropy
// CHECK-LABEL: func.func @train_step
// CHECK: st.dropout {{.*}}salt = 1
// CHECK: st.dropout {{.*}}salt = 2
// CHECK: %[[LOSS:.*]] = st.cross_entropy %[[LOGITS:.*]], %[[TGT:.*]] :
// CHECK: %[[DL:.*]] = st.cross_entropy_grad %[[LOGITS]], %[[TGT]]
// CHECK: st.linear_grad_input %[[DL]]
// CHECK: st.linear_grad_weight %[[DL]]
// CHECK: st.bias_grad %[[DL]]
// CHECK: st.layer_norm_grad
// CHECK: st.dropout_grad {{.*}}salt = 2
// CHECK: st.gelu_grad
// CHECK: st.layer_norm_grad
// CHECK: st.dropout_grad {{.*}}salt = 1
// CHECK: st.attention_grad {{.*}} heads(2) patterns [#st.local<4>, #st.strided<4>]
// CHECK: st.layer_norm_grad
// CHECK: st.embed_grad {{.*}} -> tensor<256x16xf32>, tensor<32x16xf32>
// CHECK: %[[N:.*]] = st.grad_norm_sq
// CHECK-COUNT-22: st.adamw @{{.*}}, %[[N]] {beta1 = 9.000000e-01 : f64, beta2 = 0.94999999999999996 : f64, clip = 1.000000e+00 : f64, eps = 1.000000e-08 : f64, weight_decay = 1.000000e-02 : f64}
// CHECK-NOT: st.adamw
// CHECK: return %[[LOSS]]
// CHECK-NOT: func.func @forward
st.model @m {vocab = 256, context = 32, width = 16, heads = 2, dropout = 0.125} {
  st.block attention [#st.local<4>, #st.strided<4>]
}

