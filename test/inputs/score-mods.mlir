// A small f32 model with score modifications on every layer (st.block
// score_mods): a temperature and a soft cap on strided(2) beside local(8)
// (normalized: half the heads permuted), a soft cap on fixed(16, 4) (split
// into the local blocks and the gathered summaries), an ALiBi bias before
// and after a soft cap (ALiBi reads positions: those layers run as
// written). The caps are small so that tanh bends the scores. The
// end-to-end tests compile it with and without normalization and compare
// the two programs' losses and trained parameters.
st.model @score_mods {vocab = 256, context = 94, width = 32, heads = 4,
                      ffn_ratio = 2.0, qk_ratio = 1.0, dropout = 0.1,
                      dtype = f32, position = #st.position<learned>} {
  st.block attention [#st.local<8>, #st.strided<2>]
      score_mods [#st.temperature<1.5>, #st.softcap<0.5>]
  st.block attention [#st.fixed<block = 16, summary = 4>]
      score_mods [#st.softcap<0.4>]
  st.block attention [#st.local<12>] score_mods [#st.alibi<8.0>, #st.softcap<0.6>]
  st.block attention [#st.strided<6>] score_mods [#st.softcap<0.3>, #st.alibi<2.0>]
}
