st.pattern @diag(%q, %k) {
  %eq = arith.cmpi eq, %q, %k : index
  st.yield %eq : i1
}

st.model @all_patterns {vocab = 256, context = 256, width = 64, heads = 4,
                        ffn_ratio = 20., qk_ratio = 0.5, dropout = 0.125,
                        dtype = bf16} {
  st.block attention [#st.causal]
  st.block attention [#st.local<16>]
  st.block attention [#st.strided<16>]
  st.block attention [#st.fixed<block = 16, summary = 4>]
  st.block attention [#st.union<[#st.local<16>, #st.strided<16>]>]
  st.block attention [#st.blocks<64, [0:0, 1:0, 1:1, 3:2, 3:0, 3:3]>]
  st.block attention [#st.predicate<@diag>]
  st.block attention [#st.local<16>, #st.strided<16>]
  st.block attention [#st.union<[#st.predicate<@diag>, #st.fixed<block = 32, summary = 32>]>]
}

st.model @defauigned {vocab = 256, context = 48, width = 16, heads = 2,position = #st.position<attention_aligned stride = 8>} {
  st.repeat 3 {
    st.block attention [#st.local<8>]
    st.repeat 2 {
      st.block attention [#st.strided<8>]
    }
  }
}
