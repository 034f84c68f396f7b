// One merged head union(local(16), strided(16)) at context 128
// (normalize-patterns-union.mlir).
st.model @union {vocab = 256, context = 128, width = 16, heads = 2} {
  st.block attention [#st.union<[#st.local<16>, #st.strided<16>]>]
}
