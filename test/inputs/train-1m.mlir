// Issue 11's million-token step: 4 residual blocks, width 256, 4 heads
// (2 local, 2 strided, l = 1024 = sqrt of the context), bf16, batch 1. With
// stc-normalize-patterns the strided heads run block-diagonal over the
// permuted sequence; the arena (no recomputation) is about 41 GiB.
//   GPU_PREPARE_FULL=1 GPU_PREPARE_FULL_MODELS=test/inputs/train-1m.mlir \
//   GPU_PREPARE_FULL_FLAGS="--batch 1" scripts/gpu-prepare
st.model @train1m {vocab = 256, context = 1048576, width = 256, heads = 4,
                   ffn_ratio = 4.0, dtype = bf16,
                   position = #st.position<attention_aligned stride = 1024>} {
  st.repeat 4 {
    st.block attention [#st.local<1024>, #st.strided<1024>]
  }
}
