// A small model at the longest context stc takes (2^20 = 1,048,576 bytes):
// one residual block, width 32, two heads of the paper's strided pattern
// (local and strided, l = 1024, interleaved as multi-head). The tests compile
// it, load the artifact and check the manifest stays small.
st.model @long1m {vocab = 256, context = 1048576, width = 32, heads = 2,
                  position = #st.position<attention_aligned stride = 1024>} {
  st.block attention [#st.local<1024>, #st.strided<1024>]
}
