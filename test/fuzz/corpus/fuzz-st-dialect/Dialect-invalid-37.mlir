st.model @m {vocab = 256, context = 16, width = 64, heads = 2, position = #st.position<data_aligned dims = [4, 3]>} { st.block attention [#st.causal] }
