// A tiny Sparse Transformer that trains in seconds on a CPU: 2 residual
// blocks interleaving the two heads of the paper's strided pattern (l = 8,
// about sqrt of the context), byte vocabulary.
//
//   stc inspect examples/tiny.mlir
st.model @tiny {vocab = 256, context = 64, width = 64, heads = 4,
                ffn_ratio = 4.0, dropout = 0.0, dtype = f32,
                position = #st.position<learned>} {
  st.block attention [#st.local<8>]
  st.block attention [#st.strided<8>]
}
