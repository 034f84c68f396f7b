stk.buffer @b : tensor<4xi8> role "param"
