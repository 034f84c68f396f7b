st.model @multi_head {vocab = 256, context = 64, width = 16, heads = 2} {
  st.repeat 2 {
    st.block attention [#st.local<8>, #st.strided<8>]
  }
}
