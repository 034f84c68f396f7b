func.func @f(%x: tensor<1x32x16xf32>) -> tensor<1x32x16xf32> {
  %a = st.attention %x, %x, %x heads(2) patterns [#st.causal]
         : tensor<1x32x16xf32>, tensor<1x32x16xf32>, tensor<1x32x16xf32> -> tensor<1x32x16xf32>
  %b = st.attention %a, %a, %a heads(2) patterns [#st.causal, #st.local<4>]
         : tensor<1x32x16xf32>, tensor<1x32x16xf32>, tensor<1x32x16xf32> -> tensor<1x32x16xf32>
  return %b : tensor<1x32x16xf32>
}
