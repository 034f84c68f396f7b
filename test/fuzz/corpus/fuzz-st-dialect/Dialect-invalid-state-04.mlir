st.parameter @w : tensor<4xf32> init #st.init<zeros>
func.func @f() -> tensor<8xf32> {
  %w = st.load @w : tensor<8xf32>
  return %w : tensor<8xf32>
}
