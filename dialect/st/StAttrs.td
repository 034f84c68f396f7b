//===- StAttrs.td - st attributes ---------------------------*- tablegen -*-===//
//
// Attention patterns and position-embedding kinds.
//
//===----------------------------------------------------------------------===//

#ifndef STC_DIALECT_ST_STATTRS_TD
#define STC_DIALECT_ST_STATTRS_TD

include "dialect/st/StDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

//===----------------------------------------------------------------------===//
// Pattern interface
//===----------------------------------------------------------------------===//

def St_PatternAttrInterface : AttrInterface<"PatternAttrInterface"> {
  let cppNamespace = "::stc::st";
  let description = [{
    An attention pattern: an element predicate allowed(q, k), always with
    k <= q. Every pattern converts to the pattern library's exact form, from
    which layouts, densities and masks are derived.
  }];
  let methods = [
    InterfaceMethod<[{
        Returns the pattern's exact semantics. Symbol references (user
        predicates) are resolved from `from`; failures are reported on it.
      }],
      "::mlir::FailureOr<::stc::pattern::Pattern>", "toPattern",
      (ins "::mlir::Operation *":$from)>,
  ];
}

class St_PatternAttr<string name, string attrMnemonic>
    : AttrDef<St_Dialect, name,
              [DeclareAttrInterfaceMethods<St_PatternAttrInterface>]> {
  let mnemonic = attrMnemonic;
}

//===----------------------------------------------------------------------===//
// Built-in patterns
//===----------------------------------------------------------------------===//

def St_CausalAttr : St_PatternAttr<"Causal", "causal"> {
  let summary = "dense causal attention: every k <= q";
  let description = [{
    The dense autoregressive pattern: query q attends to every key k <= q.

    ```mlir
    st.block attention [#st.causal]
    ```
  }];
}

def St_LocalAttr : St_PatternAttr<"Local", "local"> {
  let summary = "local attention: q - k < window";
  let description = [{
    Each query attends to itself and the `window - 1` positions before it:
    allowed(q, k) iff 0 <= q - k < window. The first head of the paper's
    strided pattern, with window l ~ sqrt(n).

    ```mlir
    #st.local<128>
    ```
  }];
  let parameters = (ins "int64_t":$window);
  let assemblyFormat = "`<` $window `>`";
  let genVerifyDecl = 1;
}

def St_StridedAttr : St_PatternAttr<"Strided", "strided"> {
  let summary = "strided attention: (q - k) mod stride == 0";
  let description = [{
    Each query attends to every `stride`-th position before it, itself
    included: allowed(q, k) iff k <= q and (q - k) mod stride == 0. The second
    head of the paper's strided pattern.

    ```mlir
    #st.strided<128>
    ```
  }];
  let parameters = (ins "int64_t":$stride);
  let assemblyFormat = "`<` $stride `>`";
  let genVerifyDecl = 1;
}

def St_FixedAttr : St_PatternAttr<"Fixed", "fixed"> {
  let summary = "fixed attention: same block, or a summary column";
  let description = [{
    The paper's fixed pattern with block length l and summary width c (both
    heads merged): allowed(q, k) iff k <= q and (q / l == k / l or
    k mod l >= l - c). Requires 0 <= summary <= block; summary 0 keeps each
    position within its own block (block-diagonal causal attention, the form
    stc-normalize-patterns gives strided heads).

    ```mlir
    #st.fixed<block = 128, summary = 32>
    ```
  }];
  let parameters = (ins "int64_t":$block, "int64_t":$summary);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def St_GatheredAttr : St_PatternAttr<"Gathered", "gathered"> {
  let summary = "fixed's summary columns, gathered: earlier blocks' summaries";
  let description = [{
    Over a key sequence that holds the summary columns of
    `#st.fixed<block = l, summary = c>` in order (c per fixed block, as
    `st.gather_summaries` writes them), query q sees the summaries of the
    fixed blocks before its own: allowed(q, k) iff k < (q / l) * c. What
    stc-normalize-patterns attends the gathered summaries with; the fixed
    pattern is this plus `#st.fixed<block = l, summary = 0>` over the
    original keys. Requires 0 <= summary <= block.

    ```mlir
    #st.gathered<block = 128, summary = 32>
    ```
  }];
  let parameters = (ins "int64_t":$block, "int64_t":$summary);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def St_UnionAttr : St_PatternAttr<"Union", "union"> {
  let summary = "union of patterns (a merged head)";
  let description = [{
    Allows (q, k) when any member does: the paper's merged factorization,
    one head attending to the union of several patterns.

    ```mlir
    #st.union<[#st.local<128>, #st.strided<128>]>
    ```
  }];
  let parameters = (ins "::mlir::ArrayAttr":$patterns);
  let assemblyFormat = "`<` $patterns `>`";
  let genVerifyDecl = 1;
}

def St_MinusAttr : St_PatternAttr<"Minus", "minus"> {
  let summary = "a pattern less another";
  let description = [{
    Allows (q, k) when `from` allows it and `without` does not.
    stc-normalize-patterns writes it for the members of a union left beside
    a strided member that it runs apart (permuted), so that no pair is
    attended twice; users may write it too.

    ```mlir
    #st.minus<#st.local<128>, #st.strided<128>>
    ```
  }];
  let parameters = (ins "::mlir::Attribute":$from, "::mlir::Attribute":$without);
  let assemblyFormat = "`<` $from `,` $without `>`";
  let genVerifyDecl = 1;
}

def St_BlockLayoutAttr : St_PatternAttr<"BlockLayout", "blocks"> {
  let summary = "an explicit block layout";
  let description = [{
    A pattern given directly at block granularity: allowed(q, k) iff k <= q
    and (q / block, k / block) is one of the listed (query block, key block)
    pairs. Pairs above the diagonal (key block > query block) are invalid.

    ```mlir
    #st.blocks<64, [0:0, 1:0, 1:1, 2:2]>
    ```
  }];
  let parameters = (ins "int64_t":$block,
                        ArrayRefParameter<"int64_t", "flattened (q, k) pairs">:$pairs);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def St_PredicateAttr : St_PatternAttr<"Predicate", "predicate"> {
  let summary = "a user-defined element predicate";
  let description = [{
    Refers to an `st.pattern` op by symbol: allowed(q, k) iff k <= q and the
    op's region yields true for (q, k). New patterns need no C++.

    ```mlir
    st.pattern @every_fourth(%q, %k) { ... }
    ... #st.predicate<@every_fourth> ...
    ```
  }];
  let parameters = (ins "::mlir::FlatSymbolRefAttr":$name);
  let assemblyFormat = "`<` $name `>`";
}

//===----------------------------------------------------------------------===//
// Position embeddings
//===----------------------------------------------------------------------===//

def St_PositionKind : I32EnumAttr<"PositionKind", "position embedding kind", [
    I32EnumAttrCase<"None", 0, "none">,
    I32EnumAttrCase<"Learned", 1, "learned">,
    I32EnumAttrCase<"DataAligned", 2, "data_aligned">,
    I32EnumAttrCase<"AttentionAligned", 3, "attention_aligned">]> {
  let cppNamespace = "::stc::st";
  let genSpecializedAttr = 0;
}

def St_PositionAttr : AttrDef<St_Dialect, "Position"> {
  let mnemonic = "position";
  let summary = "how positions are embedded";
  let description = [{
    - `none`: no position embedding.
    - `learned`: one learned vector per position (a [context, width] table).
    - `data_aligned dims = [d0, d1, ...]`: the position is split row-major into
      coordinates along the data's own dimensions (e.g. [32, 32, 3] for an
      image's row, column and channel) and one learned table per dimension is
      summed; the product of dims must equal the context.
    - `attention_aligned stride = l`: row (t / l) and column (t mod l) of the
      strided pattern's grid, each with a learned table; l must divide the
      context.

    ```mlir
    #st.position<learned>
    #st.position<data_aligned dims = [32, 32, 3]>
    #st.position<attention_aligned stride = 128>
    ```
  }];
  let parameters = (ins EnumParameter<St_PositionKind>:$kind,
                        OptionalArrayRefParameter<"int64_t">:$dims);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// One (divisor, modulus) per learned table: table p is indexed by
    /// (t / divisor) mod modulus for position t, given the context length.
    ::llvm::SmallVector<std::pair<int64_t, int64_t>>
    components(int64_t context) const;
  }];
}

//===----------------------------------------------------------------------===//
// Parameter initialisation
//===----------------------------------------------------------------------===//

def St_InitKind : I32EnumAttr<"InitKind", "parameter initialisation", [
    I32EnumAttrCase<"Normal", 0, "normal">,
    I32EnumAttrCase<"Zeros", 1, "zeros">,
    I32EnumAttrCase<"Ones", 2, "ones">]> {
  let cppNamespace = "::stc::st";
  let genSpecializedAttr = 0;
}

def St_InitAttr : AttrDef<St_Dialect, "Init"> {
  let mnemonic = "init";
  let summary = "how a parameter starts";
  let description = [{
    `normal` draws from N(0, std^2); `zeros` and `ones` are constant.

    ```mlir
    #st.init<normal, std = 0.02>
    #st.init<zeros>
    ```
  }];
  let parameters = (ins EnumParameter<St_InitKind>:$kind,
                        APFloatParameter<"standard deviation">:$std);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// Score modifications
//===----------------------------------------------------------------------===//

class St_ScoreModAttr<string name, string attrMnemonic>
    : AttrDef<St_Dialect, name> {
  let mnemonic = attrMnemonic;
  let parameters = (ins APFloatParameter<"the modification's constant">:$value);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def St_SoftcapAttr : St_ScoreModAttr<"Softcap", "softcap"> {
  let summary = "soft cap on attention scores: s -> cap * tanh(s / cap)";
  let description = [{
    Squashes each score smoothly into (-cap, cap), as Gemma 2 does with its
    attention logits. `cap` is finite and > 0.

    ```mlir
    st.block attention [#st.local<128>] score_mods [#st.softcap<30.0>]
    ```
  }];
}

def St_AlibiAttr : St_ScoreModAttr<"Alibi", "alibi"> {
  let summary = "ALiBi: a bias by distance, s -> s - m_h (q - k)";
  let description = [{
    Subtracts a per-head slope times the distance from query to key (Press
    et al., "Train Short, Test Long"): head h of H has slope
    m_h = 2^(-base (h + 1) / H), base 8 in the paper. `base` is finite and
    > 0.

    ```mlir
    st.block attention [#st.causal] score_mods [#st.alibi<8.0>]
    ```
  }];
}

def St_TemperatureAttr : St_ScoreModAttr<"Temperature", "temperature"> {
  let summary = "multiplies attention scores: s -> t * s";
  let description = [{
    Sharpens (t > 1) or flattens (t < 1) each head's softmax. `t` is finite
    and > 0. A temperature ahead of the other modifications folds into the
    kernels' score scale and costs nothing.

    ```mlir
    st.block attention [#st.strided<8>] score_mods [#st.temperature<0.5>]
    ```
  }];
}

#endif // STC_DIALECT_ST_STATTRS_TD
