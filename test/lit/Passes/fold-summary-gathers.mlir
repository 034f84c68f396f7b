// RUN: stc-opt %s -split-input-file -stc-fold-summary-gathers | FileCheck %s

// A split fixed layer's training step as stc-lower-to-kernels and
// stc-fuse-accumulate leave it: k and v gathered for the forward and again
// for the backward, the summaries' dk and dv scattered back with
// accumulate. Both attentions over the summaries read k and v themselves;
// the backward adds into the local dk and dv; the four gathers, the two
// scatters and their buffers go.
// CHECK-LABEL: module attributes {stk.folded_summary_ops = 6 : i64}
// CHECK-NOT: stk.buffer @ks
// CHECK-NOT: stk.buffer @dks
// CHECK: stk.launch "attention_fwd" [@q, @k, @v, @o1, @lse1] params {B = 1 : i64, H = 1 : i64, T = 32 : i64, dk = 64 : i64, dv = 64 : i64, heads_per_layout = 1 : i64, layouts = ["local"], scale = 1.250000e-01 : f64}
// CHECK-NEXT: stk.launch "attention_fwd" [@q, @k, @v, @o2, @lse2] params {B = 1 : i64, H = 1 : i64, T = 32 : i64, dk = 64 : i64, dv = 64 : i64, gather_block = 16 : i64, gather_summary = 4 : i64, heads_per_layout = 1 : i64, layouts = ["summ"], scale = 1.250000e-01 : f64}
// CHECK-NEXT: stk.launch "attention_merge"
// CHECK-NEXT: stk.launch "attention_bwd_prep"
// CHECK-NEXT: stk.launch "attention_bwd_atomic" [@q, @k, @v, @lse, @do, @delta, @acc, @dk, @dv] params {B = 1 : i64, H = 1 : i64, T = 32 : i64, dk = 64 : i64, dv = 64 : i64, heads_per_layout = 1 : i64, layouts = ["local"], scale = 1.250000e-01 : f64}
// CHECK-NEXT: stk.launch "attention_bwd_atomic" [@q, @k, @v, @lse, @do, @delta, @acc, @dk, @dv] params {B = 1 : i64, H = 1 : i64, T = 32 : i64, accumulate = true, dk = 64 : i64, dv = 64 : i64, gather_block = 16 : i64, gather_summary = 4 : i64, heads_per_layout = 1 : i64, layouts = ["summ"], scale = 1.250000e-01 : f64}
// CHECK-NEXT: stk.launch "cast" [@acc, @dq]
// CHECK-NEXT: stk.launch "gelu_fwd" [@dk, @r]
// CHECK-NOT: summary_
module {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @q : tensor<1x32x64xbf16> role "input"
  stk.buffer @k : tensor<1x32x64xbf16> role "input"
  stk.buffer @v : tensor<1x32x64xbf16> role "input"
  stk.buffer @do : tensor<1x32x64xbf16> role "input"
  stk.buffer @ks : tensor<1x32x64xbf16> role "activation"
  stk.buffer @vs : tensor<1x32x64xbf16> role "activation"
  stk.buffer @ks2 : tensor<1x32x64xbf16> role "activation"
  stk.buffer @vs2 : tensor<1x32x64xbf16> role "activation"
  stk.buffer @o1 : tensor<1x32x64xbf16> role "activation"
  stk.buffer @o2 : tensor<1x32x64xbf16> role "activation"
  stk.buffer @o : tensor<1x32x64xbf16> role "activation"
  stk.buffer @lse1 : tensor<1x1x32xf32> role "activation"
  stk.buffer @lse2 : tensor<1x1x32xf32> role "activation"
  stk.buffer @lse : tensor<1x1x32xf32> role "activation"
  stk.buffer @delta : tensor<1x1x32xf32> role "activation"
  stk.buffer @acc : tensor<1x32x64xf32> role "activation"
  stk.buffer @dk : tensor<1x32x64xbf16> role "activation"
  stk.buffer @dv : tensor<1x32x64xbf16> role "activation"
  stk.buffer @dks : tensor<1x32x64xbf16> role "activation"
  stk.buffer @dvs : tensor<1x32x64xbf16> role "activation"
  stk.buffer @dq : tensor<1x32x64xbf16> role "activation"
  stk.buffer @r : tensor<1x32x64xbf16> role "output"
  stk.program @train_step inputs {} outputs {r = @r} {
    stk.launch "summary_gather" [@k, @ks] params {B = 1 : i64, T = 32 : i64, D = 64 : i64, block = 16 : i64, summary = 4 : i64}
    stk.launch "summary_gather" [@v, @vs] params {B = 1 : i64, T = 32 : i64, D = 64 : i64, block = 16 : i64, summary = 4 : i64}
    stk.launch "attention_fwd" [@q, @k, @v, @o1, @lse1] params {B = 1 : i64, H = 1 : i64, T = 32 : i64, dk = 64 : i64, dv = 64 : i64, heads_per_layout = 1 : i64, layouts = ["local"], scale = 1.250000e-01 : f64}
    stk.launch "attention_fwd" [@q, @ks, @vs, @o2, @lse2] params {B = 1 : i64, H = 1 : i64, T = 32 : i64, dk = 64 : i64, dv = 64 : i64, heads_per_layout = 1 : i64, layouts = ["summ"], scale = 1.250000e-01 : f64}
    stk.launch "attention_merge" [@o1, @lse1, @o2, @lse2, @o, @lse] params {B = 1 : i64, T = 32 : i64, H = 1 : i64, dv = 64 : i64}
    stk.launch "summary_gather" [@k, @ks2] params {B = 1 : i64, T = 32 : i64, D = 64 : i64, block = 16 : i64, summary = 4 : i64}
    stk.launch "summary_gather" [@v, @vs2] params {B = 1 : i64, T = 32 : i64, D = 64 : i64, block = 16 : i64, summary = 4 : i64}
    stk.launch "attention_bwd_prep" [@o, @do, @delta, @acc] params {B = 1 : i64, H = 1 : i64, T = 32 : i64, dk = 64 : i64, dv = 64 : i64}
    stk.launch "attention_bwd_atomic" [@q, @k, @v, @lse, @do, @delta, @acc, @dk, @dv] params {B = 1 : i64, H = 1 : i64, T = 32 : i64, dk = 64 : i64, dv = 64 : i64, heads_per_layout = 1 : i64, layouts = ["local"], scale = 1.250000e-01 : f64}
    stk.launch "attention_bwd_atomic" [@q, @ks2, @vs2, @lse, @do, @delta, @acc, @dks, @dvs] params {B = 1 : i64, H = 1 : i64, T = 32 : i64, dk = 64 : i64, dv = 64 : i64, heads_per_layout = 1 : i64, layouts = ["summ"], scale = 1.250000e-01 : f64}
    stk.launch "cast" [@acc, @dq] params {count = 2048 : i64}
    stk.launch "summary_scatter" [@dks, @dk] params {B = 1 : i64, T = 32 : i64, D = 64 : i64, block = 16 : i64, summary = 4 : i64, accumulate = true}
    stk.launch "summary_scatter" [@dvs, @dv] params {B = 1 : i64, T = 32 : i64, D = 64 : i64, block = 16 : i64, summary = 4 : i64, accumulate = true}
    stk.launch "gelu_fwd" [@dk, @r] params {count = 2048 : i64}
  }
}

// -----

// Refusals. The gathered keys are read by something else as well: the
// attention reads k itself, the gather stays for the other reader. v is
// written between its gather and the second attention: that one keeps its
// gathered inputs. The scatter does not accumulate: it stays, and so does
// the backward's dense dk and dv. The backward still reads its keys
// through the gather: its two gathers go.
// CHECK-LABEL: module attributes {stk.folded_summary_ops = 2 : i64}
// CHECK: stk.launch "summary_gather" [@k, @ks]
// CHECK-NEXT: stk.launch "summary_gather" [@v, @vs]
// CHECK-NEXT: stk.launch "attention_fwd" [@q, @k, @v, @o1, @lse1] params {{.*}}gather_block = 16 : i64, gather_summary = 4 : i64
// CHECK-NEXT: stk.launch "gelu_fwd" [@ks, @r]
// CHECK-NEXT: stk.launch "gelu_fwd" [@q, @v]
// CHECK-NEXT: stk.launch "attention_fwd" [@q, @ks, @vs, @o2, @lse2] params {B
// CHECK-NOT: gather_block
// CHECK: stk.launch "attention_bwd_atomic" [@q, @k, @u, @lse2, @q, @delta, @acc, @dks, @dvs] params {{.*}}gather_block = 16 : i64
// CHECK-NOT: accumulate = true
// CHECK-NEXT: stk.launch "summary_scatter" [@dks, @dk]
// CHECK-NEXT: stk.launch "summary_scatter" [@dvs, @dv]
module {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @q : tensor<1x32x64xbf16> role "input"
  stk.buffer @k : tensor<1x32x64xbf16> role "input"
  stk.buffer @v : tensor<1x32x64xbf16> role "activation"
  stk.buffer @u : tensor<1x32x64xbf16> role "input"
  stk.buffer @ks : tensor<1x32x64xbf16> role "activation"
  stk.buffer @vs : tensor<1x32x64xbf16> role "activation"
  stk.buffer @ks2 : tensor<1x32x64xbf16> role "activation"
  stk.buffer @us : tensor<1x32x64xbf16> role "activation"
  stk.buffer @o1 : tensor<1x32x64xbf16> role "activation"
  stk.buffer @o2 : tensor<1x32x64xbf16> role "activation"
  stk.buffer @lse1 : tensor<1x1x32xf32> role "activation"
  stk.buffer @lse2 : tensor<1x1x32xf32> role "activation"
  stk.buffer @delta : tensor<1x1x32xf32> role "activation"
  stk.buffer @acc : tensor<1x32x64xf32> role "activation"
  stk.buffer @dk : tensor<1x32x64xbf16> role "activation"
  stk.buffer @dv : tensor<1x32x64xbf16> role "activation"
  stk.buffer @dks : tensor<1x32x64xbf16> role "activation"
  stk.buffer @dvs : tensor<1x32x64xbf16> role "activation"
  stk.buffer @r : tensor<1x32x64xbf16> role "output"
  stk.program @train_step inputs {} outputs {r = @r} {
    stk.launch "summary_gather" [@k, @ks] params {B = 1 : i64, T = 32 : i64, D = 64 : i64, block = 16 : i64, summary = 4 : i64}
    stk.launch "summary_gather" [@v, @vs] params {B = 1 : i64, T = 32 : i64, D = 64 : i64, block = 16 : i64, summary = 4 : i64}
    stk.launch "attention_fwd" [@q, @ks, @vs, @o1, @lse1] params {B = 1 : i64, H = 1 : i64, T = 32 : i64, dk = 64 : i64, dv = 64 : i64, heads_per_layout = 1 : i64, layouts = ["summ"], scale = 1.250000e-01 : f64}
    stk.launch "gelu_fwd" [@ks, @r] params {count = 2048 : i64}
    stk.launch "gelu_fwd" [@q, @v] params {count = 2048 : i64}
    stk.launch "attention_fwd" [@q, @ks, @vs, @o2, @lse2] params {B = 1 : i64, H = 1 : i64, T = 32 : i64, dk = 64 : i64, dv = 64 : i64, heads_per_layout = 1 : i64, layouts = ["summ"], scale = 1.250000e-01 : f64}
    stk.launch "summary_gather" [@k, @ks2] params {B = 1 : i64, T = 32 : i64, D = 64 : i64, block = 16 : i64, summary = 4 : i64}
    stk.launch "summary_gather" [@u, @us] params {B = 1 : i64, T = 32 : i64, D = 64 : i64, block = 16 : i64, summary = 4 : i64}
    stk.launch "zero" [@dk] params {count = 2048 : i64}
    stk.launch "zero" [@dv] params {count = 2048 : i64}
    stk.launch "attention_bwd_atomic" [@q, @ks2, @us, @lse2, @q, @delta, @acc, @dks, @dvs] params {B = 1 : i64, H = 1 : i64, T = 32 : i64, dk = 64 : i64, dv = 64 : i64, heads_per_layout = 1 : i64, layouts = ["summ"], scale = 1.250000e-01 : f64}
    stk.launch "summary_scatter" [@dks, @dk] params {B = 1 : i64, T = 32 : i64, D = 64 : i64, block = 16 : i64, summary = 4 : i64}
    stk.launch "summary_scatter" [@dvs, @dv] params {B = 1 : i64, T = 32 : i64, D = 64 : i64, block = 16 : i64, summary = 4 : i64}
  }
}
