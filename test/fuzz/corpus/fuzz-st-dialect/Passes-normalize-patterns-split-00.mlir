// RUN: stc-opt %s -split-input-file -stc-normalize-patterns=block-size=16 | FileCheck %s
// RUN: stc-opt %s -split-input-file -stc-normalize-patterns=block-size=16 -stc-tile-attention=block-size=16 | FileCheck %s --check-prefix=TILED
// RUN: stc-opt %S/Inputs/fixed-model.mlir -stc-expand-model=batch=2 -stc-autodiff -stc-normalize-patterns=block-size=16 -stc-tile-attention=block-size=16 -stc-lower-to-kernels | FileCheck %s --check-prefix=LOWERED

// The kernels of a split fixed layer (Inputs/fixed-model.mlir): the forward
// gathers k and v, runs one attention per source and merges them by lse; the
// backward gathers again, runs both backwards with the merged o and lse,
// adds the second dq into the first, and scatters the gathered keys'
// gradients back. The sampling step keeps the fixed pattern.
// LOWERED-LABEL: stk.program @train_step
// LOWERED: stk.launch "summary_gather" [@[[K:.*]], @[[KS:train.gathered[0-9]+]]] params {B = 2 : i64, D = 16 : i64, T = 64 : i64, block = 16 : i64, summary = 4 : i64}
// LOWERED: stk.launch "summary_gather" [@[[V:.*]], @[[VS:train.gathered[0-9]+]]]
// LOWERED: stk.launch "attention_fwd" [@[[Q:.*]], @[[K]], @[[V]], @[[O1:.*]], @[[L1:.*]]] params {{.*}}layouts = ["[[LOCAL:layout[0-9]+]]"]
// LOWERED: stk.launch "attention_fwd" [@[[Q]], @[[KS]], @[[VS]], @[[O2:.*]], @[[L2:.*]]] params {{.*}}layouts = ["[[SUMM:layout[0-9]+]]"]
// LOWERED: stk.launch "attention_merge" [@[[O1]], @[[L1]], @[[O2]], @[[L2]], @[[O:.*]], @[[L:.*]]] params {B = 2 : i64, H = 2 : i64, T = 64 : i64, dv = 8 : i64}
// LOWERED: stk.launch "summary_gather"
// LOWERED: stk.launch "summary_gather"
// LOWERED: stk.launch "attention_bwd" [@[[Q]], @[[K]], @[[V]], @[[O]], @[[L]], @{{.*}}, @[[DQ:.*]], @{{.*}}, @{{.*}}] params {{.*}}layouts = ["[[LOCAL]]"]
// LOWERED: stk.launch "attention_bwd" [@[[Q]], @{{.*}}, @{{.*}}, @[[O]], @[[L]], @{{.*}}, @[[DQ2:.*]], @{{.*}}, @{{.*}}] params {{.*}}layouts = ["[[SUMM]]"]
// LOWERED: stk.launch "accumulate" [@[[DQ]], @[[DQ2]]] params {count = 2048 : i64}
// LOWERED: stk.launch "summary_scatter"
// LOWERED: stk.launch "summary_scatter"
// LOWERED-LABEL: stk.program @sample_step
// LOWERED-NOT: summary_gather
// LOWERED: stk.launch "attention_decode" {{.*}}layouts = ["layout{{[0-9]+}}"]

// Tests the summary split of fixed(16, 4) at n = 64 on every head: the
// forward runs st.attention_split over k, v (fixed(16, 0)) and their
// gathered summary columns (gathered(16, 4)); the gradient gathers k and v
// again, and the gathered keys' gradients are scattered back and added to
// dk and dv.
// CHECK-LABEL: func.func @split
// CHECK-SAME: (%[[Q:.*]]: tensor<1x64x32xf32>, %[[K:.*]]: tensor<1x64x32xf32>, %[[V:.*]]: tensor<1x64x32xf32>, %[[DY:.*]]: tensor<1x64x32xf32>)
// CHECK-DAG: %[[KS:.*]] = st.gather_summaries %[[K]] block(16) summary(4) : tensor<1x64x32xf32>
// CHECK-DAG: %[[VS:.*]] = st.gather_summaries %[[V]] block(16) summary(4) : tensor<1x64x32xf32>
// CHECK: %[[O:.*]] = st.attention_split %[[Q]], %[[K]], %[[V]], %[[KS]], %[[VS]] heads(2) patterns [#st.fixed<block = 16, summary = 0>, #st.fixed<block = 16, summary = 0>] second [#st.gathered<block = 16, summary = 4>, #st.gathered<block = 16, summary = 4>]
// CHECK-DAG: %[[KS2:.*]] = st.gather_summaries %[[K]] block(16) summary(4)
// CHECK-DAG: %[[VS2:.*]] = st.gather_summaries %[[V]] block(16) summary(4)
// CHECK: %[[DQ:.*]], %[[DK:.*]], %[[DV:.*]], %[[DKS:.*]], %[[DVS:.*]] = st.attention_split_grad %[[DY]], %[[Q]], %[[K]], %[[V]], %[[KS2]], %[[VS2]], %[[O]]
// CHECK: %[[SK:.*]] = st.scatter_summaries %[[DKS]] block(16) summary(4)
// CHECK: %[[DK2:.*]] = st.add %[[DK]], %[[SK]]
// CHECK: %[[SV:.*]] = st.scatter_summaries %[[DVS]] block(16) summary(4)
// CHECK: %[[DV2:.*]] = st.add %[[DV]], %[[SV]]
// CHECK: return %[[O]], %[[DQ]], %[[DK2]], %[[DV2]]
// The layouts: fixed(16, 0) is the 4 diagonal blocks, gathered(16, 4) the
// staircase below them (query block j sees j * 4 gathered rows: 3 blocks),
// 7 in all where fixed(16, 4) was all 10.
// TILED-LABEL: module
// TILED-DAG: st.layout @[[LOCAL:layout[0-9]+]] {block = 16 : i64, blocks = 4 : i64, fnv1a64 = "{{[0-9a-f]+}}", full = 0 : i64, n = 64 : i64, pattern = #st.fixed<block = 16, summary = 0>}
// TILED-DAG: st.layout @[[SUMM:layout[0-9]+]] {block = 16 : i64, blocks = 3 : i64, fnv1a64 = "{{[0-9a-f]+}}", full = 0 : i64, n = 64 : i64, pattern = #st.gathered<block = 16, summary = 4>}
// TILED: st.attention_split {{.*}} {st.layouts = [@[[LOCAL]], @[[LOCAL]]], st.second_layouts = [@[[SUMM]], @[[SUMM]]]}
// TILED: st.attention_split_grad {{.*}} {st.layouts = [@[[LOCAL]], @[[LOCAL]]], st.second_layouts = [@[[SUMM]], @[[SUMM]]]}
func.func @split(%q: tensor<1x64x32xf32>, %k: tensor<1x64x32xf32>, %v: tensor<1x64x32xf32>, %dy: tensor<1x64x32xf32>)
    -> (tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32>) {
  %o = st.attention %q, %k, %v heads(2) patterns [#st.fixed<block = 16, summary = 4>, #st.fixed<block = 16, summary = 4>]
         : tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32> -> tensor<1x64x32xf32>
  %dq, %dk, %dv = st.attention_grad %dy, %q, %k, %v, %o heads(2) patterns [#st.fixed<block = 16, summary = 4>, #st.fixed<block = 16, summary = 4>]
         : tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32>
  return %o, %dq, %dk, %dv : tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32>
}
