// A small bf16 model with score modifications on the tensor-core attention
// kernels (head size 64, layout blocks of 64): a soft cap then an ALiBi
// bias on causal heads, a temperature and a soft cap on fixed(128, 32)
// (normalized: two attention_bwd_atomic ops add into one dq).
st.model @score_mods_bf16 {vocab = 256, context = 512, width = 128, heads = 2,
                           ffn_ratio = 2.0, dropout = 0.0, dtype = bf16,
                           position = #st.position<learned>} {
  st.block attention [#st.causal] score_mods [#st.softcap<0.5>, #st.alibi<4.0>]
  st.block attention [#st.fixed<block = 128, summary = 32>]
      score_mods [#st.temperature<2.0>, #st.softcap<0.5>]
}
