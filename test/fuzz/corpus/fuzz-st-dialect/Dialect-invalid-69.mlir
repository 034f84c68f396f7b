func.func @f(%q: tensor<1x16x8xf32>) {
  %o = st.attention %q, %q, %q heads(2) patterns [#st.causal, #st.local<2>, #st.local<3>, #st.local<4>] : tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return
}
