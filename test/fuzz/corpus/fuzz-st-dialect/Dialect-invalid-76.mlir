func.func @f(%l: tensor<2x16x256xf32>, %t: tensor<2x8xi32>) {
  %loss = st.cross_entropy %l, %t : tensor<2x16x256xf32>, tensor<2x8xi32> -> tensor<f32>
  return
}
