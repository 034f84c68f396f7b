//===- stc-opt.cpp - stc's mlir-opt ---------------------------------------===//
//
// Parses, verifies and transforms st IR with stc's passes; the driver of the
// lit suite. Registers only the dialects stc's IR uses.
//
//===----------------------------------------------------------------------===//

#include "dialect/st/StDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<stc::st::StDialect, mlir::arith::ArithDialect,
                  mlir::func::FuncDialect, mlir::tensor::TensorDialect>();
  stc::registerStcPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "stc optimizer driver\n", registry));
}
