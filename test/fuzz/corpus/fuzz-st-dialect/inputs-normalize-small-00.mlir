// A small f32 model whose attention stc-normalize-patterns rewrites:
// strided(2) beside local(8) in one block (a permutation of half the
// heads), strided(47) on every head (all heads permuted), fixed(16, 4) on
// every head (split into the local blocks and the gathered summaries; at
// context 94 the last fixed block is ragged and holds 2 summary columns),
// and a union holding strided(6),
// which stays as written. The end-to-end tests compile it with and without
// normalization and compare the two programs' losses and trained parameters.
st.model @normalize_small {vocab = 256, context = 94, width = 32, heads = 4,
                         ffn_ratio = 2.0, qk_ratio = 1.0, dropout = 0.1,
                         dtype = f32, position = #st.position<learned>} {
  st.block attention [#st.local<8>, #st.strided<2>]
  st.block attention [#st.strided<47>]
  st.block attention [#st.fixed<block = 16, summary = 4>]
  st.block attention [#st.union<[#st.local<6>, #st.strided<6>]>]
}
