stk.buffer @a : tensor<4xf32> role "activation"
stk.program @p inputs {} outputs {} {
  stk.launch "dropout_fwd" [@a, @a] params {count = 4 : i64, rate = 1.5 : f64, salt = 0 : i64}
}
