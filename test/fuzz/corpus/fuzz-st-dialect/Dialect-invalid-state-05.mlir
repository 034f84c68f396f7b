func.func @f() -> tensor<4xf32> {
  %w = st.load @nothing : tensor<4xf32>
  return %w : tensor<4xf32>
}
