// RUN: stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff -stc-tile-attention=block-size=16 -stc-eliminate-upper-triangle -stc-lower-to-kernels -verify-diagnostics | FileCheck %s
// RUN: stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff -stc-tile-attention=block-size=16 -stc-eliminate-upper-triangle -stc-lower-to-kernels=decode-splits=3 -verify-diagnostics | FileCheck %s --check-prefix=SPLIT
// RUN: not stc-opt %s -split-input-file -stc-expand-model=batch=2 -stc-fuse-softmax -stc-autodiff -stc-tile-attention=block-size=16 -stc-eliminate-upper-triangle -stc-lower-to-kernels=decode-splits=65 2>&1 | FileCheck %s --check-prefix=SPLIT-BAD

// Tests the kernel program of a one-block model: persistent buffers for
// parameters, moments, caches and scalars; the train step's forward kernels,
// the loss fused with its gradient, the backward, the norm and AdamW; the
// sample step's cache writes and decode attention.
// CHECK-LABEL: module
// CHECK-DAG: stk.buffer @scalars : tensor<16xi32> role "scalars"
// CHECK-DAG: stk.buffer @tok_emb : tensor<256x16xf32> role "param"
// CHECK-DAG: stk.buffer @cache.k0 : tensor<2x32x16xf32> role "cache"
// CHECK-DAG: stk.buffer @train.tokens : tensor<2x32xi32> role "input"
// CHECK-DAG: stk.buffer @tok_emb.adam_m : tensor<256x16xf32> role "moment"
// CHECK-LABEL: stk.program @train_step
// CHECK-SAME: inputs {targets = @train.targets, tokens = @train.tokens} outputs {losses = @[[LOSSES:train.losses[0-9]+]]}
// CHECK: stk.launch "embed_fwd" [@train.tokens, @tok_emb, @pos_emb0, @[[X:train.embed[0-9]+]]] params {D = 16 : i64, T = 32 : i64, V = 256 : i64, pos = {{\[\[}}1, 32]], rows = 64 : i64}
// CHECK: stk.launch "layer_norm_fwd" [@[[X]], @block0.ln1.g, @block0.ln1.b, @{{.*}}] params {C = 16 : i64, M = 64 : i64, eps = 1.000000e-05 : f64}
// CHECK: stk.launch "gemm" [@{{.*}}, @block0.attn.q.w, @{{.*}}, @block0.attn.q.b] params {K = 16 : i64, M = 64 : i64, N = 16 : i64, bias = true}
// CHECK: stk.launch "attention_fwd" [{{.*}}] params {B = 2 : i64, H = 2 : i64, T = 32 : i64, dk = 8 : i64, dv = 8 : i64, heads_per_layout = 2 : i64, layouts = ["layout0"], scale = 0.35355339059327373 : f64}
// CHECK: stk.launch "xent_fwd_bwd" [@{{.*}}, @train.targets, @[[LOSSES]], @{{.*}}] params {M = 64 : i64, V = 256 : i64, scale = 1.562500e-02 : f64}
// CHECK: stk.launch "gemm" [{{.*}}] params {K = 256 : i64, M = 64 : i64, N = 16 : i64, trans_b = true}
// CHECK: stk.launch "gemm" [{{.*}}] params {K = 64 : i64, M = 16 : i64, N = 256 : i64, trans_a = true}
// Column sums overwrite their outputs: no zero launch before them.
// CHECK-NOT: stk.launch "zero"
// CHECK: stk.launch "bias_grad" [{{.*}}, @[[DB:train.db[0-9]+]]] params {M = 64 : i64, N = 256 : i64}
// CHECK-NOT: stk.launch "zero"
// CHECK: stk.launch "layer_norm_bwd"
// CHECK: stk.launch "gelu_bwd"
// CHECK: stk.launch "attention_bwd"
// CHECK: stk.launch "embed_bwd"
// The norm and the update are multi-tensor launches: the 22 parameters fit
// one of each (abi::kMaxGroupTensors), all the parameters, then all the
// gradients, the first and the second moments, then the norm.
// CHECK: stk.launch "sumsq" [@[[DB]], @{{.*}}, @[[GN:train.gnorm_sq[0-9]+]]] params {counts = [256, 4096, 16, 16,
// CHECK-NOT: stk.launch "sumsq"
// CHECK: stk.launch "adamw" [@out.b, @out.w, {{.*}}, @tok_emb, @[[DB]], {{.*}}, @out.b.adam_m, {{.*}}, @tok_emb.adam_v, @[[GN]]] params {beta1 = 9.000000e-01 : f64, beta2 = 0.94999999999999996 : f64, clip = 1.000000e+00 : f64, counts = [256, 4096, {{.*}}], decay = [0, 1, 0, 0, {{.*}}, 1, 1], eps = 1.000000e-08 : f64, weight_decay = 1.000000e-02 : f64}
// CHECK-NOT: stk.launch "adamw"
// CHECK-LABEL: stk.program @eval_step
// CHECK: stk.launch "xent_fwd" [
// CHECK-LABEL: stk.program @sample_step
// CHECK-SAME: inputs {token = @sample.token} outputs {logits =
// CHECK: stk.launch "embed_fwd" [@sample.token, @tok_emb, @pos_emb0, {{.*}}] params {D = 16 : i64, T = 32 : i64, V = 256 : i64, decode = true, pos = {{\[\[}}1, 32]], rows = 2 : i64}
// CHECK: stk.launch "kv_store" [@{{.*}}, @cache.k0] params {B = 2 : i64, D = 16 : i64, T = 32 : i64}
// CHECK: stk.launch "kv_store" [@{{.*}}, @cache.v0] params {B = 2 : i64, D = 16 : i64, T = 32 : i64}
// CHECK: stk.launch "attention_decode" [@{{.*}}, @cache.k0, @cache.v0, @{{.*}}] params {B = 2 : i64, H = 2 : i64, T = 32 : i64, dk = 8 : i64, dv = 8 : i64, heads_per_layout = 2 : i64, layouts = ["layout0"], scale = 0.35355339059327373 : f64}
// The sampling attention split over 3 CTAs per query (forced; at 32
// positions the chosen count is 1): the parts, then their merge.
// SPLIT-LABEL: stk.program @sample_step
// SPLIT: stk.launch "attention_decode_split" [@{{.*}}, @cache.k0, @cache.v0, @[[STATS:sample.decode_stats[0-9]+]], @[[ACC:sample.decode_acc[0-9]+]]] params {B = 2 : i64, H = 2 : i64, T = 32 : i64, {{.*}}splits = 3 : i64}
// SPLIT-NEXT: stk.launch "attention_decode_combine" [@[[STATS]], @[[ACC]], @{{.*}}] params {B = 2 : i64, H = 2 : i64, dv = 8 : i64, splits = 3 : i64}
// SPLIT-NOT: stk.launch "attention_decode"
// SPLIT-BAD: stc-lower-to-kernels: decode-splits is 65; valid: 0 (chosen) .. 64
// CHECK: stk.parameter @param.tok_emb {adam_m = @tok_emb.adam_m, adam_v = @tok_emb.adam_v, decay, grad = @train.demb{{[0-9]+}}, init = #st.init<normal, std = 2.000000e-02>, value = @tok_emb}
// An f32 parameter has no master weights.
// CHECK-NOT: master
// CHECK-NOT: func.func
// CHECK-NOT: st.parameter
st.model @m {vocab = 256, context = 32, width = 16, heads = 2} {
  st.block attention [#st.local<4>]
}

// -----

// Tests that a bf16 model keeps bf16 activations but samples into f32 logits,
// as the artifact format requires, and that AdamW updates f32 master weights
// of its bf16 parameters.
// CHECK-LABEL: module
// CHECK: stk.buffer @sample.[[LOGITS:linear[0-9]+]] : tensor<2x1x256xf32> role "activation"
// CHECK: stk.buffer @tok_emb.master : tensor<256x16xf32> role "moment"
// CHECK-LABEL: stk.program @train_step
// CHECK: stk.launch "adamw" [@out.b, {{.*}}, @out.b.master, {{.*}}] params {{{.*}}master = true
// CHECK-LABEL: stk.program @sample_step
// CHECK-SAME: outputs {logits = @sample.[[LOGITS]]}
// CHECK: stk.launch "gemm" [@{{.*}}, @out.w, @sample.[[LOGITS]], @out.b]
// CHECK: stk.parameter @param.tok_emb {{{.*}}master = @tok_emb.master
st.model @half {vocab = 256, context = 32, width = 16, heads = 2, dtype = bf16} {
  st.block attention [#st.causal]
}

// -----

// Tests that an f16 model trains with a dynamic loss scale: one state
// buffer kept with the optimizer's, the loss gradient multiplied by it,
// every AdamW group dividing by it, and the update of the scale after the
// last of them. A bf16 model (above) has none.
// CHECK-LABEL: module
// CHECK: stk.buffer @loss_scale : tensor<4xf32> role "moment"
// CHECK: stk.buffer @tok_emb.master : tensor<256x16xf32> role "moment"
// CHECK-LABEL: stk.program @train_step
// CHECK: stk.launch "xent_fwd_bwd" [{{.*}}, @loss_scale] params {{{.*}}loss_scaling = true
// CHECK: stk.launch "sumsq"
// CHECK: stk.launch "adamw" [{{.*}}, @[[GNORM:train.gnorm_sq[0-9]*]], @loss_scale] params {{{.*}}loss_scaling = true
// CHECK: stk.launch "loss_scale_update" [@[[GNORM]], @loss_scale] params {growth_interval = 2000 : i64}
// CHECK-NEXT: }
// CHECK-LABEL: stk.program @eval_step
// CHECK-NOT: loss_scale
// CHECK-LABEL: stk.program @sample_step
// CHECK-NOT: loss_scale
// CHECK: stk.parameter
st.model @f16 {vocab = 256, context = 32, width = 16, heads = 2, dtype = f16} {
  st.block attention [#st.causal]
}

// -----

// Tests that head sizes the kernels cannot run are rejected before codegen.
st.model @m {vocab = 256, context = 32, width = 16, heads = 4} {
  // expected-error @+1 {{head size 4 is not supported by the attention kernels; valid: multiples of 8 from 8 to 256 (width / heads)}}
  st.block attention [#st.local<4>]
}
