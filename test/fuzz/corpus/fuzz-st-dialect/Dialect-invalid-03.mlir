st.model @m {vocab = 256, context = 16, width = 8, heads = 2} { st.block attention [#st.fixed<block = 16, summary = 32>] }
