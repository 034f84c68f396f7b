func.func @f(%q: tensor<1x16x8xf32>) {
  %o = st.attention %q, %q, %q heads(2) patterns [#st.causal] : tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x16x4xf32>
  return
}
