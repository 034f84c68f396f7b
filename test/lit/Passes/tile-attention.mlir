// RUN: stc-opt %s -split-input-file -stc-tile-attention=block-size=16 -verify-diagnostics | FileCheck %s
// RUN: not stc-opt %s -split-input-file -stc-tile-attention=block-size=48 2>&1 | FileCheck %s --check-prefix=SIZE

// SIZE: stc-tile-attention: block-size 48 is not supported; valid: 16, 32, 64, 128

// Tests layouts of a 32-long sequence in blocks of 16: causal has a full
// block below the diagonal (1 full, 2 partial); local(4) only partial
// blocks; the one block above the diagonal (0:1) is classified `upper`;
// each distinct (pattern, n) gets one layout. The blocks kernels visit are
// chosen later (stc-eliminate-upper-triangle.mlir).
// CHECK-LABEL: module
// CHECK-DAG: st.layout @[[CAUSAL:layout[0-9]+]] {block = 16 : i64, empty = 0 : i64, full = 1 : i64, n = 32 : i64, partial = 2 : i64, pattern = #st.causal, upper = 1 : i64}
// CHECK-DAG: st.layout @[[LOCAL:layout[0-9]+]] {block = 16 : i64, empty = 0 : i64, full = 0 : i64, n = 32 : i64, partial = 3 : i64, pattern = #st.local<4>, upper = 1 : i64}
// CHECK: func.func @f
// CHECK: st.attention {{.*}} patterns [#st.causal] {st.layouts = [@[[CAUSAL]]]}
// CHECK: st.attention {{.*}} patterns [#st.causal, #st.local<4>] {st.layouts = [@[[CAUSAL]], @[[LOCAL]]]}
func.func @f(%x: tensor<1x32x16xf32>) -> tensor<1x32x16xf32> {
  %a = st.attention %x, %x, %x heads(2) patterns [#st.causal]
         : tensor<1x32x16xf32>, tensor<1x32x16xf32>, tensor<1x32x16xf32> -> tensor<1x32x16xf32>
  %b = st.attention %a, %a, %a heads(2) patterns [#st.causal, #st.local<4>]
         : tensor<1x32x16xf32>, tensor<1x32x16xf32>, tensor<1x32x16xf32> -> tensor<1x32x16xf32>
  return %b : tensor<1x32x16xf32>
}

// -----

// Tests that a ragged sequence (40 = 2.5 blocks) keeps its partial last row,
// and the strided pattern touches every lower block.
// CHECK-LABEL: module
// CHECK: st.layout @layout0 {block = 16 : i64, empty = 0 : i64, full = 0 : i64, n = 40 : i64, partial = 6 : i64, pattern = #st.strided<4>, upper = 3 : i64}
func.func @ragged(%x: tensor<1x40x16xf32>) -> tensor<1x40x16xf32> {
  %a = st.attention %x, %x, %x heads(2) patterns [#st.strided<4>]
         : tensor<1x40x16xf32>, tensor<1x40x16xf32>, tensor<1x40x16xf32> -> tensor<1x40x16xf32>
  return %a : tensor<1x40x16xf32>
}

// -----

// Tests that an explicit block layout must tile the sequence.
func.func @blocks(%x: tensor<1x40x16xf32>) -> tensor<1x40x16xf32> {
  // expected-error @+1 {{sequence length 40 is not a multiple of the block size 16 of #st.blocks<16, [0:0, 1:1]>; use a context that is a multiple of 16}}
  %a = st.attention %x, %x, %x heads(2) patterns [#st.blocks<16, [0:0, 1:1]>]
         : tensor<1x40x16xf32>, tensor<1x40x16xf32>, tensor<1x40x16xf32> -> tensor<1x40x16xf32>
  return %a : tensor<1x40x16xf32>
}

// -----

func.func @beyond(%x: tensor<1x32x16xf32>) -> tensor<1x32x16xf32> {
  // expected-error @+1 {{#st.blocks<16, [0:0, 1:1, 2:2]> lists block 2:2, but a sequence of 32 has 2 query blocks of 16}}
  %a = st.attention %x, %x, %x heads(2) patterns [#st.blocks<16, [0:0, 1:1, 2:2]>]
         : tensor<1x32x16xf32>, tensor<1x32x16xf32>, tensor<1x32x16xf32> -> tensor<1x32x16xf32>
  return %a : tensor<1x32x16xf32>
}

// -----

// Tests that the st.layout verifier rebuilds a small layout and rejects counts
// or a fingerprint that disagree with the pattern.
// expected-error @+1 {{differs from the layout of local(4) at n = 32, block = 16 (3 blocks: 0 full, 3 partial, 0 empty; fnv1a64 "bef7b538d4897d00"); rebuild it with stc-tile-attention and stc-eliminate-upper-triangle}}
st.layout @bad {pattern = #st.local<4>, n = 32, block = 16, blocks = 3, full = 1, fnv1a64 = "bef7b538d4897d00"}

// -----

// expected-error @+1 {{differs from the layout of local(4)}}
st.layout @bad {pattern = #st.local<4>, n = 32, block = 16, blocks = 3, full = 0, fnv1a64 = "0123456789abcdef"}

// -----

// Tests the counts any layout must satisfy, checked without rebuilding.
// expected-error @+1 {{lists 4 blocks, 0 of them full; valid: 0 <= full <= blocks <= 3 (the lower triangle of 2 block rows, at most 67108864)}}
st.layout @bad {pattern = #st.causal, n = 32, block = 16, blocks = 4, full = 0, fnv1a64 = "0123456789abcdef"}

// -----

// Tests the contract's limits on a layout (abi/Limits.h).
// expected-error @+1 {{n is 2097152; valid: 1 .. 1048576}}
st.layout @bad {pattern = #st.causal, n = 2097152, block = 128, blocks = 0, full = 0, fnv1a64 = "0123456789abcdef"}

// -----

// Tests that a context shorter than the block size is tiled as one block.
// CHECK-LABEL: module
// CHECK: st.layout @layout0 {block = 8 : i64, empty = 0 : i64, full = 0 : i64, n = 8 : i64, partial = 1 : i64, pattern = #st.causal, upper = 0 : i64}
func.func @short(%x: tensor<1x8x16xf32>) -> tensor<1x8x16xf32> {
  %a = st.attention %x, %x, %x heads(2) patterns [#st.causal]
         : tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32> -> tensor<1x8x16xf32>
  return %a : tensor<1x8x16xf32>
}
