func.func @f(%x: tensor<1x128x16xf32>) -> tensor<1x128x16xf32> {
  %a = st.attention %x, %x, %x heads(2) patterns [#st.causal]
         : tensor<1x128x16xf32>, tensor<1x128x16xf32>, tensor<1x128x16xf32> -> tensor<1x128x16xf32>
  %b = st.attention %a, %a, %a heads(2) patterns [#st.local<16>]
         : tensor<1x128x16xf32>, tensor<1x128x16xf32>, tensor<1x128x16xf32> -> tensor<1x128x16xf32>
  %c = st.attention %b, %b, %b heads(2) patterns [#st.strided<32>]
         : tensor<1x128x16xf32>, tensor<1x128x16xf32>, tensor<1x128x16xf32> -> tensor<1x128x16xf32>
  %d = st.attention %c, %c, %c heads(2) patterns [#st.fixed<block = 32, summary = 4>]
         : tensor<1x128x16xf32>, tensor<1x128x16xf32>, tensor<1x128x16xf32> -> tensor<1x128x16xf32>
  %e = st.attention %d, %d, %d heads(2) patterns [#st.blocks<16, [0:0, 2:0, 2:2, 5:3]>]
         : tensor<1x128x16xf32>, tensor<1x128x16xf32>, tensor<1x128x16xf32> -> tensor<1x128x16xf32>
  return %e : tensor<1x128x16xf32>
}
