st.model @aligned {vocab = 256, context = 32, width = 16, heads = 2,
                   position = #st.position<attention_aligned stride = 8>} {
  st.block attention [#st.causal]
}
