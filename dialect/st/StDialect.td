//===- StDialect.td - The st dialect ------------------------*- tablegen -*-===//
//
// st: Sparse Transformer models and attention patterns at the tensor level.
//
//===----------------------------------------------------------------------===//

#ifndef STC_DIALECT_ST_STDIALECT_TD
#define STC_DIALECT_ST_STDIALECT_TD

include "mlir/IR/OpBase.td"

def St_Dialect : Dialect {
  let name = "st";
  let cppNamespace = "::stc::st";
  let summary = "Sparse Transformer models and attention patterns";
  let description = [{
    The `st` dialect states Sparse Transformer models (Child et al., 2019) and
    their factorized attention patterns. A pattern is an element predicate
    allowed(q, k) that always implies k <= q; built-in patterns (`#st.causal`,
    `#st.local`, `#st.strided`, `#st.fixed`, `#st.blocks`), unions of them, and
    user-defined predicates written in IR (`st.pattern` + `#st.predicate`) all
    have exact semantics given by the stc pattern library. `st.model` states a
    whole model in a few lines; tensor-level ops (`st.embed`, `st.layer_norm`,
    `st.linear`, `st.attention`, ...) state its forward computation.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
    void registerAttributes();
  }];
}

class St_Op<string mnemonic, list<Trait> traits = []>
    : Op<St_Dialect, mnemonic, traits>;

#endif // STC_DIALECT_ST_STDIALECT_TD
