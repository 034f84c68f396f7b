st.layout @bad {pattern = #st.causal, n = 32, block = 16, blocks = 4, full = 0, fnv1a64 = "0123456789abcdef"}
