st.model @m {vocab = 256, context = 16, width = 64, heads = 2} {
  st.block attention [#st.local<4>, #st.strided<4>, #st.causal]
}
