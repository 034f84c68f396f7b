// Context 40, below the default attention block size of 64: compiles and runs.
st.model @short {vocab = 256, context = 40, width = 64, heads = 4,
                ffn_ratio = 4.0, dropout = 0.0, dtype = f32,
                position = #st.position<learned>} {
  st.block attention [#st.local<8>]
  st.block attention [#st.strided<8>]
}
