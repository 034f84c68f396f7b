st.model @m {vocab = 256, context = 16, width = 8, heads = 2, position = #st.position<attention_aligned stride = 0>} { st.block attention [#st.causal] }
