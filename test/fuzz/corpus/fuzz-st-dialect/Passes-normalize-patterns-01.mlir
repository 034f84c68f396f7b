// Tests that adjacent strided groups with the same stride share one
// permutation, and that groups of different strides get one each.
// CHECK-LABEL: func.func @groups
// CHECK: st.stride_permute %{{.*}} stride(4) heads(0 to 4 of 4)
// CHECK: st.attention {{.*}} patterns [#st.fixed<block = 16, summary = 0>, #st.fixed<block = 16, summary = 0>]
// CHECK-LABEL: func.func @strides
// CHECK: %[[A:.*]] = st.stride_permute %{{.*}} stride(4) heads(0 to 1 of 2)
// CHECK: st.stride_permute %[[A]] stride(8) heads(1 to 2 of 2)
// CHECK: st.attention {{.*}} patterns [#st.fixed<block = 16, summary = 0>, #st.fixed<block = 8, summary = 0>]
func.func @groups(%x: tensor<1x64x32xf32>) -> tensor<1x64x32xf32> {
  %o = st.attention %x, %x, %x heads(4) patterns [#st.strided<4>, #st.strided<4>]
         : tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32> -> tensor<1x64x32xf32>
  return %o : tensor<1x64x32xf32>
}
func.func @strides(%x: tensor<1x64x32xf32>) -> tensor<1x64x32xf32> {
  %o = st.attention %x, %x, %x heads(2) patterns [#st.strided<4>, #st.strided<8>]
         : tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32> -> tensor<1x64x32xf32>
  return %o : tensor<1x64x32xf32>
}
