// One fixed(16, 4) block at context 64 (normalize-patterns-split.mlir).
st.model @fixed {vocab = 256, context = 64, width = 16, heads = 2} {
  st.block attention [#st.fixed<block = 16, summary = 4>]
}
