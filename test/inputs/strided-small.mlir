// A small f32 model whose strided heads stc-normalize-patterns rewrites:
// strided(8) beside local(8) in one block (a permutation of half the
// heads), strided(16) on every head (all heads permuted), and strided(6),
// which does not divide the context and stays as written. The end-to-end
// tests compile it with and without normalization and compare the two
// programs' losses and trained parameters in fp64.
st.model @strided_small {vocab = 256, context = 64, width = 32, heads = 4,
                         ffn_ratio = 2.0, qk_ratio = 1.0, dropout = 0.1,
                         dtype = f32, position = #st.position<learned>} {
  st.block attention [#st.local<8>, #st.strided<8>]
  st.block attention [#st.strided<16>]
  st.block attention [#st.union<[#st.local<6>, #st.strided<6>]>]
}
