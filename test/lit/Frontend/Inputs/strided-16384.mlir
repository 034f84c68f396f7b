// strided(128) at n = 16384: every causal block of 128 holds allowed pairs
// as written; stc-normalize-patterns leaves 128 diagonal blocks per head.
st.model @strided16k {vocab = 256, context = 16384, width = 64, heads = 2} {
  st.block attention [#st.strided<128>]
}
