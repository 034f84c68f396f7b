func.func @f(%q: tensor<1x16x8xf32>, %v: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  %s = st.attention_scores %q, %q heads(2) patterns [#st.causal] : tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x2x16x16xf32>
  %c = st.score_mod #st.softcap<30.0> (%s) : tensor<1x2x16x16xf32>
  %p = st.masked_softmax %c patterns [#st.causal] : tensor<1x2x16x16xf32>
  %o = st.attention_weighted_sum %p, %v : tensor<1x2x16x16xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return %o : tensor<1x16x8xf32>
}
