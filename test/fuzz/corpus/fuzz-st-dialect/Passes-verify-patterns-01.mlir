st.model @fixed {vocab = 256, context = 128, width = 16, heads = 2} {
  st.repeat 3 {
    st.block attention [#st.fixed<block = 16, summary = 4>]
  }
}
