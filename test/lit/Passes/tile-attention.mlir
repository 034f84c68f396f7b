// RUN: stc-opt %s -split-input-file -stc-tile-attention=block-size=16 -verify-diagnostics | FileCheck %s
// RUN: not stc-opt %s -split-input-file -stc-tile-attention=block-size=48 2>&1 | FileCheck %s --check-prefix=SIZE

// SIZE: stc-tile-attention: block-size 48 is not supported; valid: 16, 32, 64, 128

// Tests layouts of a 32-long sequence in blocks of 16: causal has a full
// block below the diagonal; local(4) only partial blocks; the upper triangle
// (block 0:1) never appears; each distinct (pattern, n) gets one layout.
// CHECK-LABEL: module
// CHECK-DAG: st.layout @[[CAUSAL:layout[0-9]+]] {block = 16 : i64, classes = array<i32: 1, 2, 1>, col_idx = array<i32: 0, 0, 1>, n = 32 : i64, pattern = #st.causal, row_ptr = array<i32: 0, 1, 3>}
// CHECK-DAG: st.layout @[[LOCAL:layout[0-9]+]] {block = 16 : i64, classes = array<i32: 1, 1, 1>, col_idx = array<i32: 0, 0, 1>, n = 32 : i64, pattern = #st.local<4>, row_ptr = array<i32: 0, 1, 3>}
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
// CHECK: st.layout @layout0 {block = 16 : i64, classes = array<i32: 1, 1, 1, 1, 1, 1>, col_idx = array<i32: 0, 0, 1, 0, 1, 2>, n = 40 : i64, pattern = #st.strided<4>, row_ptr = array<i32: 0, 1, 3, 6>}
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

// Tests that the st.layout verifier rebuilds the layout and rejects tables
// that disagree with the pattern.
// expected-error @+1 {{tables differ from the layout of local(4) at n = 32, block = 16 (3 blocks); rebuild it with stc-tile-attention}}
st.layout @bad {pattern = #st.local<4>, n = 32, block = 16, row_ptr = array<i32: 0, 1, 3>, col_idx = array<i32: 0, 0, 1>, classes = array<i32: 1, 2, 1>}
