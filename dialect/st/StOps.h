//===- StOps.h - st operations ----------------------------------*- C++ -*-===//

#ifndef STC_DIALECT_ST_STOPS_H
#define STC_DIALECT_ST_STOPS_H

#include "dialect/st/StAttrs.h"
#include "dialect/st/StDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/RegionKindInterface.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "pattern/Predicate.h"

#define GET_OP_CLASSES
#include "dialect/st/StOps.h.inc"

#endif // STC_DIALECT_ST_STOPS_H
