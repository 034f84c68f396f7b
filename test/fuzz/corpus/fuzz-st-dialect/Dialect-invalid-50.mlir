func.func @f(%t: tensor<1x32xi32>, %table: tensor<256x8xf32>, %p: tensor<5x8xf32>, %p2: tensor<6x8xf32>) {
  %x = st.embed %t, %table positions(%p, %p2 : tensor<5x8xf32>, tensor<6x8xf32>) {position = #st.position<attention_aligned stride = 5>} : tensor<1x32xi32>, tensor<256x8xf32> -> tensor<1x32x8xf32>
  return
}
