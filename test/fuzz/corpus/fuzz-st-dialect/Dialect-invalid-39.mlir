st.model @m {vocab = 256, context = 16, width = 64, heads = 2} {
  %c = arith.constant 1 : index
  st.block attention [#st.causal]
}
