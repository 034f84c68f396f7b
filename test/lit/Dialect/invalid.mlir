// RUN: stc-opt %s -split-input-file -verify-diagnostics

// Tests that a zero local window is rejected.
// expected-error @+1 {{#st.local window must be >= 1 (got 0)}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2} { st.block attention [#st.local<0>] }

// -----

// Tests that a zero stride is rejected.
// expected-error @+1 {{#st.strided stride must be >= 1 (got 0)}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2} { st.block attention [#st.strided<0>] }

// -----

// Tests that a zero fixed block is rejected.
// expected-error @+1 {{#st.fixed block must be >= 1 (got 0)}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2} { st.block attention [#st.fixed<block = 0, summary = 1>] }

// -----

// Tests that a summary wider than the block is rejected.
// expected-error @+1 {{#st.fixed summary must be in [0, block = 16] (got 32)}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2} { st.block attention [#st.fixed<block = 16, summary = 32>] }

// -----

// Tests that a union needs two members.
// expected-error @+1 {{#st.union needs at least 2 patterns (got 1)}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2} { st.block attention [#st.union<[#st.causal]>] }

// -----

// Tests that union members must be patterns.
// expected-error @+1 {{#st.union member 1 (3 : i64) is not a pattern}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2} { st.block attention [#st.union<[#st.causal, 3]>] }

// -----

// Tests that a zero block size is rejected.
// expected-error @+1 {{#st.blocks block size must be >= 1 (got 0)}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2} { st.block attention [#st.blocks<0, [0:0]>] }

// -----

// Tests that a block layout lists some block.
// expected-error @+1 {{#st.blocks lists no blocks}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2} { st.block attention [#st.blocks<4, []>] }

// -----

// Tests that blocks above the diagonal are rejected.
// expected-error @+1 {{#st.blocks block 0:1 lies above the diagonal (key block 1 > query block 0)}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2} { st.block attention [#st.blocks<4, [0:0, 0:1]>] }

// -----

// Tests that negative block indices are rejected.
// expected-error @+1 {{#st.blocks block 1:-1 has a negative index}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2} { st.block attention [#st.blocks<4, [1:-1]>] }

// -----

// Tests that data-aligned dims are positive.
// expected-error @+1 {{#st.position<data_aligned> dims must be >= 1 (got 0)}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2, position = #st.position<data_aligned dims = [16, 0]>} { st.block attention [#st.causal] }

// -----

// Tests that the attention-aligned stride is positive.
// expected-error @+1 {{#st.position<attention_aligned> needs one stride >= 1}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2, position = #st.position<attention_aligned stride = 0>} { st.block attention [#st.causal] }

// -----

// Tests that unknown position kinds are named with the valid ones.
// expected-error @+1 {{unknown position kind 'sinusoidal'; valid: none, learned, data_aligned, attention_aligned}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2, position = #st.position<sinusoidal>} { st.block attention [#st.causal] }

// -----

// Tests that a predicate must name an existing st.pattern.
// expected-error @+1 {{refers to pattern @nowhere, but no st.pattern of that name is visible}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2} { st.block attention [#st.predicate<@nowhere>] }

// -----

// Tests that predicates compute on index, i64 and i1 only.
st.pattern @p(%q, %k) {
  // expected-error @+1 {{produces 'i32', but pattern predicates compute on index, i64 and i1 only}}
  %c = arith.constant 3 : i32
  %t = arith.constant true
  st.yield %t : i1
}

// -----

// Tests that ops outside the supported arith subset are rejected.
st.pattern @p(%q, %k) {
  // expected-error @+1 {{is not supported in a pattern predicate; supported: arith.constant}}
  %d = arith.ceildivsi %q, %k : index
  %t = arith.constant true
  st.yield %t : i1
}

// -----

// Tests that a predicate reading the future is rejected.
// expected-error @+1 {{allows key k = 1 for query q = 0, which reads the future: patterns may only allow k <= q}}
st.pattern @p(%q, %k) {
  %d = arith.subi %q, %k : index
  %c4 = arith.constant 4 : index
  %near = arith.cmpi ult, %d, %c4 : index
  %t = arith.constant true
  %ok = arith.xori %near, %t : i1
  st.yield %ok : i1
}

// -----

// Tests that a pattern region ends with st.yield.
// expected-error @+1 {{region must end with st.yield}}
st.pattern @p(%q, %k) {
  %t = arith.constant true
}

// -----

// Tests that st.pattern takes exactly (%q, %k).
// expected-error @+1 {{st.pattern takes two arguments (%q, %k)}}
st.pattern @p(%q) {
  %t = arith.constant true
  st.yield %t : i1
}

// -----

// Tests that unknown model keys are named with the valid ones.
// expected-error @+1 {{unknown st.model key 'layers'; valid keys: vocab, context, width, heads, ffn_ratio, qk_ratio, dropout, dtype, position}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2, layers = 3} { st.block attention [#st.causal] }

// -----

// Tests that a model key may be given once.
// expected-error @+1 {{st.model key 'width' given twice}}
st.model @m {vocab = 256, context = 16, width = 8, width = 16, heads = 2} { st.block attention [#st.causal] }

// -----

// Tests that required keys are required.
// expected-error @+1 {{st.model needs 'heads' (required keys: vocab, context, width, heads)}}
st.model @m {vocab = 256, context = 16, width = 8} { st.block attention [#st.causal] }

// -----

// expected-error @+1 {{vocab must be in [2, 16777216] (got 1)}}
st.model @m {vocab = 1, context = 16, width = 8, heads = 2} { st.block attention [#st.causal] }

// -----

// expected-error @+1 {{context must be in [1, 1048576] (got 0)}}
st.model @m {vocab = 256, context = 0, width = 8, heads = 2} { st.block attention [#st.causal] }

// -----

// expected-error @+1 {{width must be in [1, 65536] (got -8)}}
st.model @m {vocab = 256, context = 16, width = -8, heads = 2} { st.block attention [#st.causal] }

// -----

// expected-error @+1 {{heads must be in [1, 65535] (got 0)}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 0} { st.block attention [#st.causal] }

// -----

// Tests that sizes beyond what stc can run are refused by the model itself
// (abi/Limits.h), before any pass does work proportional to them.
// expected-error @+1 {{context must be in [1, 1048576] (got 9223372036854775807)}}
st.model @m {vocab = 256, context = 9223372036854775807, width = 8, heads = 2} { st.block attention [#st.causal] }

// -----

// expected-error @+1 {{context must be in [1, 1048576] (got 1099511627776)}}
st.model @m {vocab = 256, context = 1099511627776, width = 8, heads = 2} { st.block attention [#st.causal] }

// -----

// expected-error @+1 {{has more than 2^63 layers; stc takes at most 4096}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2} {
  st.repeat 4611686018427387904 { st.repeat 4 { st.block attention [#st.causal] } }
}

// -----

// expected-error @+1 {{has 5000 layers; stc takes at most 4096}}
st.model @m {vocab = 256, context = 16, width = 8, heads = 2} {
  st.repeat 5000 { st.block attention [#st.causal] }
}

// -----

// Tests that heads must divide the width.
// expected-error @+1 {{heads (3) must divide width (64)}}
st.model @m {vocab = 256, context = 16, width = 64, heads = 3} { st.block attention [#st.causal] }

// -----

// expected-error @+1 {{qk_ratio 0.3 times width 64 must be a whole number in [1, 1073741824]}}
st.model @m {vocab = 256, context = 16, width = 64, heads = 2, qk_ratio = 0.3} { st.block attention [#st.causal] }

// -----

// expected-error @+1 {{heads (16) must divide the q/k width (8 = width x qk_ratio)}}
st.model @m {vocab = 256, context = 16, width = 64, heads = 16, qk_ratio = 0.125} { st.block attention [#st.causal] }

// -----

// expected-error @+1 {{ffn_ratio 0.0 times width 64 must be a whole number in [1, 1073741824]}}
st.model @m {vocab = 256, context = 16, width = 64, heads = 2, ffn_ratio = 0.0} { st.block attention [#st.causal] }

// -----

// Found by fuzz-st-dialect: a ratio whose width overflows int64.
// expected-error @+1 {{qk_ratio 2.0496382304121725e+30 times width 64 must be a whole number in [1, 1073741824]}}
st.model @m {vocab = 256, context = 16, width = 64, heads = 2, qk_ratio = 2049638230412172394000000000000.0} { st.block attention [#st.causal] }

// -----

// expected-error @+1 {{dropout must be in [0, 1) (got 1.0)}}
st.model @m {vocab = 256, context = 16, width = 64, heads = 2, dropout = 1.0} { st.block attention [#st.causal] }

// -----

// expected-error @+1 {{dtype 'i8' is not supported; valid: f32, bf16, f16}}
st.model @m {vocab = 256, context = 16, width = 64, heads = 2, dtype = i8} { st.block attention [#st.causal] }

// -----

// expected-error @+1 {{dtype 'f64' is not supported; valid: f32, bf16, f16}}
st.model @m {vocab = 256, context = 16, width = 64, heads = 2, dtype = f64} { st.block attention [#st.causal] }

// -----

// expected-error @+1 {{data-aligned position dims multiply to 12, but context is 16; their product must equal the context}}
st.model @m {vocab = 256, context = 16, width = 64, heads = 2, position = #st.position<data_aligned dims = [4, 3]>} { st.block attention [#st.causal] }

// -----

// expected-error @+1 {{attention-aligned stride 5 must divide the context (16)}}
st.model @m {vocab = 256, context = 16, width = 64, heads = 2, position = #st.position<attention_aligned stride = 5>} { st.block attention [#st.causal] }

// -----

// Tests that a model body holds blocks and repeats only.
st.model @m {vocab = 256, context = 16, width = 64, heads = 2} {
  // expected-error @+1 {{is not allowed in st.model; its body holds st.block and st.repeat only}}
  %c = arith.constant 1 : index
  st.block attention [#st.causal]
}

// -----

// Tests that a model has layers.
// expected-error @+1 {{has no layers; add at least one st.block}}
st.model @m {vocab = 256, context = 16, width = 64, heads = 2} {
}

// -----

st.model @m {vocab = 256, context = 16, width = 64, heads = 2} {
  // expected-error @+1 {{count must be >= 1 (got 0)}}
  st.repeat 0 {
    st.block attention [#st.causal]
  }
}

// -----

st.model @m {vocab = 256, context = 16, width = 64, heads = 2} {
  st.repeat 2 {
    // expected-error @+1 {{is not allowed in st.repeat; it holds st.block and st.repeat only}}
    %c = arith.constant 1 : index
  }
}

// -----

// Tests that the patterns of a block split its heads evenly.
st.model @m {vocab = 256, context = 16, width = 64, heads = 2} {
  // expected-error @+1 {{splits 2 heads among 3 patterns; the number of patterns must divide the heads}}
  st.block attention [#st.local<4>, #st.strided<4>, #st.causal]
}

// -----

st.model @m {vocab = 256, context = 16, width = 64, heads = 2} {
  // expected-error @+1 {{needs at least one pattern}}
  st.block attention []
}

// -----

func.func @f(%t: tensor<32xi32>, %table: tensor<256x8xf32>) {
  // expected-error @+1 {{tokens must be [batch, time], got tensor<32xi32>}}
  %x = st.embed %t, %table {position = #st.position<none>} : tensor<32xi32>, tensor<256x8xf32> -> tensor<1x32x8xf32>
  return
}

// -----

func.func @f(%t: tensor<1x32xi32>, %table: tensor<256x8x1xf32>) {
  // expected-error @+1 {{table must be [vocab, width], got tensor<256x8x1xf32>}}
  %x = st.embed %t, %table {position = #st.position<none>} : tensor<1x32xi32>, tensor<256x8x1xf32> -> tensor<1x32x8xf32>
  return
}

// -----

func.func @f(%t: tensor<1x32xi32>, %table: tensor<256x8xf32>) {
  // expected-error @+1 {{result must be [1, 32, 8] (tokens' batch and time, the table's width), got tensor<1x32x4xf32>}}
  %x = st.embed %t, %table {position = #st.position<none>} : tensor<1x32xi32>, tensor<256x8xf32> -> tensor<1x32x4xf32>
  return
}

// -----

func.func @f(%t: tensor<1x32xi32>, %table: tensor<256x8xf32>) {
  // expected-error @+1 {{result element type must match the table's}}
  %x = st.embed %t, %table {position = #st.position<none>} : tensor<1x32xi32>, tensor<256x8xf32> -> tensor<1x32x8xbf16>
  return
}

// -----

func.func @f(%t: tensor<1x32xi32>, %table: tensor<256x8xf32>, %p: tensor<4x8xf32>, %p2: tensor<4x8xf32>) {
  // expected-error @+1 {{data-aligned dims multiply to 16, but the sequence length is 32}}
  %x = st.embed %t, %table positions(%p, %p2 : tensor<4x8xf32>, tensor<4x8xf32>) {position = #st.position<data_aligned dims = [4, 4]>} : tensor<1x32xi32>, tensor<256x8xf32> -> tensor<1x32x8xf32>
  return
}

// -----

func.func @f(%t: tensor<1x32xi32>, %table: tensor<256x8xf32>, %p: tensor<5x8xf32>, %p2: tensor<6x8xf32>) {
  // expected-error @+1 {{attention-aligned stride 5 must divide the sequence length 32}}
  %x = st.embed %t, %table positions(%p, %p2 : tensor<5x8xf32>, tensor<6x8xf32>) {position = #st.position<attention_aligned stride = 5>} : tensor<1x32xi32>, tensor<256x8xf32> -> tensor<1x32x8xf32>
  return
}

// -----

func.func @f(%t: tensor<1x32xi32>, %table: tensor<256x8xf32>) {
  // expected-error @+1 {{position #st.position<learned> needs 1 tables, got 0}}
  %x = st.embed %t, %table {position = #st.position<learned>} : tensor<1x32xi32>, tensor<256x8xf32> -> tensor<1x32x8xf32>
  return
}

// -----

func.func @f(%t: tensor<1x32xi32>, %table: tensor<256x8xf32>, %p: tensor<16x8xf32>) {
  // expected-error @+1 {{position table 0 must be [32, 8] of 'f32', got tensor<16x8xf32>}}
  %x = st.embed %t, %table positions(%p : tensor<16x8xf32>) {position = #st.position<learned>} : tensor<1x32xi32>, tensor<256x8xf32> -> tensor<1x32x8xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<4xf32>) {
  // expected-error @+1 {{gamma and beta must be [8] (the last dim of x), got tensor<4xf32>}}
  %y = st.layer_norm %x, %g, %g : tensor<2x8xf32>, tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xbf16>) {
  // expected-error @+1 {{gamma's element type must match x's}}
  %y = st.layer_norm %x, %g, %g : tensor<2x8xf32>, tensor<8xbf16>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{epsilon must be > 0}}
  %y = st.layer_norm %x, %g, %g {epsilon = 0.0 : f64} : tensor<2x8xf32>, tensor<8xf32>
  return
}

// -----

func.func @f(%dy: tensor<2x8xbf16>, %x: tensor<2x8xbf16>, %g: tensor<8xbf16>) {
  // expected-error @+1 {{dgamma and dbeta must have the shape of gamma (tensor<8xbf16>), each in its element type or f32, got 'tensor<4xf32>'}}
  %dx, %dg, %db = st.layer_norm_grad %dy, %x, %g {epsilon = 1.0e-05 : f64} : tensor<2x8xbf16>, tensor<8xbf16> -> tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<8xf32>, %w: tensor<8x4xf32>) {
  // expected-error @+1 {{x must have rank >= 2, got tensor<8xf32>}}
  %y = st.linear %x, %w : (tensor<8xf32>, tensor<8x4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) {
  // expected-error @+1 {{weight must be [8, N] (x's last dim first), got tensor<4x8xf32>}}
  %y = st.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %w: tensor<8x4xf32>) {
  // expected-error @+1 {{result must have x's shape with the last dim 4, got tensor<2x8xf32>}}
  %y = st.linear %x, %w : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %w: tensor<8x4xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{bias must be [4], got tensor<8xf32>}}
  %y = st.linear %x, %w, %b : (tensor<2x8xf32>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %w: tensor<8x4xbf16>) {
  // expected-error @+1 {{operands and result must share one element type}}
  %y = st.linear %x, %w : (tensor<2x8xf32>, tensor<8x4xbf16>) -> tensor<2x4xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{rate must be in [0, 1) (got 1.5)}}
  %y = st.dropout %x {rate = 1.5 : f64} : tensor<2x8xf32>
  return
}

// -----

func.func @f(%q: tensor<16x8xf32>) {
  // expected-error @+1 {{q must be [batch, time, width], got tensor<16x8xf32>}}
  %o = st.attention %q, %q, %q heads(2) patterns [#st.causal] : tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32> -> tensor<16x8xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x8xf32>, %k: tensor<1x8x8xf32>) {
  // expected-error @+1 {{k must have q's shape tensor<1x16x8xf32>, got tensor<1x8x8xf32>}}
  %o = st.attention %q, %k, %q heads(2) patterns [#st.causal] : tensor<1x16x8xf32>, tensor<1x8x8xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x8xf32>) {
  // expected-error @+1 {{heads (3) must divide the q/k width (8)}}
  %o = st.attention %q, %q, %q heads(3) patterns [#st.causal] : tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x8xf32>, %v: tensor<1x8x8xf32>) {
  // expected-error @+1 {{v must be [1, 16, Dv], got tensor<1x8x8xf32>}}
  %o = st.attention %q, %q, %v heads(2) patterns [#st.causal] : tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x8x8xf32> -> tensor<1x8x8xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x8xf32>, %v: tensor<1x16x6xf32>) {
  // expected-error @+1 {{heads (4) must divide the value width (6)}}
  %o = st.attention %q, %q, %v heads(4) patterns [#st.causal] : tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x6xf32> -> tensor<1x16x6xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x8xf32>) {
  // expected-error @+1 {{result must have v's type tensor<1x16x8xf32>, got tensor<1x16x4xf32>}}
  %o = st.attention %q, %q, %q heads(2) patterns [#st.causal] : tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x8xf32>) {
  // expected-error @+1 {{scale must be > 0}}
  %o = st.attention %q, %q, %q heads(2) patterns [#st.causal] {scale = -1.0 : f64} : tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x8xf32>) {
  // expected-error @+1 {{splits 2 heads among 4 patterns}}
  %o = st.attention %q, %q, %q heads(2) patterns [#st.causal, #st.local<2>, #st.local<3>, #st.local<4>] : tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x8xf32>) {
  // expected-error @+1 {{result must be [1, 2, 16, 16], got tensor<1x16x16xf32>}}
  %s = st.attention_scores %q, %q heads(2) patterns [#st.causal] : tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x16x16xf32>
  return
}

// -----

func.func @f(%s: tensor<1x2x16x8xf32>) {
  // expected-error @+1 {{scores must be [batch, heads, time, time], got tensor<1x2x16x8xf32>}}
  %p = st.masked_softmax %s patterns [#st.causal] : tensor<1x2x16x8xf32>
  return
}

// -----

func.func @f(%p: tensor<1x2x16x8xf32>, %v: tensor<1x16x8xf32>) {
  // expected-error @+1 {{probs must be [batch, heads, time, time], got tensor<1x2x16x8xf32>}}
  %o = st.attention_weighted_sum %p, %v : tensor<1x2x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return
}

// -----

func.func @f(%p: tensor<1x3x16x16xf32>, %v: tensor<1x16x8xf32>) {
  // expected-error @+1 {{v must be [1, 16, Dv] with Dv divisible by 3 heads, got tensor<1x16x8xf32>}}
  %o = st.attention_weighted_sum %p, %v : tensor<1x3x16x16xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return
}

// -----

func.func @f(%p: tensor<1x2x16x16xf32>, %v: tensor<1x16x8xf32>) {
  // expected-error @+1 {{result must have v's type tensor<1x16x8xf32>}}
  %o = st.attention_weighted_sum %p, %v : tensor<1x2x16x16xf32>, tensor<1x16x8xf32> -> tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%l: tensor<256xf32>, %t: tensor<i32>) {
  // expected-error @+1 {{logits must be [..., vocab], got tensor<256xf32>}}
  %loss = st.cross_entropy %l, %t : tensor<256xf32>, tensor<i32> -> tensor<f32>
  return
}

// -----

func.func @f(%l: tensor<2x16x256xf32>, %t: tensor<2x8xi32>) {
  // expected-error @+1 {{targets must have the logits' shape without the vocab dim, got tensor<2x8xi32> for logits tensor<2x16x256xf32>}}
  %loss = st.cross_entropy %l, %t : tensor<2x16x256xf32>, tensor<2x8xi32> -> tensor<f32>
  return
}

// -----

// Tests that a stride must divide the sequence.
func.func @permute_stride(%x: tensor<1x64x32xf32>) -> tensor<1x64x32xf32> {
  // expected-error @+1 {{stride (7) must be >= 1 and divide the sequence length (64)}}
  %y = st.stride_permute %x stride(7) heads(0 to 2 of 2) : tensor<1x64x32xf32>
  return %y : tensor<1x64x32xf32>
}

// -----

// Tests that the permuted heads must be a non-empty range of the heads.
func.func @permute_heads(%x: tensor<1x64x32xf32>) -> tensor<1x64x32xf32> {
  // expected-error @+1 {{head range 2 to 2 must be non-empty within [0, 4]}}
  %y = st.stride_permute %x stride(8) heads(2 to 2 of 4) : tensor<1x64x32xf32>
  return %y : tensor<1x64x32xf32>
}

// -----

// Tests that the heads must divide the width.
func.func @permute_width(%x: tensor<1x64x30xf32>) -> tensor<1x64x30xf32> {
  // expected-error @+1 {{heads (4) must divide the width (30)}}
  %y = st.stride_permute %x stride(8) heads(0 to 4 of 4) : tensor<1x64x30xf32>
  return %y : tensor<1x64x30xf32>
}

// -----

// Tests that a summary gather needs 1 <= summary < block.
func.func @gather_summary(%x: tensor<1x64x32xf32>) -> tensor<1x64x32xf32> {
  // expected-error @+1 {{needs 1 <= summary < block (got block 16, summary 16)}}
  %y = st.gather_summaries %x block(16) summary(16) : tensor<1x64x32xf32>
  return %y : tensor<1x64x32xf32>
}

// -----

// Tests that a split attention has one second entry per pattern.
func.func @summaries_count(%x: tensor<1x64x32xf32>) -> tensor<1x64x32xf32> {
  // expected-error @+1 {{needs one second entry per patterns entry (got 2 and 1)}}
  %o = st.attention_split %x, %x, %x, %x, %x heads(2)
         patterns [#st.fixed<block = 16, summary = 0>]
         second [#st.gathered<block = 16, summary = 4>, #st.gathered<block = 16, summary = 4>]
         : tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32> -> tensor<1x64x32xf32>
  return %o : tensor<1x64x32xf32>
}

// -----

// Tests that a split's stride divides the sequence.
func.func @split_stride(%x: tensor<1x60x32xf32>) -> tensor<1x60x32xf32> {
  // expected-error @+1 {{stride(8) must be >= 2 and divide the sequence length 60}}
  %o = st.attention_split %x, %x, %x, %x, %x heads(2)
         patterns [#st.minus<#st.local<8>, #st.strided<8>>]
         second [#st.fixed<block = 8, summary = 0>] stride(8)
         : tensor<1x60x32xf32>, tensor<1x60x32xf32>, tensor<1x60x32xf32> -> tensor<1x60x32xf32>
  return %o : tensor<1x60x32xf32>
}

// -----

// Tests that a strided split's second source is the keys themselves.
func.func @split_stride_keys(%x: tensor<1x64x32xf32>, %y: tensor<1x64x32xf32>) -> tensor<1x64x32xf32> {
  // expected-error @+1 {{with stride, ks and vs must be k and v}}
  %o = st.attention_split %x, %x, %x, %y, %x heads(2)
         patterns [#st.minus<#st.local<8>, #st.strided<8>>]
         second [#st.fixed<block = 8, summary = 0>] stride(8)
         : tensor<1x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x32xf32> -> tensor<1x64x32xf32>
  return %o : tensor<1x64x32xf32>
}

// -----

// Tests that #st.minus takes patterns.
// expected-error @+1 {{#st.minus second member (3 : i64) is not a pattern}}
func.func private @minus_member() attributes {p = #st.minus<#st.local<8>, 3>}

// -----

// Tests that a gathered pattern's summary is at most its block.
// expected-error @+1 {{#st.gathered summary must be in [0, block = 16] (got 17)}}
func.func private @gathered_attr() attributes {p = #st.gathered<block = 16, summary = 17>}

// -----

// Tests that a soft cap is positive.
// expected-error @+1 {{#st.softcap needs a cap in (0, 1e+06] (got 0)}}
func.func private @softcap_attr() attributes {m = #st.softcap<0.0>}

// -----

// Tests that an ALiBi base is positive.
// expected-error @+1 {{#st.alibi needs a base in (0, 64] (got -1)}}
func.func private @alibi_attr() attributes {m = #st.alibi<-1.0>}

// -----

// Tests that a temperature is positive.
// expected-error @+1 {{#st.temperature needs a temperature in (0, 1e+06] (got 0)}}
func.func private @temperature_attr() attributes {m = #st.temperature<0.0>}

// -----

// Tests that a block's score modifications have a fused form.
st.model @m {vocab = 256, context = 16, width = 8, heads = 2} {
  // expected-error @+1 {{'st.block' op score_mods a #st.temperature comes after a #st.softcap or #st.alibi; the fused kernels take temperatures first (write it first)}}
  st.block attention [#st.causal] score_mods [#st.alibi<8.0>, #st.temperature<2.0>]
}

// -----

// Tests that score_mods holds score modifications only.
st.model @m {vocab = 256, context = 16, width = 8, heads = 2} {
  // expected-error @+1 {{'st.block' op attribute 'score_mods' failed to satisfy constraint: array of score modifications}}
  st.block attention [#st.causal] score_mods [#st.causal]
}

// -----

// Tests that the fused attention takes at most one ALiBi bias.
func.func @two_alibi(%x: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  // expected-error @+1 {{'st.attention' op score_mods has two #st.alibi; the fused kernels take at most one}}
  %o = st.attention %x, %x, %x heads(2) patterns [#st.causal]
         {score_mods = [#st.alibi<8.0>, #st.alibi<4.0>]}
         : tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32> -> tensor<1x16x8xf32>
  return %o : tensor<1x16x8xf32>
}

// -----

// Tests that st.score_mod modifies a [batch, heads, time, time] tensor.
func.func @score_mod_rank(%x: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  // expected-error @+1 {{'st.score_mod' op scores must be [batch, heads, time, time], got tensor<1x16x8xf32>}}
  %o = st.score_mod #st.softcap<1.0> (%x) : tensor<1x16x8xf32>
  return %o : tensor<1x16x8xf32>
}

// -----

// Tests that an ALiBi base has an upper bound (slopes of 2^-64 are no bias).
// expected-error @+1 {{#st.alibi needs a base in (0, 64] (got 100)}}
func.func private @alibi_big() attributes {m = #st.alibi<100.0>}
