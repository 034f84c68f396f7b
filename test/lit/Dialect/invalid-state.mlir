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
  // expected-error @+1 {{expects a gradient of @w ('tensor<4xf32>') in its element type or f32, got 'tensor<8xf32>'}}
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

// expected-error @+1 {{type must be a static tensor of f32, bf16, f16 or i32 (the artifact's dtypes), got 'tensor<4xi8>'}}
stk.buffer @b : tensor<4xi8> role "param"

// -----

// Tests that f64 is not an artifact dtype.
// expected-error @+1 {{type must be a static tensor of f32, bf16, f16 or i32 (the artifact's dtypes), got 'tensor<4xf64>'}}
stk.buffer @b : tensor<4xf64> role "param"

// -----

stk.buffer @a : tensor<4xf32> role "activation"
stk.program @p inputs {} outputs {} {
  // expected-error @+1 {{unknown op kind 'softmax'; valid: zero, embed_fwd}}
  stk.launch "softmax" [@a] params {}
}

// -----

stk.buffer @a : tensor<4xf32> role "activation"
stk.program @p inputs {} outputs {} {
  // expected-error @+1 {{'add': args: has 2 arguments; expected 3 (a, b, out)}}
  stk.launch "add" [@a, @a] params {count = 4 : i64}
}

// -----

// Tests that attributes are checked against abi/Ops.def at compile time:
// missing, unknown, ill-typed, out of range, and rules across attributes.
stk.buffer @a : tensor<4xf32> role "activation"
stk.program @p inputs {} outputs {} {
  // expected-error @+1 {{'gemm': attrs.M: missing required attribute}}
  stk.launch "gemm" [@a, @a] params {}
}

// -----

stk.buffer @a : tensor<4xf32> role "activation"
stk.program @p inputs {} outputs {} {
  // expected-error @+1 {{'add': attrs.lda: unknown attribute 'lda' (valid: count)}}
  stk.launch "add" [@a, @a, @a] params {count = 4 : i64, lda = 3 : i64}
}

// -----

stk.buffer @a : tensor<4xf32> role "activation"
stk.program @p inputs {} outputs {} {
  // expected-error @+1 {{'dropout_fwd': attrs.rate: is 1.5; valid: 0 <= rate < 1}}
  stk.launch "dropout_fwd" [@a, @a] params {count = 4 : i64, rate = 1.5 : f64, salt = 0 : i64}
}

// -----

stk.buffer @a : tensor<4xf32> role "activation"
stk.program @p inputs {} outputs {} {
  // expected-error @+1 {{'add': attrs.count: must be an integer, got "four"}}
  stk.launch "add" [@a, @a, @a] params {count = "four"}
}

// -----

stk.buffer @q : tensor<1x8x2x16xf32> role "activation"
stk.buffer @lse : tensor<1x2x8xf32> role "activation"
stk.program @p inputs {} outputs {} {
  // expected-error @+1 {{'attention_fwd': attrs.H: is 2 but layouts (1) x heads_per_layout (1) = 1 (they must be equal)}}
  stk.launch "attention_fwd" [@q, @q, @q, @q, @lse] params {B = 1 : i64, T = 8 : i64, H = 2 : i64, dk = 16 : i64, dv = 16 : i64, scale = 0.25 : f64, layouts = ["l"], heads_per_layout = 1 : i64}
}

// -----

// Tests that buffers are checked against the signature: dtypes and element
// counts, and that only elementwise ops write in place.
stk.buffer @q : tensor<1x8x2x16xf32> role "activation"
stk.buffer @lse : tensor<1x2x8xbf16> role "activation"
stk.program @p inputs {} outputs {} {
  // expected-error @+1 {{'attention_fwd': arg 4 (lse): buffer 'lse' has dtype bf16; expected f32}}
  stk.launch "attention_fwd" [@q, @q, @q, @q, @lse] params {B = 1 : i64, T = 8 : i64, H = 2 : i64, dk = 16 : i64, dv = 16 : i64, scale = 0.25 : f64, layouts = ["l"], heads_per_layout = 2 : i64}
}

// -----

stk.buffer @a : tensor<4xf32> role "activation"
stk.buffer @b : tensor<5xf32> role "activation"
stk.program @p inputs {} outputs {} {
  // expected-error @+1 {{'add': arg 1 (b): buffer 'b' has 5 elements; expected count = 4}}
  stk.launch "add" [@a, @b, @a] params {count = 4 : i64}
}

// -----

stk.buffer @x : tensor<2x4xf32> role "activation"
stk.buffer @g : tensor<4xf32> role "param"
stk.buffer @s : tensor<2xf32> role "activation"
stk.program @p inputs {} outputs {} {
  // expected-error @+1 {{'layer_norm_fwd': args: buffer 'x' is passed as both x and y; an output may share a buffer with an input only in elementwise ops}}
  stk.launch "layer_norm_fwd" [@x, @g, @g, @x, @s, @s] params {M = 2 : i64, C = 4 : i64, eps = 1.0e-05 : f64}
}

// -----

stk.buffer @a : tensor<4xf32> role "activation"
stk.program @p inputs {} outputs {} {
  // expected-error @+1 {{argument 0 (@missing) is not an stk.buffer}}
  stk.launch "zero" [@missing] params {count = 4 : i64}
}

// -----

// The sampling step decodes one position of each of its sequences: a cache
// holds every sequence's keys over the context.
st.kv_cache @k0 : tensor<2x16x8xf32>
st.kv_cache @v0 : tensor<3x16x8xf32>
func.func @f(%q: tensor<2x1x8xf32>) -> tensor<2x1x8xf32> {
  // expected-error @+1 {{vcache @v0 must be [2, context, 8] of 'f32', got 'tensor<3x16x8xf32>'}}
  %o = st.decode_attention %q, %q, %q caches(@k0, @v0) heads(2) patterns [#st.local<4>] : tensor<2x1x8xf32>, tensor<2x1x8xf32>, tensor<2x1x8xf32>
  return %o : tensor<2x1x8xf32>
}

// -----

st.kv_cache @k0 : tensor<2x16x8xf32>
st.kv_cache @v0 : tensor<2x16x8xf32>
func.func @f(%q: tensor<2x3x8xf32>) -> tensor<2x3x8xf32> {
  // expected-error @+1 {{decodes one position of each sequence, so q must be [sequences, 1, Dqk], got tensor<2x3x8xf32>}}
  %o = st.decode_attention %q, %q, %q caches(@k0, @v0) heads(2) patterns [#st.local<4>] : tensor<2x3x8xf32>, tensor<2x3x8xf32>, tensor<2x3x8xf32>
  return %o : tensor<2x3x8xf32>
}

// -----

func.func @f(%t: tensor<2x4xi32>, %table: tensor<256x8xf32>) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{decodes one position of each sequence, so tokens must be [sequences, 1], got tensor<2x4xi32>}}
  %x = st.embed %t, %table {decode, position = #st.position<none>} : tensor<2x4xi32>, tensor<256x8xf32> -> tensor<2x4x8xf32>
  return %x : tensor<2x4x8xf32>
}

// -----

// An f32 gradient is valid for a bf16 parameter.
st.parameter @w : tensor<4xbf16> init #st.init<zeros>
func.func @f(%g: tensor<4xf32>, %n: tensor<f32>) {
  st.adamw @w, %g, %n {beta1 = 0.9 : f64, beta2 = 0.95 : f64, eps = 1.0e-8 : f64, weight_decay = 0.0 : f64, clip = 1.0 : f64} : tensor<4xf32>, tensor<f32>
  return
}
