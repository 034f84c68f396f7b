st.model @enwik8 {vocab = 256, context = 262144, width = 512, heads = 8,
                  ffn_ratio = 4.0, qk_ratio = 1.0, dropout = 0.4, dtype = bf16,
                  position = #st.position<learned>} {
  st.repeat 30 {
    st.block attention [#st.fixed<block = 128, summary = 32>]
  }
}
