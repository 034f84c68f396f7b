st.model @m {vocab = 256, context = 16, width = 8, heads = 2} {
  st.repeat 4611686018427387904 { st.repeat 4 { st.block attention [#st.causal] } }
}
