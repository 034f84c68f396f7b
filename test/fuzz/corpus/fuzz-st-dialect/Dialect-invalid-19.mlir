st.model @m {vocab = 256, context = 16, width = 8, heads = 2, layers = 3} { st.block attention [#st.causal] }
