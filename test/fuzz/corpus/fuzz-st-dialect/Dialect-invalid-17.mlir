st.pattern @p(%q, %k) {
  %t = arith.constant true
}
