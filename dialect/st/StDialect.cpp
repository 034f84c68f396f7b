//===- StDialect.cpp - The st dialect -------------------------------------===//

#include "dialect/st/StDialect.h"
#include "dialect/st/StAttrs.h"
#include "dialect/st/StOps.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace stc::st;

#include "dialect/st/StDialect.cpp.inc"

void StDialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "dialect/st/StOps.cpp.inc"
      >();
}
