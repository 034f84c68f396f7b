// examples/tiny.mlir in bf16 (parameters, activations, gradients; f32
// master weights and moments). The end-to-end tests train it beside the f32
// tiny model on the same data from the same seed: the bf16 numerics target
// of the training step (within 2% after 300 steps).
st.model @tiny {vocab = 256, context = 64, width = 64, heads = 4,
                ffn_ratio = 4.0, dropout = 0.0, dtype = bf16,
                position = #st.position<learned>} {
  st.block attention [#st.local<8>]
  st.block attention [#st.strided<8>]
}
