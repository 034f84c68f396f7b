st.model @m {vocab = 256, context = 16, width = 8, heads = 2, position = #st.position<sinusoidal>} { st.block attention [#st.causal] }
