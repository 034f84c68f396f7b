// RUN: stc-opt %s -split-input-file -stc-normalize-patterns=block-size=16 | FileCheck %s
// RUN: stc-opt %s -split-input-file -stc-normalize-patterns=block-size=16 -stc-tile-attention=block-size=16 -stc-eliminate-upper-triangle | FileCheck %s --check-prefix=TILED
// RUN: not stc-opt %s -split-input-file -stc-normalize-patterns=block-size=24 2>&1 | FileCheck %s --check-prefix=SIZE

// SIZE: stc-normalize-patterns: block-size 24 is not supported; valid: 16, 32, 64, 128

// Tests the strided rewrite of a forward and its gradient: the strided heads
// (2 and 3 of 4) run fixed(64 / 8, 0) = fixed(8, 0) over the sequence
// permuted by stride 8; q, k, v are permuted once and reused by the
// gradient, which also reuses the permuted output (the inverse that follows
// the forward folds away); dq, dk, dv are permuted back. The local heads
// keep their pattern.
// CHECK-LABEL: func.func @train
// CHECK-SAME: (%[[Q:.*]]: tensor<2x64x32xf32>, %[[K:.*]]: tensor<2x64x32xf32>, %[[V:.*]]: tensor<2x64x32xf32>, %[[DY:.*]]: tensor<2x64x32xf32>)
// CHECK-NEXT: %[[PQ:.*]] = st.stride_permute %[[Q]] stride(8) heads(2 to 4 of 4) : tensor<2x64x32xf32>
// CHECK-NEXT: %[[PK:.*]] = st.stride_permute %[[K]] stride(8) heads(2 to 4 of 4)
// CHECK-NEXT: %[[PV:.*]] = st.stride_permute %[[V]] stride(8) heads(2 to 4 of 4)
// CHECK-NEXT: %[[PO:.*]] = st.attention %[[PQ]], %[[PK]], %[[PV]] heads(4) patterns [#st.local<4>, #st.fixed<block = 8, summary = 0>]
// CHECK-NEXT: %[[O:.*]] = st.stride_permute %[[PO]] stride(8) heads(2 to 4 of 4) inverse
// CHECK-NEXT: %[[PDY:.*]] = st.stride_permute %[[DY]] stride(8) heads(2 to 4 of 4)
// CHECK-NEXT: %[[DQ:.*]], %[[DK:.*]], %[[DV:.*]] = st.attention_grad %[[PDY]], %[[PQ]], %[[PK]], %[[PV]], %[[PO]] heads(4) patterns [#st.local<4>, #st.fixed<block = 8, summary = 0>]
// CHECK-DAG: %[[RDQ:.*]] = st.stride_permute %[[DQ]] stride(8) heads(2 to 4 of 4) inverse
// CHECK-DAG: %[[RDK:.*]] = st.stride_permute %[[DK]] stride(8) heads(2 to 4 of 4) inverse
// CHECK-DAG: %[[RDV:.*]] = st.stride_permute %[[DV]] stride(8) heads(2 to 4 of 4) inverse
// CHECK: return %[[O]], %[[RDQ]], %[[RDK]], %[[RDV]]
// The layouts the kernels get: fixed(8, 0) is 4 diagonal blocks of 16, where
// strided(8) was 10 (every lower block).
// TILED-LABEL: module
// TILED-DAG: st.layout @{{layout[0-9]+}} {block = 16 : i64, blocks = 4 : i64, empty = 6 : i64, fnv1a64 = "{{[0-9a-f]+}}", full = 0 : i64, n = 64 : i64, partial = 4 : i64, pattern = #st.fixed<block = 8, summary = 0>, upper = 6 : i64}
// TILED-NOT: pattern = #st.strided<8>
func.func @train(%q: tensor<2x64x32xf32>, %k: tensor<2x64x32xf32>, %v: tensor<2x64x32xf32>, %dy: tensor<2x64x32xf32>)
    -> (tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>) {
  %o = st.attention %q, %k, %v heads(4) patterns [#st.local<4>, #st.strided<8>]
         : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32> -> tensor<2x64x32xf32>
  %dq, %dk, %dv = st.attention_grad %dy, %q, %k, %v, %o heads(4) patterns [#st.local<4>, #st.strided<8>]
         : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>
  return %o, %dq, %dk, %dv : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>
}

// -----

// Tests that adjacent strided groups with the same stride share one
// permutation, and that groups of different strides get one each.
// CHECK-LABEL: func.func @groups
// CHECK: st.stride_permute %{{.*}} stride(4) heads(0 to 4 of 4)
// CHECK: st.attention {{.*}} patterns [#st.fixed<block = 16, summary = 0>, #st.fixed<block = 16, summary = 0>]
// CHECK-LABEL: func.func @strides
// CHECK: %[[A:.*]] = st.stride_permute %{{.*}} stride(4) heads(0 to 1 of 2)
// CHECK: st.stride_permute %[[A]] stride(8) heads(1 to 2 of 2)
// CHECK: st.attention {{.*}} patterns [#st.fixed<block = 16, summary = 0>, #st.fixed<block = 8, summary = 0>]
func.func @groups(%x: tensor<1x64x32xf32>) -> tensor<1x64x32xf32> {
  %o = st.attention %x, %x, %x heads(4) patterns [#st.strided<4>, #st.strided<4>]
         : tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32> -> tensor<1x64x32xf32>
  return %o : tensor<1x64x32xf32>
}
func.func @strides(%x: tensor<1x64x32xf32>) -> tensor<1x64x32xf32> {
  %o = st.attention %x, %x, %x heads(2) patterns [#st.strided<4>, #st.strided<8>]
         : tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32> -> tensor<1x64x32xf32>
  return %o : tensor<1x64x32xf32>
}

// -----

// Tests what is left as written: a stride that does not divide the sequence
// (7 of 64), a union holding a strided pattern, local and fixed patterns,
// and a stride whose permuted form computes no fewer blocks (strided(2) at
// n = 16: one block either way).
// CHECK-LABEL: func.func @kept
// CHECK-NOT: st.stride_permute
// CHECK: st.attention {{.*}} patterns [#st.strided<7>, #st.union<[#st.local<4>, #st.strided<4>]>]
// CHECK: st.attention {{.*}} patterns [#st.local<8>, #st.fixed<block = 16, summary = 4>]
// CHECK: st.attention {{.*}} patterns [#st.strided<2>]
// CHECK: return
func.func @kept(%x: tensor<1x64x32xf32>, %y: tensor<1x16x32xf32>) -> (tensor<1x64x32xf32>, tensor<1x16x32xf32>) {
  %a = st.attention %x, %x, %x heads(2) patterns [#st.strided<7>, #st.union<[#st.local<4>, #st.strided<4>]>]
         : tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32> -> tensor<1x64x32xf32>
  %b = st.attention %a, %a, %a heads(2) patterns [#st.local<8>, #st.fixed<block = 16, summary = 4>]
         : tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32> -> tensor<1x64x32xf32>
  %c = st.attention %y, %y, %y heads(2) patterns [#st.strided<2>]
         : tensor<1x16x32xf32>, tensor<1x16x32xf32>, tensor<1x16x32xf32> -> tensor<1x16x32xf32>
  return %b, %c : tensor<1x64x32xf32>, tensor<1x16x32xf32>
}
