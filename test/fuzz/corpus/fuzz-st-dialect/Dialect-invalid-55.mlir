func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  %y = st.layer_norm %x, %g, %g {epsilon = 0.0 : f64} : tensor<2x8xf32>, tensor<8xf32>
  return
}
