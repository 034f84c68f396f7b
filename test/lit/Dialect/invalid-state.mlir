// RUN: stc-opt %s -split-input-file -verify-diagnostics

// Tests the verifiers of the ops the passes build: parameters, loads, AdamW,
// initialisations, and the stk kernel program.

// expected-error @+1 {{#st.init<normal> needs std > 0 (got 0.000000e+00)}}
st.parameter @w : tensor<4xf32> init #st.init<normal, std = 0.0>

// -----

// expected-error @+1 {{#st.init<zeros> takes no std}}
st.parameter @w : tensor<4xf32> init #st.init<zeros, std = 1.0>

// -----

// expected-error @+1 {{unknown init 'uniform'; valid: normal, zeros, ones}}
st.parameter @w : tensor<4xf32> init #st.init<uniform>

// -----

// expected-error @+1 {{type must be a statically shaped float tensor, got 'tensor<4xi32>'}}
st.parameter @w : tensor<4xi32> init #st.init<zeros>

// -----

st.parameter @w : tensor<4xf32> init #st.init<zeros>
func.func @f() -> tensor<8xf32> {
  // expected-error @+1 {{expects 'tensor<8xf32>' but @w is 'tensor<4xf32>'}}
  %w = st.load @w : tensor<8xf32>
  return %w : tensor<8xf32>
}

// -----

func.func @f() -> tensor<4xf32> {
  // expected-error @+1 {{refers to @nothing, which is not an st.parameter}}
  %w = st.load @nothing : tensor<4xf32>
  return %w : tensor<4xf32>
}

// -----

st.parameter @w : tensor<4xf32> init #st.init<zeros>
func.func @f(%g: tensor<8xf32>, %n: tensor<f32>) {
  // expected-error @+1 {{expects 'tensor<8xf32>' but @w is 'tensor<4xf32>'}}
  st.adamw @w, %g, %n {beta1 = 0.9 : f64, beta2 = 0.95 : f64, eps = 1.0e-8 : f64, weight_decay = 0.0 : f64, clip = 1.0 : f64} : tensor<8xf32>, tensor<f32>
  return
}

// -----

// expected-error @+1 {{unknown role 'weights'; valid: param, grad, moment, activation, input, output, scalars, cache}}
stk.buffer @b : tensor<4xf32> role "weights"

// -----

// expected-error @+1 {{offset 100 must be a non-negative multiple of 256}}
stk.buffer @b : tensor<4xf32> role "param" offset 100

// -----

// expected-error @+1 {{type must be a static tensor of f32, bf16, f16 or i32, got 'tensor<4xi8>'}}
stk.buffer @b : tensor<4xi8> role "param"

// -----

stk.buffer @a : tensor<4xf32> role "activation"
stk.program @p inputs {} outputs {} {
  // expected-error @+1 {{unknown op kind 'softmax'; valid: zero, embed_fwd}}
  stk.launch "softmax" [@a] params {}
}

// -----

stk.buffer @a : tensor<4xf32> role "activation"
stk.program @p inputs {} outputs {} {
  // expected-error @+1 {{'add' takes 3 buffers, got 2}}
  stk.launch "add" [@a, @a] params {count = 4 : i64}
}

// -----

stk.buffer @a : tensor<4xf32> role "activation"
stk.program @p inputs {} outputs {} {
  // expected-error @+1 {{'gemm' takes 3 buffers (A, B, C) or 4 (with bias), got 2}}
  stk.launch "gemm" [@a, @a] params {}
}

// -----

stk.buffer @a : tensor<4xf32> role "activation"
stk.program @p inputs {} outputs {} {
  // expected-error @+1 {{argument @missing is not an stk.buffer}}
  stk.launch "zero" [@missing] params {count = 4 : i64}
}
