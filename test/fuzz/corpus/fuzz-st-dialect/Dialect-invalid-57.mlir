func.func @f(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) {
  %y = st.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x8xf32>
  return
}
