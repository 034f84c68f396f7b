st.pattern @near_or_summary(%q, %k) {
  %c8 = arith.constant 8 : index
  %c15 = arith.constant 15 : index
  %c16 = arith.constant 16 : index
  %causal = arith.cmpi ule, %k, %q : index
  %d = arith.subi %q, %k : index
  %near = arith.cmpi ult, %d, %c8 : index
  %m = arith.remui %k, %c16 : index
  %summary = arith.cmpi eq, %m, %c15 : index
  %either = arith.ori %near, %summary : i1
  %ok = arith.andi %causal, %either : i1
  st.yield %ok : i1
}
st.model @summary {vocab = 256, context = 65536, width = 64, heads = 2} {
  st.block attention [#st.predicate<@near_or_summary>]
}
