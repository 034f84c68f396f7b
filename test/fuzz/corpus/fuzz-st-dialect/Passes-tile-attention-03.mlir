func.func @beyond(%x: tensor<1x32x16xf32>) -> tensor<1x32x16xf32> {
  %a = st.attention %x, %x, %x heads(2) patterns [#st.blocks<16, [0:0, 1:1, 2:2]>]
         : tensor<1x32x16xf32>, tensor<1x32x16xf32>, tensor<1x32x16xf32> -> tensor<1x32x16xf32>
  return %a : tensor<1x32x16xf32>
}
