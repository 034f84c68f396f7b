func.func @f(%q: tensor<1x16x8xf32>) {
  %o = st.attention %q, %q, %q heads(2) patterns [#st.causal] {scale = -1.0 : f64} : tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return
}
