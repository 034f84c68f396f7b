//===- StkOps.h - The stk kernel-program dialect ----------------*- C++ -*-===//

#ifndef STC_DIALECT_STK_STKOPS_H
#define STC_DIALECT_STK_STKOPS_H

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

/// Bytes of one element of a buffer's element type (f32/i32: 4, bf16/f16: 2).
int64_t elementBytes(mlir::Type elementType);

/// "f32", "bf16", "f16" or "i32".
std::string dtypeName(mlir::Type elementType);

} // namespace stc::stk

#endif // STC_DIALECT_STK_STKOPS_H
