// A raw-audio model in the style of the paper's classical-music model:
// 8-bit mu-law samples, context 65536, strided attention with l = 256
// (sqrt of the context) written as the multi-head factorization (half the
// heads local, half strided, in every block) and attention-aligned position
// embeddings (row and column of the l-stride grid).
st.model @audio {vocab = 256, context = 65536, width = 512, heads = 8,
                 ffn_ratio = 4.0, qk_ratio = 0.5, dropout = 0.0, dtype = bf16,
                 position = #st.position<attention_aligned stride = 256>} {
  st.repeat 24 {
    st.block attention [#st.local<256>, #st.strided<256>]
  }
}
