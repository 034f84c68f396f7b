// RUN: stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff -stc-schedule-recompute=policy=paper -verify-diagnostics | FileCheck %s
// RUN: stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff -stc-schedule-recompute=policy=none | FileCheck %s --check-prefix=NONE
// RUN: stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff "-stc-schedule-recompute=policy=paper blocks=1" 2>&1 | FileCheck %s --check-prefix=FIRST
// RUN: stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff "-stc-schedule-recompute=policy=paper blocks=1 rest=cheap" 2>&1 | FileCheck %s --check-prefix=MIXED
// RUN: stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff -stc-schedule-recompute=policy=gemm 2>&1 | FileCheck %s --check-prefix=GEMM
// RUN: stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff "-stc-schedule-recompute=policy=paper blocks=1 rest=gemm" 2>&1 | FileCheck %s --check-prefix=PAPER-GEMM
// RUN: not stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff "-stc-schedule-recompute=policy=cheap blocks=1 rest=gemm" 2>&1 | FileCheck %s --check-prefix=BAD-REST
// RUN: stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff -stc-schedule-recompute=policy=cheap 2>&1 | FileCheck %s --check-prefix=CHEAP
// RUN: not stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff -stc-schedule-recompute=policy=all 2>&1 | FileCheck %s --check-prefix=BAD

// Tests the paper policy on a two-block model: the embedding and each
// block's output are the kept checkpoints; each block's backward starts by
// recomputing, from the block's input, every value it reads (layer norms,
// q, k, v, attention, the inner residual sum and its dropout, the GELU
// input and output), and reads only the clones.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[X0:.*]] = st.embed {{.*}} {position = #st.position<learned>, st.checkpoint}
// CHECK: %[[X1:.*]] = st.add {{.*}} {st.checkpoint}
// CHECK: %[[X2:.*]] = st.add {{.*}} {st.checkpoint}
// CHECK: st.cross_entropy_grad
// Block 1's backward: its layer norm first, from its input X1.
// CHECK: %[[LN:.*]] = st.layer_norm %[[X1]], %{{.*}}, %{{.*}}
// CHECK: %[[Q:.*]] = st.linear %[[LN]]
// CHECK: %[[K:.*]] = st.linear %[[LN]]
// CHECK: %[[V:.*]] = st.linear %[[LN]]
// CHECK: %[[A:.*]] = st.attention %[[Q]], %[[K]], %[[V]] heads(2) patterns [#st.strided<4>]
// CHECK: st.dropout
// CHECK: %[[H:.*]] = st.add %[[X1]]
// CHECK-NOT: st.checkpoint
// CHECK: st.layer_norm_grad %{{.*}}, %[[H]],
// CHECK: st.attention_grad %{{.*}}, %[[Q]], %[[K]], %[[V]], %[[A]]
// CHECK: st.layer_norm_grad %{{.*}}, %[[X1]],
// Block 0's backward, from X0.
// CHECK: st.layer_norm %[[X0]]
// CHECK: st.attention {{.*}} patterns [#st.local<4>]
// CHECK: st.attention_grad {{.*}} patterns [#st.local<4>]
// CHECK: st.layer_norm_grad %{{.*}}, %[[X0]],
// CHECK: st.embed_grad
// NONE-LABEL: func.func @train_step
// NONE-COUNT-2: st.attention {{.*}} : tensor
// NONE-NOT: st.attention {{.*}} : tensor
// Only the first block: its 11 ops, once, before its backward (the last
// backward in program order); the second block's values are kept.
// FIRST: remark: recompute (paper, the first 1 of 2 blocks): 11 forward ops run again in the backward
// FIRST-LABEL: func.func @train_step
// FIRST-COUNT-2: st.attention {{.*}} : tensor
// FIRST: st.attention_grad {{.*}} patterns [#st.strided<4>]
// FIRST: st.attention {{.*}} patterns [#st.local<4>]
// FIRST: st.attention_grad {{.*}} patterns [#st.local<4>]
// The cheap policy recomputes the layer norms, the inner residual sum with
// its dropout, and the GELU of each block (5 ops each), and keeps every GEMM
// and attention output: no st.linear or st.attention after the loss.
// CHEAP: remark: recompute (cheap): 10 forward ops run again in the backward, 0.00 GFLOP
// CHEAP-LABEL: func.func @train_step
// CHEAP: st.cross_entropy_grad
// CHEAP-NOT: st.linear %
// CHEAP-NOT: st.attention %
// CHEAP: st.layer_norm
// CHEAP-NOT: st.linear %
// CHEAP-NOT: st.attention %
// CHEAP: st.embed_grad
// The first block whole (11 ops), the second's cheap ops (5): the second
// block's backward recomputes no GEMM or attention, the first's does.
// MIXED: remark: recompute (paper, the first 1 of 2 blocks, cheap in the others): 16 forward ops run again in the backward
// MIXED-LABEL: func.func @train_step
// MIXED: st.cross_entropy_grad
// MIXED-NOT: st.attention %
// MIXED: st.attention_grad {{.*}} patterns [#st.strided<4>]
// MIXED: st.attention {{.*}} patterns [#st.local<4>]
// MIXED: st.attention_grad {{.*}} patterns [#st.local<4>]
// The gemm policy recomputes everything the paper policy does but the
// attention (10 ops per block, 20 instead of 22): the backward reads each
// block's kept attention output.
// GEMM: remark: recompute (gemm): 20 forward ops run again in the backward
// GEMM-LABEL: func.func @train_step
// GEMM: st.cross_entropy_grad
// GEMM-NOT: st.attention %
// GEMM: st.linear
// GEMM-NOT: st.attention %
// GEMM: st.attention_grad {{.*}} patterns [#st.strided<4>]
// GEMM-NOT: st.attention %
// GEMM: st.attention_grad {{.*}} patterns [#st.local<4>]
// GEMM: st.embed_grad
// The first block whole (11 ops), the second all but its attention (10).
// PAPER-GEMM: remark: recompute (paper, the first 1 of 2 blocks, gemm in the others): 21 forward ops run again in the backward
// PAPER-GEMM-LABEL: func.func @train_step
// PAPER-GEMM: st.cross_entropy_grad
// PAPER-GEMM-NOT: st.attention %
// PAPER-GEMM: st.attention_grad {{.*}} patterns [#st.strided<4>]
// PAPER-GEMM: st.attention {{.*}} patterns [#st.local<4>]
// PAPER-GEMM: st.attention_grad {{.*}} patterns [#st.local<4>]
// BAD-REST: error: stc-schedule-recompute: rest is 'gemm'; valid: none, cheap or gemm, and no more than the policy ('cheap')
// BAD: error: stc-schedule-recompute: unknown policy 'all'; valid: none, cheap, gemm, paper
// expected-remark @+1 {{recompute (paper): 22 forward ops run again in the backward}}
st.model @two {vocab = 256, context = 16, width = 16, heads = 2,
               dropout = 0.1} {
  st.block attention [#st.local<4>]
  st.block attention [#st.strided<4>]
}
