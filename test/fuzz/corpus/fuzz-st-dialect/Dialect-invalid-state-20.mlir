stk.buffer @x : tensor<2x4xf32> role "activation"
stk.buffer @g : tensor<4xf32> role "param"
stk.buffer @s : tensor<2xf32> role "activation"
stk.program @p inputs {} outputs {} {
  stk.launch "layer_norm_fwd" [@x, @g, @g, @x, @s, @s] params {M = 2 : i64, C = 4 : i64, eps = 1.0e-05 : f64}
}
