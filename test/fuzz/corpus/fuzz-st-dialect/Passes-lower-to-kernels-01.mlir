st.model @half {vocab = 256, context = 32, width = 16, heads = 2, dtype = bf16} {
  st.block attention [#st.causal]
}
