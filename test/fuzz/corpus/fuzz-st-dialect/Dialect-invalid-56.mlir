func.func @f(%x: tensor<8xf32>, %w: tensor<8x4xf32>) {
  %y = st.linear %x, %w : (tensor<8xf32>, tensor<8x4xf32>) -> tensor<4xf32>
  return
}
