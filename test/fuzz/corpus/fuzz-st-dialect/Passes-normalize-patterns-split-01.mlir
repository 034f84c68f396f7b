// Tests that a fixed pattern is not split when other head groups differ
// (the gathered summaries are shared by every head), nor within one fixed
// block (nothing to gather: n = 16).
// CHECK-LABEL: func.func @nosplit
// CHECK-NOT: st.gather_summaries
// CHECK: st.attention {{.*}} patterns [#st.fixed<block = 16, summary = 4>, #st.local<4>]
// CHECK: st.attention {{.*}} patterns [#st.fixed<block = 16, summary = 4>]
func.func @nosplit(%x: tensor<1x64x32xf32>, %y: tensor<1x16x32xf32>) -> (tensor<1x64x32xf32>, tensor<1x16x32xf32>) {
  %a = st.attention %x, %x, %x heads(2) patterns [#st.fixed<block = 16, summary = 4>, #st.local<4>]
         : tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32> -> tensor<1x64x32xf32>
  %b = st.attention %y, %y, %y heads(2) patterns [#st.fixed<block = 16, summary = 4>]
         : tensor<1x16x32xf32>, tensor<1x16x32xf32>, tensor<1x16x32xf32> -> tensor<1x16x32xf32>
  return %a, %b : tensor<1x64x32xf32>, tensor<1x16x32xf32>
}
