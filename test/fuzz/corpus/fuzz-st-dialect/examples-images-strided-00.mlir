st.model @images {vocab = 256, context = 3072, width = 256, heads = 2,
                  ffn_ratio = 2.0, qk_ratio = 0.5, dropout = 0.25, dtype = bf16,
                  position = #st.position<data_aligned dims = [32, 32, 3]>} {
  st.repeat 8 {
    st.block attention [#st.local<96>]
    st.block attention [#st.strided<96>]
  }
}
