st.model @m {vocab = 256, context = 16, width = 64, heads = 2, position = #st.position<attention_aligned stride = 5>} { st.block attention [#st.causal] }
