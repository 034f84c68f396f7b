func.func @f(%t: tensor<32xi32>, %table: tensor<256x8xf32>) {
  %x = st.embed %t, %table {position = #st.position<none>} : tensor<32xi32>, tensor<256x8xf32> -> tensor<1x32x8xf32>
  return
}
