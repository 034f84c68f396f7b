// A small bf16 model whose attention gradients run on the tensor-core
// kernels (head size 32, layout blocks of 64): stc compiles their backward
// as attention_bwd_prep + attention_bwd_atomic + cast, or with
// --deterministic as attention_bwd. Its fixed layer is split by
// stc-normalize-patterns, so two attention_bwd_atomic ops add into one dq.
// The end-to-end tests train both artifacts and compare them.
st.model @atomic_small {vocab = 256, context = 512, width = 64, heads = 2,
                        ffn_ratio = 2.0, dropout = 0.1, dtype = bf16,
                        position = #st.position<learned>} {
  st.block attention [#st.local<64>]
  st.block attention [#st.fixed<block = 128, summary = 32>]
}
