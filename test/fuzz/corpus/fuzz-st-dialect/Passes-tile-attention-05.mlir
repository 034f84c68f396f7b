st.layout @bad {pattern = #st.local<4>, n = 32, block = 16, blocks = 3, full = 0, fnv1a64 = "0123456789abcdef"}
