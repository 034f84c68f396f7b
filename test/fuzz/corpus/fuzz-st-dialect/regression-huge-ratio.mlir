st.pattern @diag(%q, %k) {
  %eq = arith.cmpi eq, %q, %k : index
  st.yield %eq : i1
}

st.model @all_patterns {vocab = 256, context = 256, width = 64, heads = 4,
                        ffn_ratio = 2.0, qk_ratio =00000000000002049638230412172394.125,
                           position = #st.position<attention_aligned stride = 8>} {
  st.repeat 3 {
    st.block attention [#st.local<8>]
    st.repeat 2 {
      st.block attention [#st.strided<8>]
    }
  }
}
