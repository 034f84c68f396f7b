st.model @m {vocab = 256, context = 16, width = 64, heads = 2, ffn_ratio = 0.0} { st.block attention [#st.causal] }
