st.model @m {vocab = 256, context = 32, width = 16, heads = 2} {
  st.block attention [#st.local<4>]
}
