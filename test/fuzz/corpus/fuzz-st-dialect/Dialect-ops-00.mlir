func.func @forward(%tokens: tensor<2x16xi32>, %targets: tensor<2x16xi32>,
                   %table: tensor<256x32xf32>, %pos: tensor<16x32xf32>,
                   %g: tensor<32xf32>, %b: tensor<32xf32>,
                   %wq: tensor<32x16xf32>, %wk: tensor<32x16xf32>,
                   %wv: tensor<32x32xf32>, %bv: tensor<32xf32>,
                   %wout: tensor<32x256xf32>) -> tensor<f32> {
  %x = st.embed %tokens, %table positions(%pos : tensor<16x32xf32>)
         {position = #st.position<learned>}
         : tensor<2x16xi32>, tensor<256x32xf32> -> tensor<2x16x32xf32>
  %h = st.layer_norm %x, %g, %b {epsilon = 1.0e-3 : f64}
         : tensor<2x16x32xf32>, tensor<32xf32>
  %q = st.linear %h, %wq : (tensor<2x16x32xf32>, tensor<32x16xf32>) -> tensor<2x16x16xf32>
  %k = st.linear %h, %wk : (tensor<2x16x32xf32>, tensor<32x16xf32>) -> tensor<2x16x16xf32>
  %v = st.linear %h, %wv, %bv
         : (tensor<2x16x32xf32>, tensor<32x32xf32>, tensor<32xf32>) -> tensor<2x16x32xf32>
  %a = st.attention %q, %k, %v heads(4) patterns [#st.local<4>, #st.strided<4>]
         {scale = 0.25 : f64}
         : tensor<2x16x16xf32>, tensor<2x16x16xf32>, tensor<2x16x32xf32>
         -> tensor<2x16x32xf32>
  %s = st.attention_scores %q, %k heads(4) patterns [#st.fixed<block = 4, summary = 1>]
         : tensor<2x16x16xf32>, tensor<2x16x16xf32> -> tensor<2x4x16x16xf32>
  %p = st.masked_softmax %s patterns [#st.fixed<block = 4, summary = 1>]
         : tensor<2x4x16x16xf32>
  %o = st.attention_weighted_sum %p, %v
         : tensor<2x4x16x16xf32>, tensor<2x16x32xf32> -> tensor<2x16x32xf32>
  %d = st.dropout %o {rate = 0.1 : f64} : tensor<2x16x32xf32>
  %r = st.add %x, %d : tensor<2x16x32xf32>
  %r2 = st.add %r, %a : tensor<2x16x32xf32>
  %u = st.gelu %r2 : tensor<2x16x32xf32>
  %logits = st.linear %u, %wout
              : (tensor<2x16x32xf32>, tensor<32x256xf32>) -> tensor<2x16x256xf32>
  %loss = st.cross_entropy %logits, %targets
            : tensor<2x16x256xf32>, tensor<2x16xi32> -> tensor<f32>
  return %loss : tensor<f32>
}

func.func @data_aligned_embed(%t: tensor<1x24xi32>, %table: tensor<256x8xbf16>,
                              %p0: tensor<4x8xbf16>, %p1: tensor<2x8xbf16>,
                              %p2: tensor<3x8xbf16>) -> tensor<1x24x8xbf16> {
  %x = st.embed %t, %table positions(%p0, %p1, %p2 : tensor<4x8xbf16>, tensor<2x8xbf16>, tensor<3x8xbf16>)
         {position = #st.position<data_aligned dims = [4, 2, 3]>}
         : tensor<1x24xi32>, tensor<256x8xbf16> -> tensor<1x24x8xbf16>
  return %x : tensor<1x24x8xbf16>
}
