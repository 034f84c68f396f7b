// A 4 x 4 RGB image model (data-aligned positions over rows, columns and
// channels): stc sample --png draws its samples.
st.model @tiny_image {vocab = 256, context = 48, width = 16, heads = 2,
                      position = #st.position<data_aligned dims = [4, 4, 3]>} {
  st.block attention [#st.local<12>]
}
