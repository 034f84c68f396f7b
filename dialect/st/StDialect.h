//===- StDialect.h - The st dialect -----------------------------*- C++ -*-===//

#ifndef STC_DIALECT_ST_STDIALECT_H
#define STC_DIALECT_ST_STDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Dialect.h"

#include "dialect/st/StDialect.h.inc"

#endif // STC_DIALECT_ST_STDIALECT_H
