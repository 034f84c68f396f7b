stk.buffer @b : tensor<4xf32> role "weights"
