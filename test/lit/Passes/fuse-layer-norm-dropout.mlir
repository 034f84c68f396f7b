// RUN: stc-opt %s -split-input-file -stc-fuse-layer-norm-dropout | FileCheck %s

// A block's residual add with dropout and the next layer norm, forward and
// backward: each pair becomes one launch over the same buffers.
// CHECK-LABEL: module attributes {stk.fused_layer_norms = 2 : i64}
// CHECK: stk.launch "dropout_layer_norm_fwd" [@x, @r, @s, @g, @b, @y, @mu, @rs] params {C = 8 : i64, M = 4 : i64, eps = 1.000000e-05 : f64, rate = 1.000000e-01 : f64, salt = 3 : i64}
// CHECK-NEXT: stk.launch "gelu_fwd" [@y, @out]
// CHECK-NEXT: stk.launch "layer_norm_bwd" [@dy, @s, @mu, @rs, @g, @dx, @dg, @db, @dbr] params {C = 8 : i64, M = 4 : i64, accumulate = true, dropout = true, rate = 1.000000e-01 : f64, salt = 3 : i64}
// CHECK-NEXT: stk.launch "gelu_fwd" [@dbr, @out2]
// CHECK-NOT: "dropout_fwd"
// CHECK-NOT: "dropout_bwd"
module {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @x : tensor<4x8xf32> role "input"
  stk.buffer @r : tensor<4x8xf32> role "input"
  stk.buffer @s : tensor<4x8xf32> role "activation"
  stk.buffer @g : tensor<8xf32> role "param"
  stk.buffer @b : tensor<8xf32> role "param"
  stk.buffer @y : tensor<4x8xf32> role "activation"
  stk.buffer @mu : tensor<4xf32> role "activation"
  stk.buffer @rs : tensor<4xf32> role "activation"
  stk.buffer @dy : tensor<4x8xf32> role "input"
  stk.buffer @dx : tensor<4x8xf32> role "input"
  stk.buffer @dg : tensor<8xf32> role "activation"
  stk.buffer @db : tensor<8xf32> role "activation"
  stk.buffer @dbr : tensor<4x8xf32> role "activation"
  stk.buffer @out : tensor<4x8xf32> role "output"
  stk.buffer @out2 : tensor<4x8xf32> role "output"
  stk.program @train_step inputs {} outputs {out = @out} {
    stk.launch "dropout_fwd" [@x, @s, @r] params {count = 32 : i64, rate = 0.1 : f64, salt = 3 : i64, residual = true}
    stk.launch "layer_norm_fwd" [@s, @g, @b, @y, @mu, @rs] params {M = 4 : i64, C = 8 : i64, eps = 1.0e-05 : f64}
    stk.launch "gelu_fwd" [@y, @out] params {count = 32 : i64}
    stk.launch "layer_norm_bwd" [@dy, @s, @mu, @rs, @g, @dx, @dg, @db] params {M = 4 : i64, C = 8 : i64, accumulate = true}
    stk.launch "dropout_bwd" [@dx, @dbr] params {count = 32 : i64, rate = 0.1 : f64, salt = 3 : i64}
    stk.launch "gelu_fwd" [@dbr, @out2] params {count = 32 : i64}
  }
}

// -----

// Refusals: a dropout without a residual, a layer norm of another tensor,
// a launch between the two, a dropout of another gradient.
// CHECK-LABEL: module {
// CHECK: "dropout_fwd" [@x, @s]
// CHECK-NEXT: "layer_norm_fwd" [@s,
// CHECK-NEXT: "dropout_fwd" [@x, @s, @r]
// CHECK-NEXT: "layer_norm_fwd" [@x,
// CHECK-NEXT: "layer_norm_bwd"
// CHECK-NEXT: "gelu_fwd"
// CHECK-NEXT: "dropout_bwd" [@dx, @dbr]
// CHECK-NEXT: "layer_norm_bwd"
// CHECK-NEXT: "dropout_bwd" [@dy, @dbr]
module {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @x : tensor<4x8xf32> role "input"
  stk.buffer @r : tensor<4x8xf32> role "input"
  stk.buffer @s : tensor<4x8xf32> role "activation"
  stk.buffer @g : tensor<8xf32> role "param"
  stk.buffer @b : tensor<8xf32> role "param"
  stk.buffer @y : tensor<4x8xf32> role "activation"
  stk.buffer @mu : tensor<4xf32> role "activation"
  stk.buffer @rs : tensor<4xf32> role "activation"
  stk.buffer @dy : tensor<4x8xf32> role "input"
  stk.buffer @dx : tensor<4x8xf32> role "input"
  stk.buffer @dg : tensor<8xf32> role "activation"
  stk.buffer @db : tensor<8xf32> role "activation"
  stk.buffer @dbr : tensor<4x8xf32> role "output"
  stk.buffer @out : tensor<4x8xf32> role "output"
  stk.program @train_step inputs {} outputs {out = @out} {
    stk.launch "dropout_fwd" [@x, @s] params {count = 32 : i64, rate = 0.1 : f64, salt = 3 : i64}
    stk.launch "layer_norm_fwd" [@s, @g, @b, @y, @mu, @rs] params {M = 4 : i64, C = 8 : i64, eps = 1.0e-05 : f64}
    stk.launch "dropout_fwd" [@x, @s, @r] params {count = 32 : i64, rate = 0.1 : f64, salt = 3 : i64, residual = true}
    stk.launch "layer_norm_fwd" [@x, @g, @b, @y, @mu, @rs] params {M = 4 : i64, C = 8 : i64, eps = 1.0e-05 : f64}
    stk.launch "layer_norm_bwd" [@dy, @s, @mu, @rs, @g, @dx, @dg, @db] params {M = 4 : i64, C = 8 : i64}
    stk.launch "gelu_fwd" [@y, @out] params {count = 32 : i64}
    stk.launch "dropout_bwd" [@dx, @dbr] params {count = 32 : i64, rate = 0.1 : f64, salt = 3 : i64}
    stk.launch "layer_norm_bwd" [@dy, @s, @mu, @rs, @g, @dx, @dg, @db] params {M = 4 : i64, C = 8 : i64}
    stk.launch "dropout_bwd" [@dy, @dbr] params {count = 32 : i64, rate = 0.1 : f64, salt = 3 : i64}
  }
}
