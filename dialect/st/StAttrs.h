//===- StAttrs.h - st attributes --------------------------------*- C++ -*-===//

#ifndef STC_DIALECT_ST_STATTRS_H
#define STC_DIALECT_ST_STATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Operation.h"
#include "mlir/Support/LLVM.h"
#include "pattern/Pattern.h"

#include "dialect/st/StEnums.h.inc"
#include "dialect/st/StAttrInterfaces.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/st/StAttrs.h.inc"

namespace stc::st {

/// Resolves each pattern attribute of `patterns` (the `patterns` array of an
/// op) from `from`, reporting failures on it.
mlir::FailureOr<llvm::SmallVector<pattern::Pattern>>
resolvePatterns(mlir::ArrayAttr patterns, mlir::Operation *from);

/// The pattern of each of `heads` heads when split evenly among `patterns`.
mlir::FailureOr<llvm::SmallVector<pattern::Pattern>>
resolveHeadPatterns(mlir::ArrayAttr patterns, int64_t heads,
                    mlir::Operation *from);

/// Union of all of them (what a layer's heads see together).
pattern::Pattern unionOfPatterns(llvm::ArrayRef<pattern::Pattern> patterns);

} // namespace stc::st

#endif // STC_DIALECT_ST_STATTRS_H
