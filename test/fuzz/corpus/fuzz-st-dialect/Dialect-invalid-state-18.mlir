stk.buffer @q : tensor<1x8x2x16xf32> role "activation"
stk.buffer @lse : tensor<1x2x8xbf16> role "activation"
stk.program @p inputs {} outputs {} {
  stk.launch "attention_fwd" [@q, @q, @q, @q, @lse] params {B = 1 : i64, T = 8 : i64, H = 2 : i64, dk = 16 : i64, dv = 16 : i64, scale = 0.25 : f64, layouts = ["l"], heads_per_layout = 2 : i64}
}
