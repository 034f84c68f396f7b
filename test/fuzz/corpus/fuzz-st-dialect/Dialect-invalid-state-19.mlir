stk.buffer @a : tensor<4xf32> role "activation"
stk.buffer @b : tensor<5xf32> role "activation"
stk.program @p inputs {} outputs {} {
  stk.launch "add" [@a, @b, @a] params {count = 4 : i64}
}
