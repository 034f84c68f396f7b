//===- Passes.h - stc passes ------------------------------------*- C++ -*-===//

#ifndef STC_PASSES_PASSES_H
#define STC_PASSES_PASSES_H

#include "mlir/Pass/Pass.h"

namespace stc {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

} // namespace stc

#endif // STC_PASSES_PASSES_H
