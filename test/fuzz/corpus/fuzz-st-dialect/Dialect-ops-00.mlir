// RUN: stc-opt %s | FileCheck %s
// RUN: stc-opt %s | stc-opt | FileCheck %s
// RUN: stc-opt -mlir-print-op-generic %s | stc-opt | FileCheck %s
// RUN: stc-opt %s -canonicalize | FileCheck %s --check-prefix=FOLD

// Tests that every tensor-level op round-trips, in a one-block forward pass.

// CHECK-LABEL: func.func @forward
func.func @forward(%tokens: tensor<2x16xi32>, %targets: tensor<2x16xi32>,
                   %table: tensor<256x32xf32>, %pos: tensor<16x32xf32>,
                   %g: tensor<32xf32>, %b: tensor<32xf32>,
                   %wq: tensor<32x16xf32>, %wk: tensor<32x16xf32>,
                   %wv: tensor<32x32xf32>, %bv: tensor<32xf32>,
                   %wout: tensor<32x256xf32>) -> tensor<f32> {
  // CHECK: st.embed %{{.*}}, %{{.*}} positions(%{{.*}} : tensor<16x32xf32>) {position = #st.position<learned>} : tensor<2x16xi32>, tensor<256x32xf32> -> tensor<2x16x32xf32>
  %x = st.embed %tokens, %table positions(%pos : tensor<16x32xf32>)
         {position = #st.position<learned>}
         : tensor<2x16xi32>, tensor<256x32xf32> -> tensor<2x16x32xf32>
  // CHECK: st.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 1.000000e-03 : f64} : tensor<2x16x32xf32>, tensor<32xf32>
  %h = st.layer_norm %x, %g, %b {epsilon = 1.0e-3 : f64}
         : tensor<2x16x32xf32>, tensor<32xf32>
  // CHECK: st.linear %{{.*}}, %{{.*}} : (tensor<2x16x32xf32>, tensor<32x16xf32>) -> tensor<2x16x16xf32>
  %q = st.linear %h, %wq : (tensor<2x16x32xf32>, tensor<32x16xf32>) -> tensor<2x16x16xf32>
  %k = st.linear %h, %wk : (tensor<2x16x32xf32>, tensor<32x16xf32>) -> tensor<2x16x16xf32>
  // CHECK: st.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x16x32xf32>, tensor<32x32xf32>, tensor<32xf32>) -> tensor<2x16x32xf32>
  %v = st.linear %h, %wv, %bv
         : (tensor<2x16x32xf32>, tensor<32x32xf32>, tensor<32xf32>) -> tensor<2x16x32xf32>
  // CHECK: st.attention %{{.*}}, %{{.*}}, %{{.*}} heads(4) patterns [#st.local<4>, #st.strided<4>] {scale = 2.500000e-01 : f64} : tensor<2x16x16xf32>, tensor<2x16x16xf32>, tensor<2x16x32xf32> -> tensor<2x16x32xf32>
  %a = st.attention %q, %k, %v heads(4) patterns [#st.local<4>, #st.strided<4>]
         {scale = 0.25 : f64}
         : tensor<2x16x16xf32>, tensor<2x16x16xf32>, tensor<2x16x32xf32>
         -> tensor<2x16x32xf32>
  // CHECK: st.attention_scores %{{.*}}, %{{.*}} heads(4) patterns [#st.fixed<block = 4, summary = 1>] : tensor<2x16x16xf32>, tensor<2x16x16xf32> -> tensor<2x4x16x16xf32>
  %s = st.attention_scores %q, %k heads(4) patterns [#st.fixed<block = 4, summary = 1>]
         : tensor<2x16x16xf32>, tensor<2x16x16xf32> -> tensor<2x4x16x16xf32>
  // CHECK: st.masked_softmax %{{.*}} patterns [#st.fixed<block = 4, summary = 1>] : tensor<2x4x16x16xf32>
  %p = st.masked_softmax %s patterns [#st.fixed<block = 4, summary = 1>]
         : tensor<2x4x16x16xf32>
  // CHECK: st.attention_weighted_sum %{{.*}}, %{{.*}} : tensor<2x4x16x16xf32>, tensor<2x16x32xf32> -> tensor<2x16x32xf32>
  %o = st.attention_weighted_sum %p, %v
         : tensor<2x4x16x16xf32>, tensor<2x16x32xf32> -> tensor<2x16x32xf32>
  // CHECK: st.dropout %{{.*}} {rate = 1.000000e-01 : f64} : tensor<2x16x32xf32>
  %d = st.dropout %o {rate = 0.1 : f64} : tensor<2x16x32xf32>
  // CHECK: st.add %{{.*}}, %{{.*}} : tensor<2x16x32xf32>
  %r = st.add %x, %d : tensor<2x16x32xf32>
  %r2 = st.add %r, %a : tensor<2x16x32xf32>
  // CHECK: st.gelu %{{.*}} : tensor<2x16x32xf32>
  %u = st.gelu %r2 : tensor<2x16x32xf32>
  %logits = st.linear %u, %wout
              : (tensor<2x16x32xf32>, tensor<32x256xf32>) -> tensor<2x16x256xf32>
  // CHECK: st.cross_entropy %{{.*}}, %{{.*}} : tensor<2x16x256xf32>, tensor<2x16xi32> -> tensor<f32>
  %loss = st.cross_entropy %logits, %targets
            : tensor<2x16x256xf32>, tensor<2x16xi32> -> tensor<f32>
  return %loss : tensor<f32>
}

// CHECK-LABEL: func.func @data_aligned_embed
// CHECK: positions(%{{.*}}, %{{.*}}, %{{.*}} : tensor<4x8xbf16>, tensor<2x8xbf16>, tensor<3x8xbf16>) {position = #st.position<data_aligned dims = [4, 2, 3]>}
func.func @data_aligned_embed(%t: tensor<1x24xi32>, %table: tensor<256x8xbf16>,
                              %p0: tensor<4x8xbf16>, %p1: tensor<2x8xbf16>,
                              %p2: tensor<3x8xbf16>) -> tensor<1x24x8xbf16> {
  %x = st.embed %t, %table positions(%p0, %p1, %p2 : tensor<4x8xbf16>, tensor<2x8xbf16>, tensor<3x8xbf16>)
         {position = #st.position<data_aligned dims = [4, 2, 3]>}
         : tensor<1x24xi32>, tensor<256x8xbf16> -> tensor<1x24x8xbf16>
  return %x : tensor<1x24x8xbf16>
}

// Tests st.stride_permute's round trip, and that a permutation followed by
// its inverse over the same heads folds to its input (canonicalize).
// CHECK-LABEL: func.func @stride_permute
// CHECK: %[[P:.*]] = st.stride_permute %{{.*}} stride(8) heads(2 to 4 of 4) : tensor<2x64x32xf32>
// CHECK: st.stride_permute %[[P]] stride(8) heads(2 to 4 of 4) inverse : tensor<2x64x32xf32>
// FOLD-LABEL: func.func @stride_permute
// FOLD-SAME: (%[[X:.*]]: tensor<2x64x32xf32>)
// FOLD-NEXT: return %[[X]]
func.func @stride_permute(%x: tensor<2x64x32xf32>) -> tensor<2x64x32xf32> {
  %p = st.stride_permute %x stride(8) heads(2 to 4 of 4) : tensor<2x64x32xf32>
  %y = st.stride_permute %p stride(8) heads(2 to 4 of 4) inverse : tensor<2x64x32xf32>
  return %y : tensor<2x64x32xf32>
}

// Tests the summary split's ops round trip.
// CHECK-LABEL: func.func @summaries
// CHECK: %[[KS:.*]] = st.gather_summaries %{{.*}} block(16) summary(4) : tensor<2x64x32xf32>
// CHECK: %[[O:.*]] = st.attention_split %{{.*}}, %{{.*}}, %{{.*}}, %[[KS]], %[[KS]] heads(2) patterns [#st.fixed<block = 16, summary = 0>] second [#st.gathered<block = 16, summary = 4>] : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32> -> tensor<2x64x32xf32>
// CHECK: st.attention_split_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[KS]], %[[KS]], %[[O]] heads(2) patterns [#st.fixed<block = 16, summary = 0>] second [#st.gathered<block = 16, summary = 4>]
// CHECK: st.scatter_summaries %{{.*}} block(16) summary(4) : tensor<2x64x32xf32>
func.func @summaries(%x: tensor<2x64x32xf32>) -> tensor<2x64x32xf32> {
  %ks = st.gather_summaries %x block(16) summary(4) : tensor<2x64x32xf32>
  %o = st.attention_split %x, %x, %x, %ks, %ks heads(2)
         patterns [#st.fixed<block = 16, summary = 0>]
         second [#st.gathered<block = 16, summary = 4>]
         : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32> -> tensor<2x64x32xf32>
  %dq, %dk, %dv, %dks, %dvs = st.attention_split_grad %o, %x, %x, %x, %ks, %ks, %o heads(2)
         patterns [#st.fixed<block = 16, summary = 0>]
         second [#st.gathered<block = 16, summary = 4>]
         : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>
  %s = st.scatter_summaries %dks block(16) summary(4) : tensor<2x64x32xf32>
  return %s : tensor<2x64x32xf32>
}
