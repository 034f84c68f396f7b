// RUN: stc-opt %s -split-input-file -stc-normalize-patterns=block-size=16 | FileCheck %s
// RUN: stc-opt %s -split-input-file -stc-normalize-patterns=block-size=16 -stc-tile-attention=block-size=16 -stc-eliminate-upper-triangle | FileCheck %s --check-prefix=TILED
// RUN: stc-opt %S/Inputs/union-model.mlir -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff -stc-normalize-patterns=block-size=16 -stc-tile-attention=block-size=16 -stc-eliminate-upper-triangle -stc-lower-to-kernels | FileCheck %s --check-prefix=LOWERED

// The kernels of a split union layer (Inputs/union-model.mlir): the forward
// permutes q, k, v (every head), attends strided(16) there as fixed(8, 0),
// restores its output and lse ([B * H, T, 1] rows), and the attention over
// the keys (local(16) less strided(16)) merges them into its own; the
// backward runs the keys' attention_bwd with the merged o and lse, then the
// permuted source's on q, o, lse, dy, k, v permuted, restores its dq (added
// to the first) and its dk, dv (added to the keys'). Sampling keeps the union.
// LOWERED-LABEL: stk.program @train_step
// LOWERED: stk.launch "stride_permute" [@[[Q:[a-zA-Z0-9_.]+]], @[[QP:[a-zA-Z0-9_.]+]]] params {B = 2 : i64, D = 16 : i64, T = 128 : i64, col_begin = 0 : i64, col_end = 16 : i64, stride = 16 : i64}
// LOWERED: stk.launch "stride_permute" [@[[K:[a-zA-Z0-9_.]+]], @[[KP:[a-zA-Z0-9_.]+]]]
// LOWERED: stk.launch "stride_permute" [@[[V:[a-zA-Z0-9_.]+]], @[[VP:[a-zA-Z0-9_.]+]]]
// LOWERED: stk.launch "attention_fwd" [@[[QP]], @[[KP]], @[[VP]], @[[OP:[a-zA-Z0-9_.]+]], @[[LP:[a-zA-Z0-9_.]+]]] params {{.*}}layouts = ["[[PERM:layout[0-9]+]]"]
// LOWERED: stk.launch "stride_permute" [@[[OP]], @[[O2:[a-zA-Z0-9_.]+]]] params {B = 2 : i64, D = 16 : i64, T = 128 : i64, col_begin = 0 : i64, col_end = 16 : i64, inverse = true, stride = 16 : i64}
// LOWERED: stk.launch "stride_permute" [@[[LP]], @[[L2:[a-zA-Z0-9_.]+]]] params {B = 4 : i64, D = 1 : i64, T = 128 : i64, col_begin = 0 : i64, col_end = 1 : i64, inverse = true, stride = 16 : i64}
// LOWERED: stk.launch "attention_fwd" [@[[Q]], @[[K]], @[[V]], @[[O:[a-zA-Z0-9_.]+]], @[[L:[a-zA-Z0-9_.]+]], @[[O2]], @[[L2]]] params {{.*}}layouts = ["[[KEYS:layout[0-9]+]]"], merge = true
// LOWERED: stk.launch "attention_bwd" [@[[Q]], @[[K]], @[[V]], @[[O]], @[[L]], @[[DY:[a-zA-Z0-9_.]+]], @[[DQ:[a-zA-Z0-9_.]+]], @[[DK:[a-zA-Z0-9_.]+]], @[[DV:[a-zA-Z0-9_.]+]]] params {{.*}}layouts = ["[[KEYS]]"]
// LOWERED: stk.launch "stride_permute" [@[[Q]], @[[QP2:[a-zA-Z0-9_.]+]]]
// LOWERED: stk.launch "stride_permute" [@[[O]], @[[OP2:[a-zA-Z0-9_.]+]]]
// LOWERED: stk.launch "stride_permute" [@[[L]], @[[LP2:[a-zA-Z0-9_.]+]]] params {B = 4 : i64, D = 1 : i64, T = 128 : i64, col_begin = 0 : i64, col_end = 1 : i64, stride = 16 : i64}
// LOWERED: stk.launch "stride_permute" [@[[DY]], @[[DYP:[a-zA-Z0-9_.]+]]]
// LOWERED: stk.launch "stride_permute" [@[[K]], @[[KP2:[a-zA-Z0-9_.]+]]]
// LOWERED: stk.launch "stride_permute" [@[[V]], @[[VP2:[a-zA-Z0-9_.]+]]]
// LOWERED: stk.launch "attention_bwd" [@[[QP2]], @[[KP2]], @[[VP2]], @[[OP2]], @[[LP2]], @[[DYP]], @[[DQP:[a-zA-Z0-9_.]+]], @[[DKP:[a-zA-Z0-9_.]+]], @[[DVP:[a-zA-Z0-9_.]+]]] params {{.*}}layouts = ["[[PERM]]"]
// LOWERED: stk.launch "stride_permute" [@[[DQP]], @[[DQ2:[a-zA-Z0-9_.]+]]] params {{.*}}inverse = true
// LOWERED: stk.launch "accumulate" [@[[DQ]], @[[DQ2]]]
// LOWERED: stk.launch "stride_permute" [@[[DKP]], @[[DKS:[a-zA-Z0-9_.]+]]] params {{.*}}inverse = true
// LOWERED: stk.launch "stride_permute" [@[[DVP]], @[[DVS:[a-zA-Z0-9_.]+]]] params {{.*}}inverse = true
// LOWERED-DAG: stk.launch "add" [@[[DK]], @[[DKS]], @{{.*}}]
// LOWERED-DAG: stk.launch "add" [@[[DV]], @[[DVS]], @{{.*}}]
// LOWERED-LABEL: stk.program @sample_step
// LOWERED-NOT: stride_permute
// LOWERED: stk.launch "attention_decode" {{.*}}layouts = ["layout{{[0-9]+}}"]

// Tests the stride split of union(local(16), strided(16)) at n = 256 on
// every head: the forward runs st.attention_split over the keys with
// minus(local(16), strided(16)) and over the same keys with stride(16) as
// fixed(16, 0); the gradient adds the second source's key gradients.
// CHECK-LABEL: func.func @split
// CHECK-SAME: (%[[Q:.*]]: tensor<1x256x32xf32>, %[[K:.*]]: tensor<1x256x32xf32>, %[[V:.*]]: tensor<1x256x32xf32>, %[[DY:.*]]: tensor<1x256x32xf32>)
// CHECK: %[[O:.*]] = st.attention_split %[[Q]], %[[K]], %[[V]], %[[K]], %[[V]] heads(2) patterns [#st.minus<#st.local<16>, #st.strided<16>>, #st.minus<#st.local<16>, #st.strided<16>>] second [#st.fixed<block = 16, summary = 0>, #st.fixed<block = 16, summary = 0>] stride(16)
// CHECK: %[[DQ:.*]], %[[DK:.*]], %[[DV:.*]], %[[DKS:.*]], %[[DVS:.*]] = st.attention_split_grad %[[DY]], %[[Q]], %[[K]], %[[V]], %[[K]], %[[V]], %[[O]] heads(2) {{.*}} stride(16)
// CHECK: %[[DK2:.*]] = st.add %[[DK]], %[[DKS]]
// CHECK: %[[DV2:.*]] = st.add %[[DV]], %[[DVS]]
// CHECK: return %[[O]], %[[DQ]], %[[DK2]], %[[DV2]]
// The layouts: local(16) less the diagonal (strided's share) is the
// diagonal block and the one before it per row (31 blocks), the permuted
// strided(16) the 16 diagonal blocks: 47 where the union was all 136.
// TILED-LABEL: module
// TILED-DAG: st.layout @[[KEYS:layout[0-9]+]] {block = 16 : i64, blocks = 31 : i64, empty = 105 : i64, fnv1a64 = "{{[0-9a-f]+}}", full = 0 : i64, n = 256 : i64, partial = 31 : i64, pattern = #st.minus<#st.local<16>, #st.strided<16>>, upper = 120 : i64}
// TILED-DAG: st.layout @[[PERM:layout[0-9]+]] {block = 16 : i64, blocks = 16 : i64, empty = 120 : i64, fnv1a64 = "{{[0-9a-f]+}}", full = 0 : i64, n = 256 : i64, partial = 16 : i64, pattern = #st.fixed<block = 16, summary = 0>, upper = 120 : i64}
// TILED: st.attention_split {{.*}} {st.layouts = [@[[KEYS]], @[[KEYS]]], st.second_layouts = [@[[PERM]], @[[PERM]]]}
// TILED: st.attention_split_grad {{.*}} {st.layouts = [@[[KEYS]], @[[KEYS]]], st.second_layouts = [@[[PERM]], @[[PERM]]]}
func.func @split(%q: tensor<1x256x32xf32>, %k: tensor<1x256x32xf32>, %v: tensor<1x256x32xf32>, %dy: tensor<1x256x32xf32>)
    -> (tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32>) {
  %o = st.attention %q, %k, %v heads(2) patterns [#st.union<[#st.local<16>, #st.strided<16>]>, #st.union<[#st.local<16>, #st.strided<16>]>]
         : tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32> -> tensor<1x256x32xf32>
  %dq, %dk, %dv = st.attention_grad %dy, %q, %k, %v, %o heads(2) patterns [#st.union<[#st.local<16>, #st.strided<16>]>, #st.union<[#st.local<16>, #st.strided<16>]>]
         : tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32>
  return %o, %dq, %dk, %dv : tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32>
}

// -----

// Tests a three-member union: the other two members stay a union, less the
// strided one.
// CHECK-LABEL: func.func @three
// CHECK: st.attention_split {{.*}} patterns [#st.minus<#st.union<[#st.local<3>, #st.fixed<block = 32, summary = 4>]>, #st.strided<32>>] second [#st.fixed<block = 8, summary = 0>] stride(32)
func.func @three(%x: tensor<1x256x32xf32>) -> tensor<1x256x32xf32> {
  %a = st.attention %x, %x, %x heads(2) patterns [#st.union<[#st.local<3>, #st.strided<32>, #st.fixed<block = 32, summary = 4>]>]
         : tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32> -> tensor<1x256x32xf32>
  return %a : tensor<1x256x32xf32>
}

// -----

// Tests the unions left as written: the stride does not divide n (6 in
// 250); head groups differ (the permutation and the statistics are shared
// by every head); splitting costs more than it saves (strided(2) at n = 64
// permutes into segments of 32, as dense as the union); a union without a
// strided member.
// CHECK-LABEL: func.func @nosplit
// CHECK-NOT: st.attention_split
// CHECK: st.attention {{.*}} patterns [#st.union<[#st.local<6>, #st.strided<6>]>]
// CHECK: st.attention {{.*}} patterns [#st.union<[#st.local<16>, #st.strided<16>]>, #st.local<4>]
// CHECK: st.attention {{.*}} patterns [#st.union<[#st.local<4>, #st.strided<2>]>]
// CHECK: st.attention {{.*}} patterns [#st.union<[#st.local<4>, #st.fixed<block = 16, summary = 4>]>]
func.func @nosplit(%a: tensor<1x250x32xf32>, %b: tensor<1x256x32xf32>, %c: tensor<1x64x32xf32>)
    -> (tensor<1x250x32xf32>, tensor<1x256x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32>) {
  %x = st.attention %a, %a, %a heads(2) patterns [#st.union<[#st.local<6>, #st.strided<6>]>]
         : tensor<1x250x32xf32>, tensor<1x250x32xf32>, tensor<1x250x32xf32> -> tensor<1x250x32xf32>
  %y = st.attention %b, %b, %b heads(2) patterns [#st.union<[#st.local<16>, #st.strided<16>]>, #st.local<4>]
         : tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32> -> tensor<1x256x32xf32>
  %z = st.attention %c, %c, %c heads(2) patterns [#st.union<[#st.local<4>, #st.strided<2>]>]
         : tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32> -> tensor<1x64x32xf32>
  %w = st.attention %c, %c, %c heads(2) patterns [#st.union<[#st.local<4>, #st.fixed<block = 16, summary = 4>]>]
         : tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32> -> tensor<1x64x32xf32>
  return %x, %y, %z, %w : tensor<1x250x32xf32>, tensor<1x256x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32>
}
