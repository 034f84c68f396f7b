// RUN: stc-opt %s -split-input-file -stc-tile-attention=block-size=16 -verify-diagnostics | FileCheck %s --check-prefix=TILED
// RUN: stc-opt %s -split-input-file -stc-tile-attention=block-size=16 -stc-eliminate-upper-triangle -verify-diagnostics | FileCheck %s
// RUN: stc-opt %s -split-input-file -stc-tile-attention=block-size=16 -stc-eliminate-upper-triangle -stc-eliminate-upper-triangle -verify-diagnostics | FileCheck %s
// RUN: not stc-opt %s -split-input-file -stc-tile-attention=block-size=16 -stc-lower-to-kernels 2>&1 | FileCheck %s --check-prefix=NOT-ELIMINATED

// A 128-long sequence in blocks of 16: 8 block rows, 36 blocks on or below
// the diagonal, 28 above it. stc-tile-attention classifies all 64 (TILED);
// stc-eliminate-upper-triangle keeps the full and partial ones as the blocks
// kernels visit (CHECK), with their fingerprint, and drops the rest:
//   causal         28 full + 8 partial (the diagonal)     0 empty -> 36
//   local(16)       the diagonal and the one below it   21 empty -> 15
//   strided(32)     every second diagonal (q - k in 32Z) 16 empty -> 20
//   fixed(32, 4)    4 full (inside a 32-block) + 20 partial (diagonal, the
//                   summary columns of odd key blocks)   12 empty -> 24
//   blocks          the 4 listed blocks                 32 empty ->  4
// Running the pass twice changes nothing; lowering without it is an error.

// (Attributes print sorted: `blocks` would come right after `block`.)
// TILED-DAG: st.layout @{{layout[0-9]+}} {block = 16 : i64, empty = 0 : i64, full = 28 : i64, n = 128 : i64, partial = 8 : i64, pattern = #st.causal, upper = 28 : i64}
// TILED-DAG: st.layout @{{layout[0-9]+}} {block = 16 : i64, empty = 21 : i64, full = 0 : i64, n = 128 : i64, partial = 15 : i64, pattern = #st.local<16>, upper = 28 : i64}
// TILED-DAG: st.layout @{{layout[0-9]+}} {block = 16 : i64, empty = 16 : i64, full = 0 : i64, n = 128 : i64, partial = 20 : i64, pattern = #st.strided<32>, upper = 28 : i64}
// TILED-DAG: st.layout @{{layout[0-9]+}} {block = 16 : i64, empty = 12 : i64, full = 4 : i64, n = 128 : i64, partial = 20 : i64, pattern = #st.fixed<block = 32, summary = 4>, upper = 28 : i64}
// TILED-DAG: st.layout @{{layout[0-9]+}} {block = 16 : i64, empty = 32 : i64, full = 2 : i64, n = 128 : i64, partial = 2 : i64, pattern = #st.blocks<16, [0:0, 2:0, 2:2, 5:3]>, upper = 28 : i64}

// CHECK-DAG: st.layout @{{layout[0-9]+}} {block = 16 : i64, blocks = 36 : i64, empty = 0 : i64, fnv1a64 = "3fd07bc55cae54cf", full = 28 : i64, n = 128 : i64, partial = 8 : i64, pattern = #st.causal, upper = 28 : i64}
// CHECK-DAG: st.layout @{{layout[0-9]+}} {block = 16 : i64, blocks = 15 : i64, empty = 21 : i64, fnv1a64 = "{{[0-9a-f]+}}", full = 0 : i64, n = 128 : i64, partial = 15 : i64, pattern = #st.local<16>, upper = 28 : i64}
// CHECK-DAG: st.layout @{{layout[0-9]+}} {block = 16 : i64, blocks = 20 : i64, empty = 16 : i64, fnv1a64 = "{{[0-9a-f]+}}", full = 0 : i64, n = 128 : i64, partial = 20 : i64, pattern = #st.strided<32>, upper = 28 : i64}
// CHECK-DAG: st.layout @{{layout[0-9]+}} {block = 16 : i64, blocks = 24 : i64, empty = 12 : i64, fnv1a64 = "{{[0-9a-f]+}}", full = 4 : i64, n = 128 : i64, partial = 20 : i64, pattern = #st.fixed<block = 32, summary = 4>, upper = 28 : i64}
// CHECK-DAG: st.layout @{{layout[0-9]+}} {block = 16 : i64, blocks = 4 : i64, empty = 32 : i64, fnv1a64 = "{{[0-9a-f]+}}", full = 2 : i64, n = 128 : i64, partial = 2 : i64, pattern = #st.blocks<16, [0:0, 2:0, 2:2, 5:3]>, upper = 28 : i64}

// NOT-ELIMINATED: error: 'st.layout' op classifies its blocks but does not list the ones kernels visit; run stc-eliminate-upper-triangle first
func.func @f(%x: tensor<1x128x16xf32>) -> tensor<1x128x16xf32> {
  %a = st.attention %x, %x, %x heads(2) patterns [#st.causal]
         : tensor<1x128x16xf32>, tensor<1x128x16xf32>, tensor<1x128x16xf32> -> tensor<1x128x16xf32>
  %b = st.attention %a, %a, %a heads(2) patterns [#st.local<16>]
         : tensor<1x128x16xf32>, tensor<1x128x16xf32>, tensor<1x128x16xf32> -> tensor<1x128x16xf32>
  %c = st.attention %b, %b, %b heads(2) patterns [#st.strided<32>]
         : tensor<1x128x16xf32>, tensor<1x128x16xf32>, tensor<1x128x16xf32> -> tensor<1x128x16xf32>
  %d = st.attention %c, %c, %c heads(2) patterns [#st.fixed<block = 32, summary = 4>]
         : tensor<1x128x16xf32>, tensor<1x128x16xf32>, tensor<1x128x16xf32> -> tensor<1x128x16xf32>
  %e = st.attention %d, %d, %d heads(2) patterns [#st.blocks<16, [0:0, 2:0, 2:2, 5:3]>]
         : tensor<1x128x16xf32>, tensor<1x128x16xf32>, tensor<1x128x16xf32> -> tensor<1x128x16xf32>
  return %e : tensor<1x128x16xf32>
}

// -----

// A layout that already lists its blocks (written by hand, unclassified) is
// left as it is.
// CHECK: st.layout @given {block = 16 : i64, blocks = 3 : i64, fnv1a64 = "bef7b538d4897d00", full = 0 : i64, n = 32 : i64, pattern = #st.local<4>}
st.layout @given {pattern = #st.local<4>, n = 32, block = 16, blocks = 3, full = 0, fnv1a64 = "bef7b538d4897d00"}

// -----

// The verifier's checks of the classification: the four counts together,
// covering the grid, agreeing with the pattern; no fingerprint before the
// blocks; the blocks exactly the full and partial ones.
// expected-error @+1 {{classifies its blocks only in part; give full, partial, empty and upper together}}
st.layout @bad {pattern = #st.local<4>, n = 32, block = 16, full = 0, partial = 3}

// -----

// expected-error @+1 {{classifies 0 full, 2 partial, 0 empty and 1 upper blocks; a grid of 2 x 2 blocks has 1 above the diagonal and 3 on or below it (full + partial + empty)}}
st.layout @bad {pattern = #st.local<4>, n = 32, block = 16, full = 0, partial = 2, empty = 0, upper = 1}

// -----

// expected-error @+1 {{differs from the layout of causal at n = 32, block = 16 (3 blocks: 1 full, 2 partial, 0 empty}}
st.layout @bad {pattern = #st.causal, n = 32, block = 16, full = 0, partial = 3, empty = 0, upper = 1}

// -----

// expected-error @+1 {{has a fingerprint but no blocks; stc-eliminate-upper-triangle sets both}}
st.layout @bad {pattern = #st.local<4>, n = 32, block = 16, full = 0, partial = 3, empty = 0, upper = 1, fnv1a64 = "bef7b538d4897d00"}

// -----

// expected-error @+1 {{has neither its classification (partial, empty, upper) nor its blocks; build it with stc-tile-attention}}
st.layout @bad {pattern = #st.local<4>, n = 32, block = 16, full = 0}

// -----

// expected-error @+1 {{lists 2 blocks but classifies 0 full and 3 partial; the visited blocks are exactly those}}
st.layout @bad {pattern = #st.local<4>, n = 32, block = 16, full = 0, partial = 3, empty = 0, upper = 1, blocks = 2, fnv1a64 = "bef7b538d4897d00"}
