// RUN: stc-opt %s -split-input-file -stc-fuse-gemm-epilogues | FileCheck %s

// A feed-forward layer's step: the gelu after the first gemm (its argument
// kept for the backward), the gelu gradient after the second layer's input
// gradient, with that layer's weight and bias gradients between (the
// gemm's own output buffer is gone), and both bias gradients beside their
// weight gradients.
// CHECK-LABEL: module attributes {stk.fused_gemm_epilogues = 4 : i64}
// CHECK-NOT: stk.buffer @d :
// CHECK: stk.launch "gemm" [@x, @w1, @h, @b1, @y] params {K = 8 : i64, M = 4 : i64, N = 16 : i64, bias = true, gelu = true, gelu_pre = true}
// CHECK-NEXT: stk.launch "gemm" [@h, @w2, @out, @b2]
// CHECK-NEXT: stk.launch "gemm" [@dout, @w2, @dh, @y] params {K = 8 : i64, M = 4 : i64, N = 16 : i64, dgelu = true, trans_b = true}
// CHECK-NEXT: stk.launch "gemm" [@h, @dout, @dw2, @db2] params {K = 4 : i64, M = 16 : i64, N = 8 : i64, bias_grad = true, trans_a = true}
// CHECK-NEXT: stk.launch "gemm" [@x, @dh, @dw1, @db1] params {K = 4 : i64, M = 8 : i64, N = 16 : i64, bias_grad = true, trans_a = true}
// CHECK-NOT: "gelu_fwd"
// CHECK-NOT: "gelu_bwd"
// CHECK-NOT: "bias_grad"
module {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @x : tensor<4x8xf32> role "input"
  stk.buffer @w1 : tensor<8x16xf32> role "param"
  stk.buffer @b1 : tensor<16xf32> role "param"
  stk.buffer @w2 : tensor<16x8xf32> role "param"
  stk.buffer @b2 : tensor<8xf32> role "param"
  stk.buffer @y : tensor<4x16xf32> role "activation"
  stk.buffer @h : tensor<4x16xf32> role "activation"
  stk.buffer @out : tensor<4x8xf32> role "output"
  stk.buffer @dout : tensor<4x8xf32> role "input"
  stk.buffer @dw2 : tensor<16x8xf32> role "output"
  stk.buffer @db2 : tensor<8xf32> role "output"
  stk.buffer @d : tensor<4x16xf32> role "activation"
  stk.buffer @dh : tensor<4x16xf32> role "activation"
  stk.buffer @dw1 : tensor<8x16xf32> role "output"
  stk.buffer @db1 : tensor<16xf32> role "output"
  stk.program @train_step inputs {x = @x, dout = @dout} outputs {out = @out, dw2 = @dw2, db2 = @db2, dw1 = @dw1, db1 = @db1} {
    stk.launch "gemm" [@x, @w1, @y, @b1] params {M = 4 : i64, N = 16 : i64, K = 8 : i64, bias = true}
    stk.launch "gelu_fwd" [@y, @h] params {count = 64 : i64}
    stk.launch "gemm" [@h, @w2, @out, @b2] params {M = 4 : i64, N = 8 : i64, K = 16 : i64, bias = true}
    stk.launch "gemm" [@dout, @w2, @d] params {M = 4 : i64, N = 16 : i64, K = 8 : i64, trans_b = true}
    stk.launch "gemm" [@h, @dout, @dw2] params {M = 16 : i64, N = 8 : i64, K = 4 : i64, trans_a = true}
    stk.launch "bias_grad" [@dout, @db2] params {M = 4 : i64, N = 8 : i64}
    stk.launch "gelu_bwd" [@y, @d, @dh] params {count = 64 : i64}
    stk.launch "bias_grad" [@dh, @db1] params {M = 4 : i64, N = 16 : i64}
    stk.launch "gemm" [@x, @dh, @dw1] params {M = 8 : i64, N = 16 : i64, K = 4 : i64, trans_a = true}
  }
}

// -----

// The evaluation step's gelu: nothing reads its argument again, so the gemm
// writes the gelu alone and the argument's buffer is gone.
// CHECK-LABEL: module attributes {stk.fused_gemm_epilogues = 1 : i64}
// CHECK-NOT: stk.buffer @y :
// CHECK: stk.launch "gemm" [@x, @w1, @h, @b1] params {K = 8 : i64, M = 4 : i64, N = 16 : i64, bias = true, gelu = true}
module {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @x : tensor<4x8xf32> role "input"
  stk.buffer @w1 : tensor<8x16xf32> role "param"
  stk.buffer @b1 : tensor<16xf32> role "param"
  stk.buffer @y : tensor<4x16xf32> role "activation"
  stk.buffer @h : tensor<4x16xf32> role "output"
  stk.program @eval_step inputs {x = @x} outputs {h = @h} {
    stk.launch "gemm" [@x, @w1, @y, @b1] params {M = 4 : i64, N = 16 : i64, K = 8 : i64, bias = true}
    stk.launch "gelu_fwd" [@y, @h] params {count = 64 : i64}
  }
}

// -----

// Refusals: a gemm that accumulates (beta 1) before a gelu, a gelu of
// another tensor, a launch between a gemm and its gelu gradient that
// writes the gemm's output, an
// accumulating gelu gradient, a bias gradient of another tensor, and one
// of a gemm whose B is transposed.
// CHECK-LABEL: module {
// CHECK: "gemm" [@x, @w1, @y] params {K = 8 : i64, M = 4 : i64, N = 16 : i64, beta = 1.000000e+00 : f64}
// CHECK-NEXT: "gelu_fwd" [@y, @h]
// CHECK-NEXT: "gemm" [@x, @w1, @y2]
// CHECK-NEXT: "gelu_fwd" [@y, @h]
// CHECK-NEXT: "gemm" [@dout, @w2, @d]
// CHECK-NEXT: "zero" [@d]
// CHECK-NEXT: "gelu_bwd" [@y, @d, @dh]
// CHECK-NEXT: "gemm" [@dout, @w2, @d]
// CHECK-NEXT: "gelu_bwd" [@y, @d, @dh] params {accumulate = true, count = 64 : i64}
// CHECK-NEXT: "gemm" [@h, @dout, @dw2]
// CHECK-NEXT: "bias_grad" [@d2, @db2]
// CHECK-NEXT: "gemm" [@h, @w3, @dw2] params {K = 4 : i64, M = 16 : i64, N = 8 : i64, trans_a = true, trans_b = true}
// CHECK-NEXT: "bias_grad" [@w3, @db2]
module {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @x : tensor<4x8xf32> role "input"
  stk.buffer @w1 : tensor<8x16xf32> role "param"
  stk.buffer @w2 : tensor<16x8xf32> role "param"
  stk.buffer @w3 : tensor<8x4xf32> role "param"
  stk.buffer @y : tensor<4x16xf32> role "activation"
  stk.buffer @y2 : tensor<4x16xf32> role "activation"
  stk.buffer @h : tensor<4x16xf32> role "activation"
  stk.buffer @dout : tensor<4x8xf32> role "input"
  stk.buffer @d2 : tensor<4x8xf32> role "input"
  stk.buffer @d : tensor<4x16xf32> role "activation"
  stk.buffer @dh : tensor<4x16xf32> role "output"
  stk.buffer @dw2 : tensor<16x8xf32> role "output"
  stk.buffer @db2 : tensor<8xf32> role "output"
  stk.program @train_step inputs {x = @x, dout = @dout, d2 = @d2} outputs {h = @h, dh = @dh, dw2 = @dw2, db2 = @db2} {
    stk.launch "gemm" [@x, @w1, @y] params {M = 4 : i64, N = 16 : i64, K = 8 : i64, beta = 1.0 : f64}
    stk.launch "gelu_fwd" [@y, @h] params {count = 64 : i64}
    stk.launch "gemm" [@x, @w1, @y2] params {M = 4 : i64, N = 16 : i64, K = 8 : i64}
    stk.launch "gelu_fwd" [@y, @h] params {count = 64 : i64}
    stk.launch "gemm" [@dout, @w2, @d] params {M = 4 : i64, N = 16 : i64, K = 8 : i64, trans_b = true}
    stk.launch "zero" [@d] params {count = 64 : i64}
    stk.launch "gelu_bwd" [@y, @d, @dh] params {count = 64 : i64}
    stk.launch "gemm" [@dout, @w2, @d] params {M = 4 : i64, N = 16 : i64, K = 8 : i64, trans_b = true}
    stk.launch "gelu_bwd" [@y, @d, @dh] params {count = 64 : i64, accumulate = true}
    stk.launch "gemm" [@h, @dout, @dw2] params {M = 16 : i64, N = 8 : i64, K = 4 : i64, trans_a = true}
    stk.launch "bias_grad" [@d2, @db2] params {M = 4 : i64, N = 8 : i64}
    stk.launch "gemm" [@h, @w3, @dw2] params {M = 16 : i64, N = 8 : i64, K = 4 : i64, trans_a = true, trans_b = true}
    stk.launch "bias_grad" [@w3, @db2] params {M = 4 : i64, N = 8 : i64}
  }
}
