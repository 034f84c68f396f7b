st.parameter @w : tensor<4xf32> init #st.init<normal, std = 0.0>
