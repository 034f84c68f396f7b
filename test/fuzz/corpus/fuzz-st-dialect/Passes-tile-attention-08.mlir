func.func @short(%x: tensor<1x8x16xf32>) -> tensor<1x8x16xf32> {
  %a = st.attention %x, %x, %x heads(2) patterns [#st.causal]
         : tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32> -> tensor<1x8x16xf32>
  return %a : tensor<1x8x16xf32>
}
