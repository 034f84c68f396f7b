st.pattern @near_or_dilated(%q, %k) {
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
st.model @dilated {vocab = 256, context = 65536, width = 64, heads = 2} {
  st.block attention [#st.predicate<@near_or_dilated>]
  st.block attention [#st.local<64>]
}
