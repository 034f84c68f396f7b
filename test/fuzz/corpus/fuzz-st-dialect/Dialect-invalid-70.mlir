func.func @f(%q: tensor<1x16x8xf32>) {
  %s = st.attention_scores %q, %q heads(2) patterns [#st.causal] : tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x16x16xf32>
  return
}
