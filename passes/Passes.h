//===- Passes.h - stc passes ------------------------------------*- C++ -*-===//

#ifndef STC_PASSES_PASSES_H
#define STC_PASSES_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace stc {

/// The dialects stc's tools parse: st and the upstream ones it builds on.
void registerStcDialects(mlir::DialectRegistry &registry);

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

} // namespace stc

#endif // STC_PASSES_PASSES_H
