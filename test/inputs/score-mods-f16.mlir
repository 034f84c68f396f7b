// test/inputs/score-mods-bf16.mlir in f16: the tensor-core attention
// kernels in their f16 form (mma.sync / wgmma on f16 operands), with the
// same score modifications, layouts and shapes.
st.model @score_mods_f16 {vocab = 256, context = 512, width = 128, heads = 2,
                          ffn_ratio = 2.0, dropout = 0.0, dtype = f16,
                          position = #st.position<learned>} {
  st.block attention [#st.causal] score_mods [#st.softcap<0.5>, #st.alibi<4.0>]
  st.block attention [#st.fixed<block = 128, summary = 32>]
      score_mods [#st.temperature<2.0>, #st.softcap<0.5>]
}
