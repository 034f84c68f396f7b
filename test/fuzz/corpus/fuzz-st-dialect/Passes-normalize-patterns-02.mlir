// Tests what is left as written: a stride that does not divide the sequence
// (7 of 64), a union holding a strided pattern, local and fixed patterns,
// and a stride whose permuted form computes no fewer blocks (strided(2) at
// n = 16: one block either way).
// CHECK-LABEL: func.func @kept
// CHECK-NOT: st.stride_permute
// CHECK: st.attention {{.*}} patterns [#st.strided<7>, #st.union<[#st.local<4>, #st.strided<4>]>]
// CHECK: st.attention {{.*}} patterns [#st.local<8>, #st.fixed<block = 16, summary = 4>]
// CHECK: st.attention {{.*}} patterns [#st.strided<2>]
// CHECK: return
func.func @kept(%x: tensor<1x64x32xf32>, %y: tensor<1x16x32xf32>) -> (tensor<1x64x32xf32>, tensor<1x16x32xf32>) {
  %a = st.attention %x, %x, %x heads(2) patterns [#st.strided<7>, #st.union<[#st.local<4>, #st.strided<4>]>]
         : tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32> -> tensor<1x64x32xf32>
  %b = st.attention %a, %a, %a heads(2) patterns [#st.local<8>, #st.fixed<block = 16, summary = 4>]
         : tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32> -> tensor<1x64x32xf32>
  %c = st.attention %y, %y, %y heads(2) patterns [#st.strided<2>]
         : tensor<1x16x32xf32>, tensor<1x16x32xf32>, tensor<1x16x32xf32> -> tensor<1x16x32xf32>
  return %b, %c : tensor<1x64x32xf32>, tensor<1x16x32xf32>
}
