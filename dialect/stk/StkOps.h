//===- StkOps.h - The stk kernel-program dialect ----------------*- C++ -*-===//

#ifndef STC_DIALECT_STK_STKOPS_H
#define STC_DIALECT_STK_STKOPS_H

#include "abi/OpSpec.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/RegionKindInterface.h"
#include "mlir/IR/SymbolTable.h"

#include "dialect/stk/StkDialect.h.inc"

#define GET_OP_CLASSES
#include "dialect/stk/StkOps.h.inc"

namespace stc::stk {

/// The artifact dtype of a buffer element type (f32, bf16, i32), if any.
std::optional<abi::DType> dtypeOf(mlir::Type elementType);

/// A launch's params in the contract's terms (abi::Attrs), for abi::checkOp.
abi::Attrs launchAttrs(mlir::DictionaryAttr params);

} // namespace stc::stk

#endif // STC_DIALECT_STK_STKOPS_H
