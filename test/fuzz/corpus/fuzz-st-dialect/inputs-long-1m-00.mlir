st.model @long1m {vocab = 256, context = 1048576, width = 32, heads = 2,
                  position = #st.position<attention_aligned stride = 1024>} {
  st.block attention [#st.local<1024>, #st.strided<1024>]
}
