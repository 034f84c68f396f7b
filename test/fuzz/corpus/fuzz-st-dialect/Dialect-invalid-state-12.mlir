stk.buffer @a : tensor<4xf32> role "activation"
stk.program @p inputs {} outputs {} {
  stk.launch "add" [@a, @a] params {count = 4 : i64}
}
