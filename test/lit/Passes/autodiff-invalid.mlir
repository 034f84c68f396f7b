// RUN: stc-opt %s -split-input-file -stc-autodiff -verify-diagnostics

// Tests that ops without a gradient are named, with the ones that have one
// (a backward op written into a forward has none).
func.func @forward(%t: tensor<1x8xi32>, %q: tensor<1x8x8xf32>, %logits: tensor<1x8x256xf32>) -> tensor<f32> {
  // expected-error @+1 {{'st.gelu_grad' op has no gradient in stc-autodiff; differentiable ops: st.embed, st.layer_norm, st.linear, st.gelu, st.add, st.dropout, st.stride_permute, st.gather_summaries, st.scatter_summaries, st.attention, st.attention_split, st.attention_scores, st.score_mod, st.masked_softmax, st.attention_weighted_sum, st.cross_entropy}}
  %o = st.gelu_grad %q, %q : tensor<1x8x8xf32>
  %w = arith.constant dense<1.0> : tensor<8x256xf32>
  %l = st.linear %o, %w : (tensor<1x8x8xf32>, tensor<8x256xf32>) -> tensor<1x8x256xf32>
  %loss = st.cross_entropy %l, %t : tensor<1x8x256xf32>, tensor<1x8xi32> -> tensor<f32>
  return %loss : tensor<f32>
}

// -----

// Tests that the differentiated function must end in a loss.
// expected-error @+1 {{must return the result of st.cross_entropy (the loss to differentiate)}}
func.func @forward(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
