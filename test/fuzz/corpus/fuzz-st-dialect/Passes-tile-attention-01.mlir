func.func @ragged(%x: tensor<1x40x16xf32>) -> tensor<1x40x16xf32> {
  %a = st.attention %x, %x, %x heads(2) patterns [#st.strided<4>]
         : tensor<1x40x16xf32>, tensor<1x40x16xf32>, tensor<1x40x16xf32> -> tensor<1x40x16xf32>
  return %a : tensor<1x40x16xf32>
}
