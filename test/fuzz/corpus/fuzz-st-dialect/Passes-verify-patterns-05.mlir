st.pattern @first_ten(%q, %k) {
  %c10 = arith.constant 10 : index
  %small = arith.cmpi ult, %q, %c10 : index
  %causal = arith.cmpi ule, %k, %q : index
  %ok = arith.andi %small, %causal : i1
  st.yield %ok : i1
}
st.model @empty_rows {vocab = 256, context = 16, width = 16, heads = 2} {
  st.block attention [#st.predicate<@first_ten>]
}
