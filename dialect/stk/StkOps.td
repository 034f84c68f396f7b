//===- StkOps.td - The stk kernel-program dialect -----------*- tablegen -*-===//
//
// stk: programs of kernels over named buffers, the last IR before the
// artifact. One stk.launch becomes one op of the artifact's program.
//
//===----------------------------------------------------------------------===//

#ifndef STC_DIALECT_STK_STKOPS_TD
#define STC_DIALECT_STK_STKOPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/RegionKindInterface.td"

def Stk_Dialect : Dialect {
  let name = "stk";
  let cppNamespace = "::stc::stk";
  let summary = "kernel programs over buffers";
  let description = [{
    The kernel program of a compiled model: buffers (`stk.buffer`, placed in
    one arena by stc-plan-memory), the parameter table (`stk.parameter`) and
    entry points (`stk.program`) holding kernel launches and library calls
    (`stk.launch`) in execution order. Layouts are `st.layout` symbols.
    Everything here maps one to one onto the artifact (docs/artifact-format.md).
  }];
}

class Stk_Op<string mnemonic, list<Trait> traits = []>
    : Op<Stk_Dialect, mnemonic, traits>;

def Stk_BufferOp : Stk_Op<"buffer", [Symbol]> {
  let summary = "a named tensor in device memory";
  let description = [{
    `role` is one of: param, grad, moment, activation, input, output, scalars,
    cache. Params, moments and scalars are persistent (never share bytes,
    survive across steps). Caches are session buffers: they keep their bytes
    across the sample steps of one sampling session (which fills them from
    position 0) and may share bytes with the training and evaluation steps'
    buffers. stc-plan-memory gives every buffer an `offset` into the arena.

    ```mlir
    stk.buffer @x0 : tensor<4x64x64xf32> role "activation" offset 0
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttr:$type,
                       StrAttr:$role, OptionalAttr<I64Attr>:$offset);
  let assemblyFormat = [{
    $sym_name `:` $type `role` $role (`offset` $offset^)? attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    bool isPersistent();
    /// A sampling cache: live for the whole sample program.
    bool isSession();
    int64_t sizeInBytes();
  }];
}

def Stk_ParameterOp : Stk_Op<"parameter", [Symbol]> {
  let summary = "a parameter's value, gradient and optimizer state";
  let description = [{
    `master` (bf16 parameters): an f32 copy of the value that AdamW updates,
    writing the value rounded from it.

    ```mlir
    stk.parameter @w {value = @w_value, grad = @w_grad, adam_m = @w_m,
                      adam_v = @w_v, init = #st.init<normal, std = 0.02>, decay}
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, FlatSymbolRefAttr:$value,
                       FlatSymbolRefAttr:$grad, FlatSymbolRefAttr:$adam_m,
                       FlatSymbolRefAttr:$adam_v, AnyAttr:$init,
                       UnitAttr:$decay, OptionalAttr<FlatSymbolRefAttr>:$master);
  let assemblyFormat = "$sym_name attr-dict";
}

def Stk_ProgramOp : Stk_Op<"program", [Symbol, NoTerminator, SingleBlock]> {
  let summary = "an entry point: kernel launches in order";
  let description = [{
    `inputs` and `outputs` map roles (tokens, targets, losses, token, logits)
    to buffers.

    ```mlir
    stk.program @train_step inputs {tokens = @tokens, targets = @targets}
                            outputs {losses = @losses} {
      stk.launch "zero" [@g] params {count = 64 : i64}
    }
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, DictionaryAttr:$inputs,
                       DictionaryAttr:$outputs);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $sym_name `inputs` $inputs `outputs` $outputs attr-dict-with-keyword $body
  }];
}

def Stk_LaunchOp : Stk_Op<"launch", [HasParent<"ProgramOp">,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "one op of the artifact program: a kernel or a library call";
  let description = [{
    `kind` is an artifact op kind (docs/artifact-format.md: layer_norm_fwd,
    gemm, attention_fwd, ...), `args` its buffers in the documented order and
    `params` its attributes.

    ```mlir
    stk.launch "gelu_fwd" [@u, @g] params {count = 16384 : i64}
    ```
  }];
  let arguments = (ins StrAttr:$kind, SymbolRefArrayAttr:$args,
                       DictionaryAttr:$params);
  let assemblyFormat = "$kind $args `params` $params attr-dict";
  let hasVerifier = 1;
}

#endif // STC_DIALECT_STK_STKOPS_TD
