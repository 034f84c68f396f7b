func.func @f(%q: tensor<16x8xf32>) {
  %o = st.attention %q, %q, %q heads(2) patterns [#st.causal] : tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32> -> tensor<16x8xf32>
  return
}
