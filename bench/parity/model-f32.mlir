// The PyTorch parity model (bench/parity): small enough for a float32
// reference with dense masks, and covering every attention path stc
// compiles: local, strided (normalized into a permuted block-diagonal
// attention), fixed (normalized into local plus gathered summaries), and a
// multi-head block (half the heads local, half strided). No dropout: stc's
// dropout masks come from its own hash, which a reference would not share.
st.model @parity {vocab = 256, context = 256, width = 128, heads = 4,
                  ffn_ratio = 4.0, dropout = 0.0, dtype = f32,
                  position = #st.position<learned>} {
  st.block attention [#st.local<32>]
  st.block attention [#st.strided<16>]
  st.block attention [#st.fixed<block = 32, summary = 8>]
  st.block attention [#st.local<16>, #st.strided<16>]
}
