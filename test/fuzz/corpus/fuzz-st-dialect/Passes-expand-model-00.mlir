st.model @m {vocab = 256, context = 32, width = 16, heads = 2, qk_ratio = 0.5,
             ffn_ratio = 2.0, dropout = 0.125} {
  st.block attention [#st.local<4>, #st.strided<4>]
}
