// The paper's enwik8 model (Child et al. 2019, table 2: 0.99 bits per byte):
// 30 residual blocks, width 512, 8 heads, context 12288, every block using
// the fixed pattern with block l = 128 and summary c = 32 (both heads merged),
// dropout 0.4 on the residual branches, half-precision storage.
st.model @enwik8 {vocab = 256, context = 12288, width = 512, heads = 8,
                  ffn_ratio = 4.0, qk_ratio = 1.0, dropout = 0.4, dtype = bf16,
                  position = #st.position<learned>} {
  st.repeat 30 {
    st.block attention [#st.fixed<block = 128, summary = 32>]
  }
}
