st.pattern @p(%q, %k) {
  %d = arith.subi %q, %k : index
  %c4 = arith.constant 4 : index
  %near = arith.cmpi ult, %d, %c4 : index
  %t = arith.constant true
  %ok = arith.xori %near, %t : i1
  st.yield %ok : i1
}
