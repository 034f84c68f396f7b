st.model @m {vocab = 256, context = 32, width = 16, heads = 4} {
  st.block attention [#st.local<4>]
}
