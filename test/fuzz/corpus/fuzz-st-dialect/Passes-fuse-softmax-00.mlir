func.func @chain(%q: tensor<1x16x8xf32>, %k: tensor<1x16x8xf32>, %v: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  %s = st.attention_scores %q, %k heads(2) patterns [#st.local<4>, #st.strided<4>] {scale = 0.5 : f64}
         : tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x2x16x16xf32>
  %p = st.masked_softmax %s patterns [#st.local<4>, #st.strided<4>] : tensor<1x2x16x16xf32>
  %o = st.attention_weighted_sum %p, %v : tensor<1x2x16x16xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return %o : tensor<1x16x8xf32>
}
