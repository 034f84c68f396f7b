//===- Registration.cpp - Dialects stc's tools parse ----------------------===//

#include "passes/Passes.h"

#include "dialect/st/StDialect.h"
#include "dialect/stk/StkOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"

void stc::registerStcDialects(mlir::DialectRegistry &registry) {
  registry.insert<st::StDialect, stk::StkDialect, mlir::arith::ArithDialect,
                  mlir::func::FuncDialect, mlir::tensor::TensorDialect>();
}
