st.pattern @p(%q, %k) {
  %d = arith.ceildivsi %q, %k : index
  %t = arith.constant true
  st.yield %t : i1
}
