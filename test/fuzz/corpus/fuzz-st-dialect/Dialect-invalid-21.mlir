st.model @m {vocab = 256, context = 16, width = 8} { st.block attention [#st.causal] }
