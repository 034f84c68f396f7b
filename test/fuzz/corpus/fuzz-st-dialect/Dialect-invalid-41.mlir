st.model @m {vocab = 256, context = 16, width = 64, heads = 2} {
  st.repeat 0 {
    st.block attention [#st.causal]
  }
}
