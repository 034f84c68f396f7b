st.parameter @w : tensor<4xf32> init #st.init<zeros>
func.func @f(%g: tensor<8xf32>, %n: tensor<f32>) {
  st.adamw @w, %g, %n {beta1 = 0.9 : f64, beta2 = 0.95 : f64, eps = 1.0e-8 : f64, weight_decay = 0.0 : f64, clip = 1.0 : f64} : tensor<8xf32>, tensor<f32>
  return
}
