func.func @f(%l: tensor<256xf32>, %t: tensor<i32>) {
  %loss = st.cross_entropy %l, %t : tensor<256xf32>, tensor<i32> -> tensor<f32>
  return
}
