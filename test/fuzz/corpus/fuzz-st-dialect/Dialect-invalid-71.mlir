func.func @f(%s: tensor<1x2x16x8xf32>) {
  %p = st.masked_softmax %s patterns [#st.causal] : tensor<1x2x16x8xf32>
  return
}
