st.layout @bad {pattern = #st.local<4>, n = 32, block = 16, full = 0, partial = 3, empty = 0, upper = 1, fnv1a64 = "bef7b538d4897d00"}
