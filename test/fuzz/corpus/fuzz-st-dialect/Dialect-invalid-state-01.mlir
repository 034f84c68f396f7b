st.parameter @w : tensor<4xf32> init #st.init<zeros, std = 1.0>
