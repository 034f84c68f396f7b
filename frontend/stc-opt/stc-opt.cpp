//===- stc-opt.cpp - stc's mlir-opt ---------------------------------------===//
//
// Parses, verifies and transforms st IR with stc's passes; the driver of the
// lit suite. Registers only the dialects stc's IR uses, stc's passes and the
// upstream canonicalizer (which runs the st ops' folders).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  stc::registerStcDialects(registry);
  stc::registerStcPasses();
  mlir::registerCanonicalizerPass();
  stc::registerCompilePipeline();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "stc optimizer driver\n", registry));
}
