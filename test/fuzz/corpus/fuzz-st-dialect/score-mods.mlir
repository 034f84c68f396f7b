st.model @fz {vocab = 256, context = 32, width = 32, heads = 2, dtype = f32} {
  st.block attention [#st.local<8>] score_mods [#st.temperature<0.5>, #st.alibi<8.0>, #st.softcap<2.0>]
  st.block attention [#st.strided<4>] score_mods [#st.softcap<1.0>]
}
