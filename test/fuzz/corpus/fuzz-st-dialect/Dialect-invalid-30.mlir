st.model @m {vocab = 256, context = 16, width = 64, heads = 3} { st.block attention [#st.causal] }
