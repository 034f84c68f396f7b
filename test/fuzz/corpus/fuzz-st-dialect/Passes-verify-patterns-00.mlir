st.model @strided_interleaved {vocab = 256, context = 64, width = 16, heads = 2} {
  st.block attention [#st.local<8>]
  st.block attention [#st.strided<8>]
}
