module {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @p : tensor<64xf32> role "param"
  stk.buffer @a : tensor<64xf32> role "activation"
  stk.buffer @b : tensor<64xf32> role "activation"
  stk.buffer @c : tensor<64xf32> role "activation"
  stk.buffer @d : tensor<64xf32> role "output"
  stk.program @train_step inputs {} outputs {losses = @d} {
    stk.launch "zero" [@a] params {count = 64 : i64}
    stk.launch "add" [@a, @p, @b] params {count = 64 : i64}
    stk.launch "zero" [@c] params {count = 64 : i64}
    stk.launch "add" [@b, @c, @d] params {count = 64 : i64}
  }
}
