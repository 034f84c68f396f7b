st.pattern @p(%q, %k) {
  %c = arith.constant 3 : i32
  %t = arith.constant true
  st.yield %t : i1
}
