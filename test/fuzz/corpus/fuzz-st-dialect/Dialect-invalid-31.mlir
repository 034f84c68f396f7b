st.model @m {vocab = 256, context = 16, width = 64, heads = 2, qk_ratio = 0.3} { st.block attention [#st.causal] }
