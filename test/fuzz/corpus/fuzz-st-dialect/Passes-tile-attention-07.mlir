st.layout @bad {pattern = #st.causal, n = 2097152, block = 128, blocks = 0, full = 0, fnv1a64 = "0123456789abcdef"}
