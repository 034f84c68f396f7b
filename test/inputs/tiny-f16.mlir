// examples/tiny.mlir in f16 (parameters, activations; f32 gradients of the
// parameters, master weights and moments), trained with dynamic loss
// scaling. The end-to-end tests train it beside the f32 tiny model on the
// same data from the same seed (within 2% after 300 steps), and overflow
// its scaled gradients on purpose to see the step skipped.
st.model @tiny {vocab = 256, context = 64, width = 64, heads = 4,
                ffn_ratio = 4.0, dropout = 0.0, dtype = f16,
                position = #st.position<learned>} {
  st.block attention [#st.local<8>]
  st.block attention [#st.strided<8>]
}
