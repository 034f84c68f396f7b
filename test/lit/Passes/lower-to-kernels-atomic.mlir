// RUN: stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff -stc-normalize-patterns=block-size=64 -stc-tile-attention=block-size=64 -stc-eliminate-upper-triangle -stc-lower-to-kernels | FileCheck %s
// RUN: stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff -stc-normalize-patterns=block-size=64 -stc-tile-attention=block-size=64 -stc-eliminate-upper-triangle -stc-lower-to-kernels=deterministic=true | FileCheck %s --check-prefix=DET

// The attention backward of stc-lower-to-kernels. Where the tensor-core
// kernels run (bf16, head size 32, 64 or 128, layout blocks of 64 or 128)
// it is the fast form: attention_bwd_prep (delta and a zeroed fp32 dq),
// attention_bwd_atomic (dq added with atomics) and a cast to dq. With
// deterministic=true, and for every other model, one attention_bwd.

// CHECK-LABEL: stk.program @train_step
// CHECK: stk.launch "attention_fwd" [@[[Q:.*]], @[[K:.*]], @[[V:.*]], @[[O:.*]], @[[L:.*]]] params
// CHECK-NOT: stk.launch "attention_bwd"
// CHECK: stk.launch "attention_bwd_prep" [@[[O]], @[[DO:.*]], @[[DELTA:train.attn_delta[0-9]+]], @[[ACC:train.dq_acc[0-9]+]]] params {B = 2 : i64, H = 2 : i64, T = 128 : i64, dk = 64 : i64, dv = 64 : i64}
// CHECK-NEXT: stk.launch "attention_bwd_atomic" [@[[Q]], @[[K]], @[[V]], @[[L]], @[[DO]], @[[DELTA]], @[[ACC]], @{{.*}}, @{{.*}}] params {B = 2 : i64, H = 2 : i64, T = 128 : i64, dk = 64 : i64, dv = 64 : i64, heads_per_layout = 2 : i64, layouts = ["layout0"], scale = 1.250000e-01 : f64}
// CHECK-NEXT: stk.launch "cast" [@[[ACC]], @{{.*}}] params {count = 32768 : i64}
// CHECK-LABEL: stk.program @eval_step
// DET-LABEL: stk.program @train_step
// DET-NOT: attention_bwd_prep
// DET: stk.launch "attention_bwd" [
// DET-NOT: attention_bwd_atomic
// DET-LABEL: stk.program @eval_step
st.model @bf16 {vocab = 256, context = 128, width = 128, heads = 2,
                dtype = bf16} {
  st.block attention [#st.local<64>]
}

// -----

// A split fixed layer: one prep, both sources' backwards add into one dq,
// one cast; no accumulate.
// CHECK-LABEL: stk.program @train_step
// CHECK: stk.launch "attention_bwd_prep" [@{{.*}}, @{{.*}}, @[[DELTA:.*]], @[[ACC:.*]]] params
// CHECK-NEXT: stk.launch "attention_bwd_atomic" [{{.*}}, @[[DELTA]], @[[ACC]], @{{.*}}, @{{.*}}] params {{.*}}layouts = ["[[LOCAL:layout[0-9]+]]"]
// CHECK-NEXT: stk.launch "attention_bwd_atomic" [{{.*}}, @[[DELTA]], @[[ACC]], @{{.*}}, @{{.*}}] params {{.*}}layouts = ["[[SUMM:layout[0-9]+]]"]
// CHECK-NEXT: stk.launch "cast" [@[[ACC]], @{{.*}}]
// CHECK-NOT: stk.launch "accumulate"
// CHECK: stk.launch "summary_scatter"
// CHECK-LABEL: stk.program @eval_step
// DET-LABEL: stk.program @train_step
// DET: stk.launch "attention_bwd" [
// DET: stk.launch "attention_bwd" [
// DET: stk.launch "accumulate"
// DET-LABEL: stk.program @eval_step
st.model @fixed {vocab = 256, context = 512, width = 128, heads = 2,
                 dtype = bf16} {
  st.block attention [#st.fixed<block = 128, summary = 32>]
}

// -----

// f32, or a head size the tensor-core kernels do not take: attention_bwd.
// CHECK-LABEL: stk.program @train_step
// CHECK-NOT: attention_bwd_prep
// CHECK: stk.launch "attention_bwd" [
// CHECK-LABEL: stk.program @eval_step
// DET-LABEL: stk.program @train_step
// DET: stk.launch "attention_bwd" [
st.model @f32 {vocab = 256, context = 128, width = 128, heads = 2} {
  st.block attention [#st.local<64>]
}

// -----

// CHECK-LABEL: stk.program @train_step
// CHECK-NOT: attention_bwd_prep
// CHECK: stk.launch "attention_bwd" [
// CHECK-LABEL: stk.program @eval_step
// DET-LABEL: stk.program @train_step
// DET: stk.launch "attention_bwd" [
st.model @head16 {vocab = 256, context = 128, width = 64, heads = 4,
                  dtype = bf16} {
  st.block attention [#st.local<64>]
}
