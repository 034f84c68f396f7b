// RUN: stc-opt %s -split-input-file -stc-verify-patterns -verify-diagnostics | FileCheck %s
// RUN: stc-opt %s -split-input-file -stc-verify-patterns="reach-limit=32" -verify-diagnostics | FileCheck %s --check-prefix=LIMIT
// RUN: not stc-opt %s -split-input-file -stc-verify-patterns="unreachable-is-error=true" 2>&1 | FileCheck %s --check-prefix=STRICT

// Tests that the strided pair (local, strided), interleaved, reaches every
// key in 2 hops.
// CHECK-LABEL: st.model @strided_interleaved
// CHECK-SAME: attributes {st.reachability = {analyzed = 64 : i64, max_hops = 2 : i64, unreachable_pairs = 0 : i64}}
// LIMIT-LABEL: st.model @strided_interleaved
// LIMIT-SAME: analyzed = 32 : i64
st.model @strided_interleaved {vocab = 256, context = 64, width = 16, heads = 2} {
  st.block attention [#st.local<8>]
  st.block attention [#st.strided<8>]
}

// -----

// Tests that the fixed pattern reaches every key in 2 hops.
// CHECK-LABEL: st.model @fixed
// CHECK-SAME: max_hops = 2 : i64, unreachable_pairs = 0 : i64
st.model @fixed {vocab = 256, context = 128, width = 16, heads = 2} {
  st.repeat 3 {
    st.block attention [#st.fixed<block = 16, summary = 4>]
  }
}

// -----

// Tests that a stack of local layers leaves distant keys unreachable: each
// layer moves information at most 7 positions, so 2 layers cover 14.
// CHECK-LABEL: st.model @local_only
// CHECK-SAME: max_hops = -1 : i64, unreachable_pairs = 1225 : i64
// LIMIT-LABEL: st.model @local_only
// LIMIT-SAME: analyzed = 32 : i64, max_hops = -1 : i64, unreachable_pairs = 153 : i64
// STRICT: error: @local_only: 1225 (query, key) pairs are unreachable through its 2 attention layer(s), e.g. query 15 never sees key 0 (analysed over the first 64 positions); add layers or combine patterns so every key is reachable
// expected-warning @+1 {{(query, key) pairs are unreachable through its 2 attention layer(s), e.g. query 15 never sees key 0}}
st.model @local_only {vocab = 256, context = 64, width = 16, heads = 2} {
  st.block attention [#st.local<8>]
  st.block attention [#st.local<8>]
}

// -----

// Tests that a multi-head layer is reachable through the union of its heads.
// CHECK-LABEL: st.model @multi_head
// CHECK-SAME: max_hops = 2 : i64, unreachable_pairs = 0 : i64
st.model @multi_head {vocab = 256, context = 64, width = 16, heads = 2} {
  st.repeat 2 {
    st.block attention [#st.local<8>, #st.strided<8>]
  }
}

// -----

// Tests that a block layout without diagonal blocks for some rows is rejected.
st.model @holes {vocab = 256, context = 16, width = 16, heads = 2} {
  // expected-error @+1 {{pattern blocks(4;0:0,1:1) leaves query 8 with no key to attend to (context 16)}}
  st.block attention [#st.blocks<4, [0:0, 1:1]>]
}

// -----

// Tests that a predicate with empty rows is rejected.
st.pattern @first_ten(%q, %k) {
  %c10 = arith.constant 10 : index
  %small = arith.cmpi ult, %q, %c10 : index
  %causal = arith.cmpi ule, %k, %q : index
  %ok = arith.andi %small, %causal : i1
  st.yield %ok : i1
}
st.model @empty_rows {vocab = 256, context = 16, width = 16, heads = 2} {
  // expected-error @+1 {{leaves query 10 with no key to attend to (context 16)}}
  st.block attention [#st.predicate<@first_ten>]
}

// -----

// Tests that the attention ops of a function form its stack.
// CHECK-LABEL: func.func @two_layers
// CHECK-SAME: attributes {st.reachability = {analyzed = 16 : i64, max_hops = 2 : i64, unreachable_pairs = 0 : i64}}
func.func @two_layers(%x: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  %a = st.attention %x, %x, %x heads(2) patterns [#st.local<4>]
         : tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  %b = st.attention %a, %a, %a heads(2) patterns [#st.strided<4>]
         : tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return %b : tensor<1x16x8xf32>
}
