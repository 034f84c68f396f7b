func.func @two_layers(%x: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  %a = st.attention %x, %x, %x heads(2) patterns [#st.local<4>]
         : tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  %b = st.attention %a, %a, %a heads(2) patterns [#st.strided<4>]
         : tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return %b : tensor<1x16x8xf32>
}
