st.pattern @local_dilated(%q, %k) {
  %c0 = arith.constant 0 : index
  %c32 = arith.constant 32 : index
  %c64 = arith.constant 64 : index
  %causal = arith.cmpi ule, %k, %q : index
  %d = arith.subi %q, %k : index
  %near = arith.cmpi ult, %d, %c32 : index
  %m = arith.remui %d, %c64 : index
  %dilated = arith.cmpi eq, %m, %c0 : index
  %either = arith.ori %near, %dilated : i1
  %ok = arith.andi %causal, %either : i1
  st.yield %ok : i1
}

st.model @dilated {vocab = 256, context = 2048, width = 128, heads = 4,
                   position = #st.position<learned>} {
  st.repeat 2 {
    st.block attention [#st.predicate<@local_dilated>]
    st.block attention [#st.fixed<block = 64, summary = 8>]
  }
}
