func.func @no_softmax(%p: tensor<1x2x16x16xf32>, %v: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  %o = st.attention_weighted_sum %p, %v : tensor<1x2x16x16xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return %o : tensor<1x16x8xf32>
}
