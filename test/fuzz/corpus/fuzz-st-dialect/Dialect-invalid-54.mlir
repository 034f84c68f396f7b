func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xbf16>) {
  %y = st.layer_norm %x, %g, %g : tensor<2x8xf32>, tensor<8xbf16>
  return
}
