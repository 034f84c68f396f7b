func.func @f(%q: tensor<1x16x8xf32>, %v: tensor<1x16x6xf32>) {
  %o = st.attention %q, %q, %v heads(4) patterns [#st.causal] : tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x6xf32> -> tensor<1x16x6xf32>
  return
}
