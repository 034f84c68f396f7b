st.parameter @w : tensor<4xi32> init #st.init<zeros>
