stk.buffer @a : tensor<4xf32> role "activation"
stk.program @p inputs {} outputs {} {
  stk.launch "gemm" [@a, @a] params {}
}
