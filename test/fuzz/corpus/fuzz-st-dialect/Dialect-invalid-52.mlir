func.func @f(%t: tensor<1x32xi32>, %table: tensor<256x8xf32>, %p: tensor<16x8xf32>) {
  %x = st.embed %t, %table positions(%p : tensor<16x8xf32>) {position = #st.position<learned>} : tensor<1x32xi32>, tensor<256x8xf32> -> tensor<1x32x8xf32>
  return
}
