st.model @m {vocab = 256, context = 9223372036854775807, width = 8, heads = 2} { st.block attention [#st.causal] }
