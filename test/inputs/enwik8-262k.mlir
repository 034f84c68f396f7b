// The enwik8 example (examples/enwik8-fixed.mlir: 30 residual blocks, width
// 512, 8 heads, the fixed pattern with l = 128 and c = 32, bf16) at context
// 262144. The tests check that its artifact stays small and loads quickly:
// layouts are named by pattern and fingerprint, never stored.
st.model @enwik8 {vocab = 256, context = 262144, width = 512, heads = 8,
                  ffn_ratio = 4.0, qk_ratio = 1.0, dropout = 0.4, dtype = bf16,
                  position = #st.position<learned>} {
  st.repeat 30 {
    st.block attention [#st.fixed<block = 128, summary = 32>]
  }
}
