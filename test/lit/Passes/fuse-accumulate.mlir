// RUN: stc-opt %s -split-input-file -stc-fuse-accumulate | FileCheck %s

// Three input gradients summed by two adds (the Q, K and V projections of a
// layer): the second and third gemms accumulate (beta = 1) into the first's
// buffer, both adds go, and the later reader of the sum reads @dx1.
// CHECK-LABEL: module attributes {stk.folded_adds = 2 : i64}
// CHECK-NOT: stk.buffer @dx2
// CHECK-NOT: stk.buffer @s1
// CHECK: stk.launch "gemm" [@g1, @w1, @dx1] params {K = 4 : i64, M = 4 : i64, N = 4 : i64}
// CHECK-NEXT: stk.launch "gemm" [@g2, @w2, @dx1] params {K = 4 : i64, M = 4 : i64, N = 4 : i64, beta = 1.000000e+00 : f64}
// CHECK-NEXT: stk.launch "gemm" [@g3, @w3, @dx1] params {K = 4 : i64, M = 4 : i64, N = 4 : i64, beta = 1.000000e+00 : f64}
// CHECK-NEXT: stk.launch "gelu_fwd" [@dx1, @r]
// CHECK-NOT: "add"
module {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @w1 : tensor<16xf32> role "param"
  stk.buffer @w2 : tensor<16xf32> role "param"
  stk.buffer @w3 : tensor<16xf32> role "param"
  stk.buffer @g1 : tensor<16xf32> role "input"
  stk.buffer @g2 : tensor<16xf32> role "input"
  stk.buffer @g3 : tensor<16xf32> role "input"
  stk.buffer @dx1 : tensor<16xf32> role "activation"
  stk.buffer @dx2 : tensor<16xf32> role "activation"
  stk.buffer @dx3 : tensor<16xf32> role "activation"
  stk.buffer @s1 : tensor<16xf32> role "activation"
  stk.buffer @s2 : tensor<16xf32> role "activation"
  stk.buffer @r : tensor<16xf32> role "output"
  stk.program @train_step inputs {} outputs {losses = @r} {
    stk.launch "gemm" [@g1, @w1, @dx1] params {M = 4 : i64, N = 4 : i64, K = 4 : i64}
    stk.launch "gemm" [@g2, @w2, @dx2] params {M = 4 : i64, N = 4 : i64, K = 4 : i64}
    stk.launch "add" [@dx1, @dx2, @s1] params {count = 16 : i64}
    stk.launch "gemm" [@g3, @w3, @dx3] params {M = 4 : i64, N = 4 : i64, K = 4 : i64}
    stk.launch "add" [@s1, @dx3, @s2] params {count = 16 : i64}
    stk.launch "gelu_fwd" [@s2, @r] params {count = 16 : i64}
  }
}

// -----

// The residual stream's gradient plus a layer norm's input gradient: the
// layer norm backward accumulates into the residual gradient; a summary
// scatter's adjoint accumulates into the keys' gradient.
// CHECK-LABEL: module attributes {stk.folded_adds = 2 : i64}
// CHECK: stk.launch "layer_norm_bwd" [@dy, @x, @mean, @rstd, @gamma, @res, @dg, @db] params {C = 4 : i64, M = 4 : i64, accumulate = true}
// CHECK-NEXT: stk.launch "summary_scatter" [@ys, @dk] params {B = 1 : i64, D = 2 : i64, T = 8 : i64, accumulate = true, block = 4 : i64, summary = 1 : i64}
// CHECK-NEXT: stk.launch "add" [@res, @dk, @r]
module {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @dy : tensor<16xf32> role "input"
  stk.buffer @x : tensor<16xf32> role "input"
  stk.buffer @mean : tensor<4xf32> role "input"
  stk.buffer @rstd : tensor<4xf32> role "input"
  stk.buffer @gamma : tensor<4xf32> role "param"
  stk.buffer @res : tensor<16xf32> role "activation"
  stk.buffer @dln : tensor<16xf32> role "activation"
  stk.buffer @dg : tensor<4xf32> role "activation"
  stk.buffer @db : tensor<4xf32> role "activation"
  stk.buffer @sum : tensor<16xf32> role "activation"
  stk.buffer @ys : tensor<16xf32> role "input"
  stk.buffer @dk : tensor<16xf32> role "activation"
  stk.buffer @sc : tensor<16xf32> role "activation"
  stk.buffer @dk2 : tensor<16xf32> role "activation"
  stk.buffer @r : tensor<16xf32> role "output"
  stk.program @train_step inputs {} outputs {losses = @r} {
    stk.launch "gelu_fwd" [@dy, @res] params {count = 16 : i64}
    stk.launch "gelu_fwd" [@x, @dk] params {count = 16 : i64}
    stk.launch "layer_norm_bwd" [@dy, @x, @mean, @rstd, @gamma, @dln, @dg, @db] params {M = 4 : i64, C = 4 : i64}
    stk.launch "add" [@res, @dln, @sum] params {count = 16 : i64}
    stk.launch "summary_scatter" [@ys, @sc] params {B = 1 : i64, T = 8 : i64, D = 2 : i64, block = 4 : i64, summary = 1 : i64}
    stk.launch "add" [@dk, @sc, @dk2] params {count = 16 : i64}
    stk.launch "add" [@sum, @dk2, @r] params {count = 16 : i64}
  }
}

// -----

// Nothing folds: @a1 is read again by the gelu (its producer cannot write
// elsewhere); @b2 is read after the add (its old value would be gone);
// @b3 is read between the producer and the add; gelu_fwd has neither an
// accumulating form nor a residual input; @b5 is the parameter table's
// gradient.
// CHECK-LABEL: module {
// CHECK-COUNT-5: stk.launch "add"
module {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @w : tensor<16xf32> role "param"
  stk.buffer @m : tensor<16xf32> role "moment"
  stk.buffer @g : tensor<16xf32> role "input"
  stk.buffer @a1 : tensor<16xf32> role "activation"
  stk.buffer @b1 : tensor<16xf32> role "activation"
  stk.buffer @o1 : tensor<16xf32> role "activation"
  stk.buffer @u1 : tensor<16xf32> role "activation"
  stk.buffer @a2 : tensor<16xf32> role "activation"
  stk.buffer @b2 : tensor<16xf32> role "activation"
  stk.buffer @o2 : tensor<16xf32> role "activation"
  stk.buffer @u2 : tensor<16xf32> role "activation"
  stk.buffer @a3 : tensor<16xf32> role "activation"
  stk.buffer @b3 : tensor<16xf32> role "activation"
  stk.buffer @o3 : tensor<16xf32> role "activation"
  stk.buffer @u3 : tensor<16xf32> role "activation"
  stk.buffer @a4 : tensor<16xf32> role "activation"
  stk.buffer @b4 : tensor<16xf32> role "activation"
  stk.buffer @o4 : tensor<16xf32> role "activation"
  stk.buffer @a5 : tensor<16xf32> role "activation"
  stk.buffer @b5 : tensor<16xf32> role "activation"
  stk.buffer @o5 : tensor<16xf32> role "activation"
  stk.buffer @r : tensor<16xf32> role "output"
  stk.program @train_step inputs {} outputs {losses = @r} {
    stk.launch "gelu_fwd" [@g, @b1] params {count = 16 : i64}
    stk.launch "gemm" [@g, @w, @a1] params {M = 4 : i64, N = 4 : i64, K = 4 : i64}
    stk.launch "add" [@b1, @a1, @o1] params {count = 16 : i64}
    stk.launch "gelu_fwd" [@a1, @u1] params {count = 16 : i64}
    stk.launch "gelu_fwd" [@g, @b2] params {count = 16 : i64}
    stk.launch "gemm" [@g, @w, @a2] params {M = 4 : i64, N = 4 : i64, K = 4 : i64}
    stk.launch "add" [@b2, @a2, @o2] params {count = 16 : i64}
    stk.launch "gelu_fwd" [@b2, @u2] params {count = 16 : i64}
    stk.launch "gelu_fwd" [@g, @b3] params {count = 16 : i64}
    stk.launch "gemm" [@g, @w, @a3] params {M = 4 : i64, N = 4 : i64, K = 4 : i64}
    stk.launch "gelu_fwd" [@b3, @u3] params {count = 16 : i64}
    stk.launch "add" [@b3, @a3, @o3] params {count = 16 : i64}
    stk.launch "gelu_fwd" [@g, @b4] params {count = 16 : i64}
    stk.launch "gelu_fwd" [@g, @a4] params {count = 16 : i64}
    stk.launch "add" [@b4, @a4, @o4] params {count = 16 : i64}
    stk.launch "gelu_fwd" [@g, @b5] params {count = 16 : i64}
    stk.launch "gemm" [@g, @w, @a5] params {M = 4 : i64, N = 4 : i64, K = 4 : i64}
    stk.launch "add" [@b5, @a5, @o5] params {count = 16 : i64}
    stk.launch "gelu_fwd" [@o1, @r] params {count = 16 : i64}
  }
  stk.parameter @param.w {adam_m = @m, adam_v = @m, grad = @b5, init = #st.init<zeros>, value = @w}
}

// -----

// The forward's residual stream: @x is read again after the add (a layer
// norm backward would), so nothing accumulates into it; the dropout takes
// it as its residual and writes the sum into @sum itself.
// CHECK-LABEL: module attributes {stk.folded_adds = 1 : i64}
// CHECK-NOT: stk.buffer @d :
// CHECK: stk.launch "dropout_fwd" [@h, @sum, @x] params {count = 16 : i64, rate = 1.000000e-01 : f64, residual = true, salt = 3 : i64}
// CHECK-NEXT: stk.launch "gelu_fwd" [@x, @r]
// CHECK-NEXT: stk.launch "gelu_fwd" [@sum, @r2]
module {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @h : tensor<16xf32> role "input"
  stk.buffer @x : tensor<16xf32> role "activation"
  stk.buffer @d : tensor<16xf32> role "activation"
  stk.buffer @sum : tensor<16xf32> role "activation"
  stk.buffer @r : tensor<16xf32> role "output"
  stk.buffer @r2 : tensor<16xf32> role "output"
  stk.program @train_step inputs {} outputs {losses = @r, logits = @r2} {
    stk.launch "gelu_fwd" [@h, @x] params {count = 16 : i64}
    stk.launch "dropout_fwd" [@h, @d] params {count = 16 : i64, rate = 1.000000e-01 : f64, salt = 3 : i64}
    stk.launch "add" [@x, @d, @sum] params {count = 16 : i64}
    stk.launch "gelu_fwd" [@x, @r] params {count = 16 : i64}
    stk.launch "gelu_fwd" [@sum, @r2] params {count = 16 : i64}
  }
}
