stk.buffer @b : tensor<4xf16> role "param"
