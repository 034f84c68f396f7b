st.model @audio {vocab = 256, context = 65536, width = 512, heads = 8,
                 ffn_ratio = 4.0, qk_ratio = 0.5, dropout = 0.0, dtype = bf16,
                 position = #st.position<attention_aligned stride = 256>} {
  st.repeat 24 {
    st.block attention [#st.local<256>, #st.strided<256>]
  }
}
