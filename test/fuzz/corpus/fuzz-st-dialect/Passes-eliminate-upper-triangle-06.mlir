st.layout @bad {pattern = #st.local<4>, n = 32, block = 16, full = 0}
