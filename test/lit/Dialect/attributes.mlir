// RUN: stc-opt %s | FileCheck %s
// RUN: stc-opt %s | stc-opt | FileCheck %s
// RUN: stc-opt -mlir-print-op-generic %s | stc-opt | FileCheck %s

// Tests that every pattern and position attribute round-trips.

st.pattern @diag(%q, %k) {
  %eq = arith.cmpi eq, %q, %k : index
  st.yield %eq : i1
}

// CHECK-LABEL: st.model @all_patterns
// CHECK-SAME: {vocab = 256, context = 256, width = 64, heads = 4, ffn_ratio = 2.0, qk_ratio = 0.5, dropout = 0.125, dtype = bf16, position = #st.position<learned>}
st.model @all_patterns {vocab = 256, context = 256, width = 64, heads = 4,
                        ffn_ratio = 2.0, qk_ratio = 0.5, dropout = 0.125,
                        dtype = bf16} {
  // CHECK: st.block attention [#st.causal]
  st.block attention [#st.causal]
  // CHECK: st.block attention [#st.local<16>]
  st.block attention [#st.local<16>]
  // CHECK: st.block attention [#st.strided<16>]
  st.block attention [#st.strided<16>]
  // CHECK: st.block attention [#st.fixed<block = 16, summary = 4>]
  st.block attention [#st.fixed<block = 16, summary = 4>]
  // CHECK: st.block attention [#st.union<[#st.local<16>, #st.strided<16>]>]
  st.block attention [#st.union<[#st.local<16>, #st.strided<16>]>]
  // CHECK: st.block attention [#st.blocks<64, [0:0, 1:0, 1:1, 2:2, 3:0, 3:3]>]
  st.block attention [#st.blocks<64, [0:0, 1:0, 1:1, 2:2, 3:0, 3:3]>]
  // CHECK: st.block attention [#st.predicate<@diag>]
  st.block attention [#st.predicate<@diag>]
  // CHECK: st.block attention [#st.local<16>, #st.strided<16>]
  st.block attention [#st.local<16>, #st.strided<16>]
  // CHECK: st.block attention [#st.union<[#st.predicate<@diag>, #st.fixed<block = 32, summary = 32>]>]
  st.block attention [#st.union<[#st.predicate<@diag>, #st.fixed<block = 32, summary = 32>]>]
}

// Tests that score modifications round-trip, on a block and on st.score_mod.
// CHECK-LABEL: st.model @score_mods
// CHECK: st.block attention [#st.local<16>] score_mods [#st.temperature<5.000000e-01>, #st.softcap<3.000000e+01>, #st.alibi<8.000000e+00>]
// CHECK: st.block attention [#st.causal]{{$}}
st.model @score_mods {vocab = 256, context = 32, width = 16, heads = 2} {
  st.block attention [#st.local<16>]
      score_mods [#st.temperature<0.5>, #st.softcap<30.0>, #st.alibi<8.0>]
  st.block attention [#st.causal]
}
// CHECK-LABEL: func.func @score_mod_op
// CHECK: st.score_mod #st.alibi<4.000000e+00>(%arg0) : tensor<1x2x8x8xf32>
func.func @score_mod_op(%s: tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32> {
  %m = st.score_mod #st.alibi<4.0> (%s) : tensor<1x2x8x8xf32>
  return %m : tensor<1x2x8x8xf32>
}

// Tests the defaults of the optional keys.
// CHECK-LABEL: st.model @defaults
// CHECK-SAME: {vocab = 256, context = 32, width = 16, heads = 2, ffn_ratio = 4.0, qk_ratio = 1.0, dropout = 0.0, dtype = f32, position = #st.position<learned>}
st.model @defaults {context = 32, heads = 2, vocab = 256, width = 16} {
  st.block attention [#st.causal]
}

// CHECK-LABEL: st.model @no_position
// CHECK-SAME: position = #st.position<none>
st.model @no_position {vocab = 256, context = 32, width = 16, heads = 2,
                       position = #st.position<none>} {
  st.block attention [#st.causal]
}

// CHECK-LABEL: st.model @data_aligned
// CHECK-SAME: position = #st.position<data_aligned dims = [4, 4, 3]>
st.model @data_aligned {vocab = 256, context = 48, width = 16, heads = 2,
                        position = #st.position<data_aligned dims = [4, 4, 3]>} {
  st.block attention [#st.causal]
}

// CHECK-LABEL: st.model @attention_aligned
// CHECK-SAME: position = #st.position<attention_aligned stride = 8>
// CHECK: st.repeat 3 {
// CHECK-NEXT: st.block attention [#st.local<8>]
// CHECK-NEXT: st.repeat 2 {
// CHECK-NEXT: st.block attention [#st.strided<8>]
st.model @attention_aligned {vocab = 256, context = 64, width = 16, heads = 2,
                             position = #st.position<attention_aligned stride = 8>} {
  st.repeat 3 {
    st.block attention [#st.local<8>]
    st.repeat 2 {
      st.block attention [#st.strided<8>]
    }
  }
}

// Tests that ratios which print with an exponent stay float literals (found
// by fuzz-st-dialect: 20.0 printed as 2e+01, which does not parse back).
// CHECK-LABEL: st.model @exponents
// CHECK-SAME: ffn_ratio = 2.0e+01, qk_ratio = 0.0625
st.model @exponents {vocab = 256, context = 32, width = 64, heads = 2,
                     ffn_ratio = 20.0, qk_ratio = 0.0625} {
  st.block attention [#st.causal]
}
