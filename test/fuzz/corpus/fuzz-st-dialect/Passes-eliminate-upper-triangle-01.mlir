st.layout @given {pattern = #st.local<4>, n = 32, block = 16, blocks = 3, full = 0, fnv1a64 = "bef7b538d4897d00"}
