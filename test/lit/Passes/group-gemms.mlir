// RUN: stc-opt %s -split-input-file -stc-group-gemms | FileCheck %s

// A layer's Q, K and V projections, and their weight gradients with their
// bias gradients between the input gradients: one gemm_group each, run
// where the last member ran, and the lists of buffers recorded for the
// memory plan.
// CHECK-LABEL: module attributes {stk.buffer_groups = {{\[\[}}@wq, @wk, @wv], [@q, @k, @v], [@bq, @bk, @bv], [@dv, @dk, @dq], [@dwv, @dwk, @dwq], [@dbv, @dbk, @dbq]], stk.grouped_gemms = 6 : i64}
// CHECK: stk.launch "gemm_group" [@x, @wq, @wk, @wv, @q, @k, @v, @bq, @bk, @bv] params {K = 8 : i64, M = 4 : i64, bias = true, widths = [8, 8, 8]}
// CHECK-NEXT: stk.launch "gemm" [@dv, @wv, @dx]
// CHECK-NEXT: stk.launch "gemm" [@dk, @wk, @dx]
// CHECK-NEXT: stk.launch "gemm" [@dq, @wq, @dx]
// CHECK-NEXT: stk.launch "gemm_group" [@x, @dv, @dk, @dq, @dwv, @dwk, @dwq, @dbv, @dbk, @dbq] params {K = 4 : i64, M = 8 : i64, bias_grad = true, trans_a = true, widths = [8, 8, 8]}
module {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @x : tensor<4x8xf32> role "input"
  stk.buffer @wq : tensor<8x8xf32> role "param"
  stk.buffer @bq : tensor<8xf32> role "param"
  stk.buffer @wk : tensor<8x8xf32> role "param"
  stk.buffer @bk : tensor<8xf32> role "param"
  stk.buffer @wv : tensor<8x8xf32> role "param"
  stk.buffer @bv : tensor<8xf32> role "param"
  stk.buffer @q : tensor<4x8xf32> role "output"
  stk.buffer @k : tensor<4x8xf32> role "output"
  stk.buffer @v : tensor<4x8xf32> role "output"
  stk.buffer @dq : tensor<4x8xf32> role "input"
  stk.buffer @dk : tensor<4x8xf32> role "input"
  stk.buffer @dv : tensor<4x8xf32> role "input"
  stk.buffer @dx : tensor<4x8xf32> role "output"
  stk.buffer @dwq : tensor<8x8xf32> role "output"
  stk.buffer @dwk : tensor<8x8xf32> role "output"
  stk.buffer @dwv : tensor<8x8xf32> role "output"
  stk.buffer @dbq : tensor<8xf32> role "output"
  stk.buffer @dbk : tensor<8xf32> role "output"
  stk.buffer @dbv : tensor<8xf32> role "output"
  stk.program @train_step inputs {x = @x, dq = @dq, dk = @dk, dv = @dv} outputs {q = @q, k = @k, v = @v, dx = @dx, dwq = @dwq, dwk = @dwk, dwv = @dwv, dbq = @dbq, dbk = @dbk, dbv = @dbv} {
    stk.launch "gemm" [@x, @wq, @q, @bq] params {M = 4 : i64, N = 8 : i64, K = 8 : i64, bias = true}
    stk.launch "gemm" [@x, @wk, @k, @bk] params {M = 4 : i64, N = 8 : i64, K = 8 : i64, bias = true}
    stk.launch "gemm" [@x, @wv, @v, @bv] params {M = 4 : i64, N = 8 : i64, K = 8 : i64, bias = true}
    stk.launch "gemm" [@dv, @wv, @dx] params {M = 4 : i64, N = 8 : i64, K = 8 : i64, trans_b = true}
    stk.launch "gemm" [@x, @dv, @dwv, @dbv] params {M = 8 : i64, N = 8 : i64, K = 4 : i64, trans_a = true, bias_grad = true}
    stk.launch "gemm" [@dk, @wk, @dx] params {M = 4 : i64, N = 8 : i64, K = 8 : i64, trans_b = true, beta = 1.0 : f64}
    stk.launch "gemm" [@x, @dk, @dwk, @dbk] params {M = 8 : i64, N = 8 : i64, K = 4 : i64, trans_a = true, bias_grad = true}
    stk.launch "gemm" [@dq, @wq, @dx] params {M = 4 : i64, N = 8 : i64, K = 8 : i64, trans_b = true, beta = 1.0 : f64}
    stk.launch "gemm" [@x, @dq, @dwq, @dbq] params {M = 8 : i64, N = 8 : i64, K = 4 : i64, trans_a = true, bias_grad = true}
  }
}

// -----

// Refusals: a launch between two members that writes the first's output,
// members of different widths, and weights already in another list in
// another order ([@wk, @wq], recorded before).
// CHECK-LABEL: module attributes {stk.buffer_groups = {{\[\[}}@wk, @wq]]}
// CHECK: "gemm" [@x, @wq, @q]
// CHECK-NEXT: "zero" [@q]
// CHECK-NEXT: "gemm" [@x, @wk, @k]
// CHECK-NEXT: "gemm" [@x, @wn, @n]
// CHECK-NEXT: "gemm" [@x2, @wq, @q3]
// CHECK-NEXT: "gemm" [@x2, @wk, @k3]
// CHECK-NOT: gemm_group
module attributes {stk.buffer_groups = [[@wk, @wq]]} {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @x : tensor<4x8xf32> role "input"
  stk.buffer @x2 : tensor<4x8xf32> role "input"
  stk.buffer @wq : tensor<8x8xf32> role "param"
  stk.buffer @wk : tensor<8x8xf32> role "param"
  stk.buffer @wn : tensor<8x4xf32> role "param"
  stk.buffer @q : tensor<4x8xf32> role "output"
  stk.buffer @k : tensor<4x8xf32> role "output"
  stk.buffer @n : tensor<4x4xf32> role "output"
  stk.buffer @q3 : tensor<4x8xf32> role "output"
  stk.buffer @k3 : tensor<4x8xf32> role "output"
  stk.program @train_step inputs {x = @x, x2 = @x2} outputs {q = @q, k = @k, n = @n, q3 = @q3, k3 = @k3} {
    stk.launch "gemm" [@x, @wq, @q] params {M = 4 : i64, N = 8 : i64, K = 8 : i64}
    stk.launch "zero" [@q] params {count = 32 : i64}
    stk.launch "gemm" [@x, @wk, @k] params {M = 4 : i64, N = 8 : i64, K = 8 : i64}
    stk.launch "gemm" [@x, @wn, @n] params {M = 4 : i64, N = 4 : i64, K = 8 : i64}
    stk.launch "gemm" [@x2, @wq, @q3] params {M = 4 : i64, N = 8 : i64, K = 8 : i64}
    stk.launch "gemm" [@x2, @wk, @k3] params {M = 4 : i64, N = 8 : i64, K = 8 : i64}
  }
}
