st.pattern @p(%q) {
  %t = arith.constant true
  st.yield %t : i1
}
