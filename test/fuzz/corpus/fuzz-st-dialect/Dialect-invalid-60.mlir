func.func @f(%x: tensor<2x8xf32>, %w: tensor<8x4xbf16>) {
  %y = st.linear %x, %w : (tensor<2x8xf32>, tensor<8x4xbf16>) -> tensor<2x4xf32>
  return
}
