st.layout @bad {pattern = #st.causal, n = 32, block = 16, full = 0, partial = 3, empty = 0, upper = 1}
