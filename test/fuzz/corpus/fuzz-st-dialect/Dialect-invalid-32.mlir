st.model @m {vocab = 256, context = 16, width = 64, heads = 16, qk_ratio = 0.125} { st.block attention [#st.causal] }
