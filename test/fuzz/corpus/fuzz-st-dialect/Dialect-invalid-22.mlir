st.model @m {vocab = 1, context = 16, width = 8, heads = 2} { st.block attention [#st.causal] }
