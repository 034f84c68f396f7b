module {
  st.model @a {vocab = 256, context = 16, width = 16, heads = 2} { st.block attention [#st.causal] }
  st.model @b {vocab = 256, context = 16, width = 16, heads = 2} { st.block attention [#st.causal] }
}
