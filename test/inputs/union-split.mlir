// A small f32 model whose merged (union) heads stc-normalize-patterns splits
// (st.attention_split with stride): union(local(32), strided(16)) becomes
// minus(local(32), strided(16)) over the keys (local less the keys 0 and 16
// back) plus fixed(16, 0) over the stride permutation; the three-member
// union becomes minus(union(local(3), fixed(32, 4)), strided(32)) plus
// fixed(8, 0) permuted (a difference that is not shift-invariant,
// classified element by element). The end-to-end tests compile it with and
// without normalization and compare the two programs' losses and trained
// parameters.
st.model @union_split {vocab = 256, context = 256, width = 32, heads = 4,
                       ffn_ratio = 2.0, qk_ratio = 1.0, dropout = 0.1,
                       dtype = f32, position = #st.position<learned>} {
  st.block attention [#st.union<[#st.local<32>, #st.strided<16>]>]
  st.block attention [#st.union<[#st.local<3>, #st.fixed<block = 32, summary = 4>,
                                 #st.strided<32>]>]
}
