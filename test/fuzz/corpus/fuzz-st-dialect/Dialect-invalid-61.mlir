func.func @f(%x: tensor<2x8xf32>) {
  %y = st.dropout %x {rate = 1.5 : f64} : tensor<2x8xf32>
  return
}
