stk.buffer @b : tensor<4xf32> role "param" offset 100
