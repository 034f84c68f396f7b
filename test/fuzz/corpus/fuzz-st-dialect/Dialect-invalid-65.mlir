func.func @f(%q: tensor<1x16x8xf32>, %v: tensor<1x8x8xf32>) {
  %o = st.attention %q, %q, %v heads(2) patterns [#st.causal] : tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x8x8xf32> -> tensor<1x8x8xf32>
  return
}
