//===- StOps.td - st operations -----------------------------*- tablegen -*-===//

#ifndef STC_DIALECT_ST_STOPS_TD
#define STC_DIALECT_ST_STOPS_TD

include "dialect/st/StAttrs.td"
include "mlir/IR/OpBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/RegionKindInterface.td"
include "mlir/IR/OpAsmInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

//===----------------------------------------------------------------------===//
// Constraints
//===----------------------------------------------------------------------===//

def St_AnyPatternAttr : Attr<
    CPred<"::llvm::isa<::stc::st::PatternAttrInterface>($_self)">,
    "attention pattern attribute"> {
  let storageType = "::mlir::Attribute";
  let returnType = "::mlir::Attribute";
  let convertFromStorage = "$_self";
}
def St_PatternArrayAttr : TypedArrayAttrBase<St_AnyPatternAttr,
    "array of attention patterns">;

def St_AnyScoreModAttr : Attr<
    CPred<"::llvm::isa<::stc::st::SoftcapAttr, ::stc::st::AlibiAttr, "
          "::stc::st::TemperatureAttr>($_self)">,
    "score modification (#st.softcap, #st.alibi or #st.temperature)"> {
  let storageType = "::mlir::Attribute";
  let returnType = "::mlir::Attribute";
  let convertFromStorage = "$_self";
}
def St_ScoreModArrayAttr : TypedArrayAttrBase<St_AnyScoreModAttr,
    "array of score modifications">;

def St_FloatTensor : StaticShapeTensorOf<[F32, BF16, F16]>;
def St_TokenTensor : StaticShapeTensorOf<[I32]>;

//===----------------------------------------------------------------------===//
// User-defined patterns
//===----------------------------------------------------------------------===//

def St_PatternOp : St_Op<"pattern", [Symbol, IsolatedFromAbove, SingleBlock,
    DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmBlockArgumentNames"]>]> {
  let summary = "a user-defined attention pattern (element predicate)";
  let description = [{
    Defines a pattern as an element predicate over query position `%q` and key
    position `%k` (both `index`): the region yields an `i1` that is true when
    q may attend to k. Only `arith` integer ops are allowed in the region, so
    the compiler can evaluate the predicate exactly, print it into CUDA and
    ship it to the runtime. Reference it with `#st.predicate<@name>`. Patterns
    never look ahead: the verifier rejects a predicate that allows some k > q.

    ```mlir
    // Local window of 16 plus every 64th column ("summary" keys).
    st.pattern @local_plus_columns(%q, %k) {
      %c16 = arith.constant 16 : index
      %c64 = arith.constant 64 : index
      %c0 = arith.constant 0 : index
      %d = arith.subi %q, %k : index
      %near = arith.cmpi ult, %d, %c16 : index
      %m = arith.remui %k, %c64 : index
      %col = arith.cmpi eq, %m, %c0 : index
      %ok = arith.ori %near, %col : i1
      st.yield %ok : i1
    }
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name);
  let regions = (region SizedRegion<1>:$body);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The region as a pattern-library predicate; fails (with a diagnostic on
    /// the offending op) if the region holds something unsupported.
    ::mlir::FailureOr<::stc::pattern::Predicate> toPredicate();
  }];
}

def St_YieldOp : St_Op<"yield", [Pure, Terminator, HasParent<"PatternOp">]> {
  let summary = "yields whether (q, k) is allowed";
  let description = [{
    Terminates an `st.pattern` region with its verdict.

    ```mlir
    st.yield %ok : i1
    ```
  }];
  let arguments = (ins I1:$allowed);
  let assemblyFormat = "$allowed attr-dict `:` type($allowed)";
}

//===----------------------------------------------------------------------===//
// Model specification
//===----------------------------------------------------------------------===//

def St_ModelOp : St_Op<"model", [Symbol, IsolatedFromAbove, NoTerminator,
    SingleBlock]> {
  let summary = "a whole Sparse Transformer, stated in a few lines";
  let description = [{
    An autoregressive byte-level Transformer of pre-activation residual blocks:
    a = x + attn(LN(x)); out = a + ffn(LN(a)). The body lists the residual
    blocks in order (`st.block`, grouped with `st.repeat`); each block names its
    attention pattern, so interleaved (alternating blocks), merged (one
    `#st.union`) and multi-head (several patterns splitting the heads)
    factorizations can all be written.

    Keys: `vocab`, `context`, `width`, `heads` (required); `ffn_ratio`
    (default 4.0), `qk_ratio` (1.0; 0.5 gives half-size q/k), `dropout` (0.0),
    `dtype` (f32, bf16 or f16; f16 trains with dynamic loss scaling),
    `position` (`#st.position<learned>`).

    ```mlir
    st.model @tiny {vocab = 256, context = 64, width = 64, heads = 4} {
      st.repeat 2 {
        st.block attention [#st.local<8>]
        st.block attention [#st.strided<8>]
      }
    }
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       I64Attr:$vocab, I64Attr:$context_size, I64Attr:$width,
                       I64Attr:$heads,
                       F64Attr:$ffn_ratio, F64Attr:$qk_ratio, F64Attr:$dropout,
                       TypeAttr:$dtype, St_PositionAttr:$position);
  let regions = (region SizedRegion<1>:$body);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    /// The residual blocks in execution order, repeats expanded.
    ::llvm::SmallVector<BlockOp> layers();
    /// q/k width: width * qk_ratio.
    int64_t qkWidth();
    /// Feed-forward width: width * ffn_ratio.
    int64_t ffnWidth();
    /// Trainable parameters (with biases): embeddings, per block q/k/v/o
    /// projections, two layer norms and the feed-forward, the final layer
    /// norm and the output projection.
    int64_t numParameters();
  }];
}

def St_RepeatOp : St_Op<"repeat", [NoTerminator, SingleBlock,
    ParentOneOf<["ModelOp", "RepeatOp"]>]> {
  let summary = "repeats a group of residual blocks";
  let description = [{
    Stands for `count` copies of its body in sequence, e.g. 15 repetitions of
    an interleaved (local, strided) pair make a 30-layer model.

    ```mlir
    st.repeat 15 {
      st.block attention [#st.local<128>]
      st.block attention [#st.strided<128>]
    }
    ```
  }];
  let arguments = (ins I64Attr:$count);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$count $body attr-dict";
  let hasVerifier = 1;
}

def St_BlockOp : St_Op<"block", [ParentOneOf<["ModelOp", "RepeatOp"]>]> {
  let summary = "one residual block and its attention pattern(s)";
  let description = [{
    One pre-activation residual block (attention then feed-forward). With one
    pattern, every head uses it; with several, the heads are split evenly among
    them in order (the multi-head factorization), so their number must divide
    the model's heads.

    ```mlir
    st.block attention [#st.fixed<block = 128, summary = 32>]
    st.block attention [#st.local<128>, #st.strided<128>]
    st.block attention [#st.local<128>] score_mods [#st.alibi<8.0>, #st.softcap<30.0>]
    ```

    `score_mods` modifies every head's scaled scores before the softmax, in
    order (`st.score_mod`): `#st.temperature<t>`, `#st.softcap<cap>`,
    `#st.alibi<base>`. The fused kernels apply them (temperatures first, then
    at most one soft cap and one ALiBi bias, in either order).
  }];
  let arguments = (ins St_PatternArrayAttr:$patterns,
                       OptionalAttr<St_ScoreModArrayAttr>:$score_mods);
  let assemblyFormat =
      "`attention` $patterns (`score_mods` $score_mods^)? attr-dict";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Tensor-level forward ops
//===----------------------------------------------------------------------===//

def St_EmbedOp : St_Op<"embed", [Pure]> {
  let summary = "token embedding plus position embedding";
  let description = [{
    out[b, t, :] = table[tokens[b, t], :] + the position embedding of t. The
    position tables follow `position`: none (no tables), learned (one
    [T, D]), data_aligned (one [d_i, D] per dim), attention_aligned (a column
    table [l, D] then a row table [T / l, D]). With `decode` (sampling one
    position at a time) tokens are [sequences, 1], one per sequence, and the
    time index is the sampling position, not t.

    ```mlir
    %x = st.embed %tokens, %table positions(%pos : tensor<64x32xf32>)
           {position = #st.position<learned>}
           : tensor<2x64xi32>, tensor<256x32xf32> -> tensor<2x64x32xf32>
    ```
  }];
  let arguments = (ins St_TokenTensor:$tokens, St_FloatTensor:$table,
                       Variadic<St_FloatTensor>:$positions,
                       St_PositionAttr:$position, UnitAttr:$decode);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = [{
    $tokens `,` $table (`positions` `(` $positions^ `:` type($positions) `)`)?
    attr-dict `:` type($tokens) `,` type($table) `->` type($result)
  }];
  let hasVerifier = 1;
}

def St_LayerNormOp : St_Op<"layer_norm", [Pure,
    AllTypesMatch<["x", "result"]>, AllTypesMatch<["gamma", "beta"]>]> {
  let summary = "layer normalization over the last dimension";
  let description = [{
    y = (x - mean) / sqrt(var + epsilon) * gamma + beta, statistics over the
    last dimension.

    ```mlir
    %y = st.layer_norm %x, %g, %b {epsilon = 1.0e-05 : f64}
           : tensor<2x64x32xf32>, tensor<32xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$x, St_FloatTensor:$gamma,
                       St_FloatTensor:$beta,
                       DefaultValuedAttr<F64Attr, "1.0e-5">:$epsilon);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = [{
    $x `,` $gamma `,` $beta attr-dict `:` type($x) `,` type($gamma)
  }];
  let hasVerifier = 1;
}

def St_LinearOp : St_Op<"linear", [Pure]> {
  let summary = "x W (+ b) over the last dimension";
  let description = [{
    result[..., n] = sum_k x[..., k] W[k, n] (+ b[n]).

    ```mlir
    %y = st.linear %x, %w, %b
           : (tensor<2x64x32xf32>, tensor<32x128xf32>, tensor<128xf32>)
           -> tensor<2x64x128xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$x, St_FloatTensor:$weight,
                       Optional<St_FloatTensor>:$bias);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = [{
    $x `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def St_GeluOp : St_Op<"gelu", [Pure, SameOperandsAndResultType]> {
  let summary = "GELU (tanh approximation)";
  let description = [{
    y = 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).

    ```mlir
    %y = st.gelu %x : tensor<2x64x128xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$x);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x)";
}

def St_AddOp : St_Op<"add", [Pure, SameOperandsAndResultType]> {
  let summary = "elementwise sum (the residual connection)";
  let description = [{
    ```mlir
    %y = st.add %x, %branch : tensor<2x64x32xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$lhs, St_FloatTensor:$rhs);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def St_DropoutOp : St_Op<"dropout", [SameOperandsAndResultType]> {
  let summary = "inverted dropout on a residual branch";
  let description = [{
    Zeroes each element with probability `rate` and scales the rest by
    1 / (1 - rate) while training; the identity at evaluation and sampling.
    `rate` must lie in [0, 1).

    ```mlir
    %y = st.dropout %x {rate = 0.25 : f64} : tensor<2x64x32xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$x, F64Attr:$rate);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x)";
  let hasVerifier = 1;
}

def St_StridePermuteOp : St_Op<"stride_permute", [Pure,
    SameOperandsAndResultType]> {
  let summary = "reorders a sequence by residue class for some heads";
  let description = [{
    x is [B, T, D] with D split into `heads` equal heads. For the heads in
    [head_begin, head_end), position i moves to (i mod stride) * (T / stride)
    + i / stride, so each residue class mod `stride` becomes one contiguous
    segment in its original order; `inverse` moves it back. The other heads'
    columns are copied unchanged. stc-normalize-patterns wraps attention in
    these ops to run strided heads as block-diagonal attention
    (pattern/Normalize.h); an op followed by its inverse folds away.

    ```mlir
    %y = st.stride_permute %x stride(8) heads(2 to 4 of 4) : tensor<2x64x32xf32>
    %x2 = st.stride_permute %y stride(8) heads(2 to 4 of 4) inverse
            : tensor<2x64x32xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$x, I64Attr:$stride, I64Attr:$head_begin,
                       I64Attr:$head_end, I64Attr:$heads, UnitAttr:$inverse);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = [{
    $x `stride` `(` $stride `)` `heads` `(` $head_begin `to` $head_end `of`
    $heads `)` (`inverse` $inverse^)? attr-dict `:` type($x)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

class St_SummaryOp<string mnemonic> : St_Op<mnemonic, [Pure,
    SameOperandsAndResultType]> {
  let arguments = (ins St_FloatTensor:$x, I64Attr:$block, I64Attr:$summary);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = [{
    $x `block` `(` $block `)` `summary` `(` $summary `)` attr-dict `:` type($x)
  }];
  let hasVerifier = 1;
}

def St_GatherSummariesOp : St_SummaryOp<"gather_summaries"> {
  let summary = "the summary columns of the fixed pattern, as a dense sequence";
  let description = [{
    x is [B, T, D]. Row s < S of the result is row (s / c) * l + (l - c) +
    s mod c of x (the s-th summary column of `#st.fixed<block = l,
    summary = c>`), S = (T / l) * c + max(0, T mod l - (l - c)); rows from S
    on are zero. stc-normalize-patterns attends these rows with
    `#st.gathered<block = l, summary = c>` (pattern/Normalize.h).

    ```mlir
    %ks = st.gather_summaries %k block(16) summary(4) : tensor<2x64x32xf32>
    ```
  }];
}

def St_ScatterSummariesOp : St_SummaryOp<"scatter_summaries"> {
  let summary = "the adjoint of st.gather_summaries";
  let description = [{
    Row s < S of x goes back to row (s / c) * l + (l - c) + s mod c of the
    result; every other row of the result is zero (rows of x from S on are
    not read). The gradient of `st.gather_summaries`.

    ```mlir
    %dk2 = st.scatter_summaries %dks block(16) summary(4) : tensor<2x64x32xf32>
    ```
  }];
}

class St_AttentionLikeOp<string mnemonic, list<Trait> traits = []>
    : St_Op<mnemonic, !listconcat([Pure], traits)> {
  let extraClassDeclaration = [{
    /// Pattern of each head, resolved to the pattern library.
    ::mlir::FailureOr<::llvm::SmallVector<::stc::pattern::Pattern>>
    headPatterns();
  }];
}

def St_AttentionOp : St_AttentionLikeOp<"attention"> {
  let summary = "multi-head attention over a sparse pattern";
  let description = [{
    Per batch and head h: o_i = sum_j softmax_j(scale * q_i . k_j) v_j over the
    keys j that head h's pattern allows for query i. q and k are [B, T, Dqk],
    v and the result [B, T, Dv]; `heads` divides Dqk and Dv, and the heads are
    split evenly among `patterns` in order. `scale` defaults to
    1 / sqrt(Dqk / heads).

    ```mlir
    %o = st.attention %q, %k, %v heads(4) patterns [#st.fixed<block = 16, summary = 4>]
           : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>
           -> tensor<2x64x32xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$q, St_FloatTensor:$k,
                       St_FloatTensor:$v, I64Attr:$heads,
                       St_PatternArrayAttr:$patterns,
                       OptionalAttr<F64Attr>:$scale,
                       OptionalAttr<St_ScoreModArrayAttr>:$score_mods);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = [{
    $q `,` $k `,` $v `heads` `(` $heads `)` `patterns` $patterns attr-dict
    `:` type($q) `,` type($k) `,` type($v) `->` type($result)
  }];
  let hasVerifier = 1;
}

def St_AttentionSplitOp : St_AttentionLikeOp<"attention_split", [
    AllTypesMatch<["k", "ks"]>, AllTypesMatch<["v", "vs"]>]> {
  let summary = "attention over two key sources with one softmax";
  let description = [{
    Per batch and head h: one softmax over two key sources, the keys k, v
    under head h's `patterns` entry and the keys ks, vs under its `second`
    entry; no (query, key) pair may be in both. Each source runs as its own
    block-sparse attention and the two are merged by their log-sum-exps.
    stc-normalize-patterns writes it in two forms:

    - fixed(l, c): `#st.fixed<block = l, summary = 0>` over the keys and
      `#st.gathered<block = l, summary = c>` over ks, vs, the summary
      columns gathered by `st.gather_summaries`;
    - a union with a member `#st.strided<l>` (l dividing T): the other
      members less strided(l) (`#st.minus`) over the keys, and with
      `stride(l)` the second source attended in the stride-permuted order
      (`st.stride_permute` of every head: queries, ks = k and vs = v
      reordered, the result and its statistics restored), where strided(l)
      is `#st.fixed<block = T / l, summary = 0>`.

    All five tensors are [B, T, *]; `heads` divides their widths.

    ```mlir
    %o = st.attention_split %q, %k, %v, %ks, %vs heads(2)
           patterns [#st.fixed<block = 16, summary = 0>]
           second [#st.gathered<block = 16, summary = 4>]
           : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>
             -> tensor<2x64x32xf32>
    %u = st.attention_split %q, %k, %v, %k, %v heads(2)
           patterns [#st.minus<#st.local<8>, #st.strided<8>>]
           second [#st.fixed<block = 8, summary = 0>] stride(8)
           : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>
             -> tensor<2x64x32xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$q, St_FloatTensor:$k,
                       St_FloatTensor:$v, St_FloatTensor:$ks,
                       St_FloatTensor:$vs, I64Attr:$heads,
                       St_PatternArrayAttr:$patterns,
                       St_PatternArrayAttr:$second,
                       OptionalAttr<I64Attr>:$stride,
                       OptionalAttr<F64Attr>:$scale,
                       OptionalAttr<St_ScoreModArrayAttr>:$score_mods);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $ks `,` $vs `heads` `(` $heads `)` `patterns` $patterns
    `second` $second (`stride` `(` $stride^ `)`)? attr-dict
    `:` type($q) `,` type($k) `,` type($v) `->` type($result)
  }];
  let hasVerifier = 1;
}

def St_AttentionSplitGradOp : St_AttentionLikeOp<"attention_split_grad", [
    AllTypesMatch<["q", "dq"]>, AllTypesMatch<["k", "dk", "ks", "dks"]>,
    AllTypesMatch<["v", "dv", "vs", "dvs", "out", "dout"]>]> {
  let summary = "gradients of st.attention_split";
  let description = [{
    Given dO and the forward's q, k, v, ks, vs and output o, returns dq, dk,
    dv, dks, dvs: the second source's key gradients, in the sequence's order
    also with `stride` (for gathered summaries, `st.scatter_summaries` takes
    them back to the sequence).

    ```mlir
    %dq, %dk, %dv, %dks, %dvs = st.attention_split_grad %do, %q, %k, %v, %ks, %vs, %o
        heads(2) patterns [#st.fixed<block = 16, summary = 0>]
        second [#st.gathered<block = 16, summary = 4>]
        : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$dout, St_FloatTensor:$q,
                       St_FloatTensor:$k, St_FloatTensor:$v,
                       St_FloatTensor:$ks, St_FloatTensor:$vs,
                       St_FloatTensor:$out, I64Attr:$heads,
                       St_PatternArrayAttr:$patterns,
                       St_PatternArrayAttr:$second,
                       OptionalAttr<I64Attr>:$stride,
                       OptionalAttr<F64Attr>:$scale,
                       OptionalAttr<St_ScoreModArrayAttr>:$score_mods);
  let results = (outs St_FloatTensor:$dq, St_FloatTensor:$dk,
                      St_FloatTensor:$dv, St_FloatTensor:$dks,
                      St_FloatTensor:$dvs);
  let assemblyFormat = [{
    $dout `,` $q `,` $k `,` $v `,` $ks `,` $vs `,` $out `heads` `(` $heads `)`
    `patterns` $patterns `second` $second (`stride` `(` $stride^ `)`)?
    attr-dict `:` type($q) `,` type($k) `,` type($v)
  }];
  let hasVerifier = 1;
}

def St_AttentionScoresOp : St_AttentionLikeOp<"attention_scores"> {
  let summary = "unfused attention, step 1: scaled scores per head";
  let description = [{
    s[b, h, i, j] = scale * q_i . k_j for head h, for every (i, j); entries the
    pattern disallows are ignored by `st.masked_softmax`. Materializes
    [B, H, T, T]: meant for small models, tests and the fusion pass.

    ```mlir
    %s = st.attention_scores %q, %k heads(4) patterns [#st.local<8>]
           : tensor<2x64x32xf32>, tensor<2x64x32xf32> -> tensor<2x4x64x64xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$q, St_FloatTensor:$k, I64Attr:$heads,
                       St_PatternArrayAttr:$patterns,
                       OptionalAttr<F64Attr>:$scale);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = [{
    $q `,` $k `heads` `(` $heads `)` `patterns` $patterns attr-dict
    `:` type($q) `,` type($k) `->` type($result)
  }];
  let hasVerifier = 1;
}

def St_MaskedSoftmaxOp : St_AttentionLikeOp<"masked_softmax",
    [SameOperandsAndResultType]> {
  let summary = "unfused attention, step 2: softmax over allowed keys";
  let description = [{
    p[b, h, i, j] = softmax over the allowed j of s[b, h, i, :]; disallowed
    entries are 0. The heads (dim 1) are split evenly among `patterns`.

    ```mlir
    %p = st.masked_softmax %s patterns [#st.local<8>] : tensor<2x4x64x64xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$scores, St_PatternArrayAttr:$patterns);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = "$scores `patterns` $patterns attr-dict `:` type($scores)";
  let hasVerifier = 1;
}

def St_ScoreModOp : St_Op<"score_mod", [Pure, SameOperandsAndResultType]> {
  let summary = "unfused attention, between steps 1 and 2: modify the scores";
  let description = [{
    Applies one score modification to every entry s[b, h, i, j] of
    `st.attention_scores`: `#st.temperature<t>` gives t s, `#st.softcap<c>`
    c tanh(s / c), `#st.alibi<base>` s - 2^(-base (h + 1) / H) (i - j).
    stc-fuse-softmax carries a chain of them into the fused attention
    (`score_mods`), as FlexAttention's score_mod but compiled ahead of time.

    ```mlir
    %s2 = st.score_mod #st.softcap<30.0> (%s) : tensor<2x4x64x64xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$scores, St_AnyScoreModAttr:$mod);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = "$mod `(` $scores `)` attr-dict `:` type($scores)";
  let hasVerifier = 1;
}

def St_AttentionWeightedSumOp : St_Op<"attention_weighted_sum", [Pure]> {
  let summary = "unfused attention, step 3: probabilities times values";
  let description = [{
    o[b, i, h * dv + c] = sum_j p[b, h, i, j] v[b, j, h * dv + c].

    ```mlir
    %o = st.attention_weighted_sum %p, %v
           : tensor<2x4x64x64xf32>, tensor<2x64x32xf32> -> tensor<2x64x32xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$probs, St_FloatTensor:$v);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = [{
    $probs `,` $v attr-dict `:` type($probs) `,` type($v) `->` type($result)
  }];
  let hasVerifier = 1;
}

def St_CrossEntropyOp : St_Op<"cross_entropy", [Pure]> {
  let summary = "mean cross-entropy over bytes, in bits";
  let description = [{
    The mean over all positions of -log2 softmax(logits)[target]: bits per
    byte for a byte-level model (vocab 256).

    ```mlir
    %loss = st.cross_entropy %logits, %targets
              : tensor<2x64x256xf32>, tensor<2x64xi32> -> tensor<f32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$logits, St_TokenTensor:$targets);
  let results = (outs 0DTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $logits `,` $targets attr-dict `:` type($logits) `,` type($targets)
    `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Parameters and state
//===----------------------------------------------------------------------===//

def St_ParameterOp : St_Op<"parameter", [Symbol]> {
  let summary = "a trainable parameter";
  let description = [{
    A named, persistent tensor with its initialisation; `decay` marks it for
    AdamW weight decay. `stc-expand-model` creates one per weight of a model.

    ```mlir
    st.parameter @block0_attn_q_w : tensor<64x64xf32> init #st.init<normal, std = 0.02> decay
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttr:$type,
                       St_InitAttr:$init, UnitAttr:$decay);
  let assemblyFormat = [{
    $sym_name `:` $type `init` $init (`decay` $decay^)? attr-dict
  }];
  let hasVerifier = 1;
}

def St_KvCacheOp : St_Op<"kv_cache", [Symbol]> {
  let summary = "keys or values of earlier positions, kept for sampling";
  let description = [{
    A persistent [sequences, context, width] tensor that the sampling step
    fills one position at a time, for each of the sequences it draws at once.

    ```mlir
    st.kv_cache @block0_k : tensor<4x64x64xf32>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttr:$type);
  let assemblyFormat = "$sym_name `:` $type attr-dict";
}

def St_LoadOp : St_Op<"load", [DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "reads a parameter";
  let description = [{
    ```mlir
    %w = st.load @block0_attn_q_w : tensor<64x64xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$name);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Backward ops (built by stc-autodiff)
//===----------------------------------------------------------------------===//

def St_CrossEntropyGradOp : St_Op<"cross_entropy_grad", [Pure,
    AllTypesMatch<["logits", "result"]>]> {
  let summary = "gradient of the mean cross-entropy (in bits) w.r.t. logits";
  let description = [{
    (softmax(logits) - onehot(targets)) / (positions x ln 2).

    ```mlir
    %dl = st.cross_entropy_grad %logits, %targets
            : tensor<2x64x256xf32>, tensor<2x64xi32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$logits, St_TokenTensor:$targets);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = [{
    $logits `,` $targets attr-dict `:` type($logits) `,` type($targets)
  }];
}

def St_LinearGradInputOp : St_Op<"linear_grad_input", [Pure]> {
  let summary = "dx = dy W^T";
  let description = [{
    ```mlir
    %dx = st.linear_grad_input %dy, %w : (tensor<2x64x128xf32>, tensor<64x128xf32>) -> tensor<2x64x64xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$dy, St_FloatTensor:$weight);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = "$dy `,` $weight attr-dict `:` functional-type(operands, results)";
}

def St_LinearGradWeightOp : St_Op<"linear_grad_weight", [Pure]> {
  let summary = "dW = x^T dy, summed over all leading dims";
  let description = [{
    ```mlir
    %dw = st.linear_grad_weight %dy, %x : (tensor<2x64x128xf32>, tensor<2x64x64xf32>) -> tensor<64x128xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$dy, St_FloatTensor:$x);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = "$dy `,` $x attr-dict `:` functional-type(operands, results)";
}

def St_BiasGradOp : St_Op<"bias_grad", [Pure]> {
  let summary = "db = dy summed over all leading dims";
  let description = [{
    ```mlir
    %db = st.bias_grad %dy : tensor<2x64x128xf32> -> tensor<128xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$dy);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = "$dy attr-dict `:` type($dy) `->` type($result)";
}

def St_GeluGradOp : St_Op<"gelu_grad", [Pure, AllTypesMatch<["dy", "x", "result"]>]> {
  let summary = "dx = dy * gelu'(x)";
  let description = [{
    ```mlir
    %dx = st.gelu_grad %dy, %x : tensor<2x64x128xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$dy, St_FloatTensor:$x);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = "$dy `,` $x attr-dict `:` type($result)";
}

def St_AttentionScoresGradOp : St_AttentionLikeOp<"attention_scores_grad", [
    AllTypesMatch<["q", "dq"]>, AllTypesMatch<["k", "dk"]>]> {
  let summary = "gradients of st.attention_scores";
  let description = [{
    dq = scale ds k and dk = scale ds^T q per batch and head (the unfused
    chain's backward; `patterns` only names the heads' split).

    ```mlir
    %dq, %dk = st.attention_scores_grad %ds, %q, %k heads(4) patterns [#st.local<8>]
                 : tensor<2x4x64x64xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$ds, St_FloatTensor:$q,
                       St_FloatTensor:$k, I64Attr:$heads,
                       St_PatternArrayAttr:$patterns,
                       OptionalAttr<F64Attr>:$scale);
  let results = (outs St_FloatTensor:$dq, St_FloatTensor:$dk);
  let assemblyFormat = [{
    $ds `,` $q `,` $k `heads` `(` $heads `)` `patterns` $patterns attr-dict
    `:` type($ds) `,` type($q) `,` type($k)
  }];
}

def St_ScoreModGradOp : St_Op<"score_mod_grad", [Pure,
    AllTypesMatch<["dy", "scores", "result"]>]> {
  let summary = "gradient of st.score_mod";
  let description = [{
    dy times the modification's derivative at the unmodified scores.

    ```mlir
    %ds = st.score_mod_grad #st.softcap<30.0> (%dy, %s) : tensor<2x4x64x64xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$dy, St_FloatTensor:$scores,
                       St_AnyScoreModAttr:$mod);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = "$mod `(` $dy `,` $scores `)` attr-dict `:` type($result)";
}

def St_MaskedSoftmaxGradOp : St_AttentionLikeOp<"masked_softmax_grad", [
    AllTypesMatch<["dy", "probs", "result"]>]> {
  let summary = "gradient of st.masked_softmax";
  let description = [{
    ds = p (dp - rowsum(dp p)), from the softmax's output p; disallowed
    entries (p = 0) get 0.

    ```mlir
    %ds = st.masked_softmax_grad %dp, %p patterns [#st.local<8>] : tensor<2x4x64x64xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$dy, St_FloatTensor:$probs,
                       St_PatternArrayAttr:$patterns);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = "$dy `,` $probs `patterns` $patterns attr-dict `:` type($result)";
}

def St_AttentionWeightedSumGradOp : St_Op<"attention_weighted_sum_grad", [Pure,
    AllTypesMatch<["probs", "dprobs"]>, AllTypesMatch<["v", "dv", "dy"]>]> {
  let summary = "gradients of st.attention_weighted_sum";
  let description = [{
    dp = dy v^T and dv = p^T dy per batch and head.

    ```mlir
    %dp, %dv = st.attention_weighted_sum_grad %dy, %p, %v
                 : tensor<2x4x64x64xf32>, tensor<2x64x32xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$dy, St_FloatTensor:$probs,
                       St_FloatTensor:$v);
  let results = (outs St_FloatTensor:$dprobs, St_FloatTensor:$dv);
  let assemblyFormat = "$dy `,` $probs `,` $v attr-dict `:` type($probs) `,` type($v)";
}

def St_DropoutGradOp : St_Op<"dropout_grad", [Pure, SameOperandsAndResultType]> {
  let summary = "the forward dropout's mask applied to dy";
  let description = [{
    Uses the mask of the `st.dropout` with the same `salt` in the same step.

    ```mlir
    %dx = st.dropout_grad %dy {rate = 0.25 : f64, salt = 3 : i64} : tensor<2x64x64xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$dy, F64Attr:$rate, I64Attr:$salt);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = "$dy attr-dict `:` type($result)";
}

def St_LayerNormGradOp : St_Op<"layer_norm_grad", [Pure,
    AllTypesMatch<["dy", "x", "dx"]>]> {
  let summary = "gradients of st.layer_norm";
  let description = [{
    dgamma and dbeta have gamma's shape, each in gamma's element type or f32
    (stc-autodiff gives parameters f32 gradients).

    ```mlir
    %dx, %dg, %db = st.layer_norm_grad %dy, %x, %g {epsilon = 1.0e-05 : f64}
                      : tensor<2x64x64xbf16>, tensor<64xbf16>
                      -> tensor<64xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$dy, St_FloatTensor:$x,
                       St_FloatTensor:$gamma, F64Attr:$epsilon);
  let results = (outs St_FloatTensor:$dx, St_FloatTensor:$dgamma,
                      St_FloatTensor:$dbeta);
  let assemblyFormat = [{
    $dy `,` $x `,` $gamma attr-dict `:` type($x) `,` type($gamma) `->` type($dgamma) `,` type($dbeta)
  }];
  let hasVerifier = 1;
}

def St_AttentionGradOp : St_AttentionLikeOp<"attention_grad", [
    AllTypesMatch<["q", "dq"]>, AllTypesMatch<["k", "dk"]>,
    AllTypesMatch<["v", "dv", "out", "dout"]>]> {
  let summary = "gradients of st.attention";
  let description = [{
    Given dO and the forward's q, k, v and output o, returns dq, dk, dv.

    ```mlir
    %dq, %dk, %dv = st.attention_grad %do, %q, %k, %v, %o heads(4) patterns [#st.local<8>]
                      : tensor<2x64x64xf32>, tensor<2x64x64xf32>, tensor<2x64x64xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$dout, St_FloatTensor:$q,
                       St_FloatTensor:$k, St_FloatTensor:$v, St_FloatTensor:$out,
                       I64Attr:$heads, St_PatternArrayAttr:$patterns,
                       OptionalAttr<F64Attr>:$scale,
                       OptionalAttr<St_ScoreModArrayAttr>:$score_mods);
  let results = (outs St_FloatTensor:$dq, St_FloatTensor:$dk,
                      St_FloatTensor:$dv);
  let assemblyFormat = [{
    $dout `,` $q `,` $k `,` $v `,` $out `heads` `(` $heads `)` `patterns` $patterns
    attr-dict `:` type($q) `,` type($k) `,` type($v)
  }];
}

def St_EmbedGradOp : St_Op<"embed_grad", [Pure]> {
  let summary = "gradients of st.embed w.r.t. its tables";
  let description = [{
    ```mlir
    %dt, %dp = st.embed_grad %dy, %tokens {position = #st.position<learned>}
                 : tensor<2x64x64xf32>, tensor<2x64xi32> -> tensor<256x64xf32>, tensor<64x64xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$dy, St_TokenTensor:$tokens,
                       St_PositionAttr:$position);
  let results = (outs Variadic<St_FloatTensor>:$grads);
  let assemblyFormat = [{
    $dy `,` $tokens attr-dict `:` type($dy) `,` type($tokens) `->` type($grads)
  }];
}

//===----------------------------------------------------------------------===//
// Optimizer and sampling
//===----------------------------------------------------------------------===//

def St_GradNormSqOp : St_Op<"grad_norm_sq", [Pure]> {
  let summary = "sum of squares of all gradients";
  let description = [{
    ```mlir
    %n = st.grad_norm_sq %g0, %g1 : tensor<64x64xf32>, tensor<64xf32> -> tensor<f32>
    ```
  }];
  let arguments = (ins Variadic<St_FloatTensor>:$grads);
  let results = (outs 0DTensorOf<[F32]>:$result);
  let assemblyFormat = "$grads attr-dict `:` type($grads) `->` type($result)";
}

def St_AdamWOp : St_Op<"adamw", [DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "one AdamW update of a parameter, with global-norm clipping";
  let description = [{
    Scales the gradient by min(1, clip / sqrt(gnorm_sq)), updates the
    parameter's moments and applies the bias-corrected step with decoupled
    weight decay (if the parameter has `decay`). Learning rate and step come
    from the runtime (they change every step without recompiling). The
    gradient has the parameter's shape, in its element type or f32.

    ```mlir
    st.adamw @w, %gw, %norm {beta1 = 0.9 : f64, beta2 = 0.95 : f64, eps = 1.0e-08 : f64,
                             weight_decay = 0.01 : f64, clip = 1.0 : f64}
      : tensor<64x64xf32>, tensor<f32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$param, St_FloatTensor:$grad,
                       0DTensorOf<[F32]>:$gnorm_sq, F64Attr:$beta1,
                       F64Attr:$beta2, F64Attr:$eps, F64Attr:$weight_decay,
                       F64Attr:$clip);
  let assemblyFormat = [{
    $param `,` $grad `,` $gnorm_sq attr-dict `:` type($grad) `,` type($gnorm_sq)
  }];
}

def St_DecodeAttentionOp : St_AttentionLikeOp<"decode_attention", [
    AllTypesMatch<["v", "result"]>]> {
  let summary = "one sampling position's attention over the kv caches";
  let description = [{
    Stores this position's k and v ([S, 1, D], one row per sequence) into
    the caches ([S, context, D], st.kv_cache) at the sampling position, then
    attends from each sequence's q over its cached positions the pattern
    allows.

    ```mlir
    %o = st.decode_attention %q, %k, %v caches(@k0, @v0) heads(4) patterns [#st.local<8>]
           : tensor<2x1x64xf32>, tensor<2x1x64xf32>, tensor<2x1x64xf32>
    ```
  }];
  let arguments = (ins St_FloatTensor:$q, St_FloatTensor:$k, St_FloatTensor:$v,
                       FlatSymbolRefAttr:$kcache, FlatSymbolRefAttr:$vcache,
                       I64Attr:$heads, St_PatternArrayAttr:$patterns,
                       OptionalAttr<F64Attr>:$scale,
                       OptionalAttr<St_ScoreModArrayAttr>:$score_mods);
  let results = (outs St_FloatTensor:$result);
  let assemblyFormat = [{
    $q `,` $k `,` $v `caches` `(` $kcache `,` $vcache `)` `heads` `(` $heads `)`
    `patterns` $patterns attr-dict `:` type($q) `,` type($k) `,` type($v)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Block layouts (built by stc-tile-attention)
//===----------------------------------------------------------------------===//

def St_LayoutOp : St_Op<"layout", [Symbol]> {
  let summary = "a pattern's block layout at one block size";
  let description = [{
    `pattern` over a sequence of `n` in square blocks of `block`, in two
    stages. stc-tile-attention classifies every block of the grid: `full`
    (every pair allowed: no mask), `partial` (some allowed: masked inline),
    `empty` (none allowed) and `upper` (above the diagonal). Then
    stc-eliminate-upper-triangle drops the empty and upper blocks: `blocks`
    (= full + partial) are the ones a kernel visits, and `fnv1a64` is the
    fingerprint of their tables (abi/Layout.h). The tables themselves are
    never stored: the pattern library rebuilds them (the compiler's kernel
    emitter and the runtime alike), and the runtime checks the fingerprint.
    A layout without `blocks` has not been through elimination; kernels
    cannot run it. The verifier checks the counts and, for layouts of at
    most 65536 lower-triangle blocks, rebuilds the tables and compares.

    ```mlir
    st.layout @layout0 {pattern = #st.local<8>, n = 64, block = 16,
                        full = 0, partial = 7, empty = 3, upper = 6}
    // after stc-eliminate-upper-triangle:
    st.layout @layout0 {pattern = #st.local<8>, n = 64, block = 16,
                        full = 0, partial = 7, empty = 3, upper = 6,
                        blocks = 7, fnv1a64 = "8d1c5a3c26e8a4b1"}
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, St_AnyPatternAttr:$pattern,
                       I64Attr:$n, I64Attr:$block, I64Attr:$full,
                       OptionalAttr<I64Attr>:$partial,
                       OptionalAttr<I64Attr>:$empty,
                       OptionalAttr<I64Attr>:$upper,
                       OptionalAttr<I64Attr>:$blocks,
                       OptionalAttr<StrAttr>:$fnv1a64);
  let extraClassDeclaration = [{
    /// Whether stc-eliminate-upper-triangle has chosen the visited blocks.
    bool isEliminated() { return getBlocksAttr() != nullptr; }
    /// For what runs kernels over the layout (lowering, the artifact
    /// writer): fails, saying what to run, unless it is eliminated.
    ::mlir::LogicalResult requireEliminated() {
      if (isEliminated())
        return ::mlir::success();
      return emitOpError() << "classifies its blocks but does not list the "
                              "ones kernels visit; run "
                              "stc-eliminate-upper-triangle first";
    }
  }];
  let assemblyFormat = "$sym_name attr-dict";
  let hasVerifier = 1;
}

#endif // STC_DIALECT_ST_STOPS_TD
