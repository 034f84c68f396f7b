// An image model in the style of the paper's CIFAR-10 model: each image is a
// sequence of 32 x 32 x 3 = 3072 bytes, strided attention with the stride
// equal to a row of pixels (l = 96 bytes), the two heads interleaved across
// blocks, and data-aligned position embeddings (row, column, channel).
// The paper used 128 blocks; this one keeps 16 for a manageable example.
st.model @images {vocab = 256, context = 3072, width = 256, heads = 2,
                  ffn_ratio = 2.0, qk_ratio = 0.5, dropout = 0.25, dtype = bf16,
                  position = #st.position<data_aligned dims = [32, 32, 3]>} {
  st.repeat 8 {
    st.block attention [#st.local<96>]
    st.block attention [#st.strided<96>]
  }
}
