//===- StkOps.cpp - The stk kernel-program dialect ------------------------===//

#include "dialect/stk/StkOps.h"
#include "runtime/OpKind.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace stc;
using namespace stc::stk;

#include "dialect/stk/StkDialect.cpp.inc"

void StkDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialect/stk/StkOps.cpp.inc"
      >();
}

#define GET_OP_CLASSES
#include "dialect/stk/StkOps.cpp.inc"

int64_t stc::stk::elementBytes(Type t) {
  if (t.isF32() || t.isInteger(32))
    return 4;
  if (t.isBF16() || t.isF16())
    return 2;
  return 0;
}

std::string stc::stk::dtypeName(Type t) {
  if (t.isF32())
    return "f32";
  if (t.isBF16())
    return "bf16";
  if (t.isF16())
    return "f16";
  if (t.isInteger(32))
    return "i32";
  return "?";
}

namespace {
constexpr const char *kRoles =
    "param, grad, moment, activation, input, output, scalars, cache";
} // namespace

bool BufferOp::isPersistent() {
  StringRef role = getRole();
  return role == "param" || role == "moment" || role == "scalars" ||
         role == "cache";
}

int64_t BufferOp::sizeInBytes() {
  auto type = cast<RankedTensorType>(getType());
  return type.getNumElements() * elementBytes(type.getElementType());
}

LogicalResult BufferOp::verify() {
  auto type = dyn_cast<RankedTensorType>(getType());
  if (!type || !type.hasStaticShape() || !elementBytes(type.getElementType()))
    return emitOpError() << "type must be a static tensor of f32, bf16, f16 "
                            "or i32, got "
                         << getType();
  bool known = llvm::StringSwitch<bool>(getRole())
                   .Cases({"param", "grad", "moment", "activation", "input"}, true)
                   .Cases({"output", "scalars", "cache"}, true)
                   .Default(false);
  if (!known)
    return emitOpError() << "unknown role '" << getRole()
                         << "'; valid: " << kRoles;
  if (getOffset() && (*getOffset() < 0 || *getOffset() % 256 != 0))
    return emitOpError() << "offset " << *getOffset()
                         << " must be a non-negative multiple of 256";
  return success();
}

namespace {
/// Fixed argument counts of the artifact op kinds (docs/artifact-format.md);
/// -1 marks kinds whose count depends on attributes (the runtime checks
/// those against the attributes when it loads the artifact).
int64_t expectedArgs(StringRef kind) {
  return llvm::StringSwitch<int64_t>(kind)
      .Case("zero", 1)
      .Cases({"embed_fwd", "embed_bwd"}, -1)
      .Case("layer_norm_fwd", 6)
      .Case("layer_norm_bwd", 8)
      .Case("gemm", -1)
      .Case("bias_grad", 2)
      .Case("gelu_fwd", 2)
      .Case("gelu_bwd", 3)
      .Case("add", 3)
      .Case("accumulate", 2)
      .Cases({"dropout_fwd", "dropout_bwd"}, 2)
      .Case("attention_fwd", 5)
      .Case("attention_bwd", 9)
      .Case("xent_fwd", 3)
      .Case("xent_fwd_bwd", 4)
      .Case("sumsq", 2)
      .Case("adamw", 5)
      .Case("kv_store", 2)
      .Case("attention_decode", 4)
      .Default(-1);
}
} // namespace

LogicalResult LaunchOp::verify() {
  if (!rt::parseOpKind(getKind().str()))
    return emitOpError() << "unknown op kind '" << getKind()
                         << "'; valid: " << rt::validOpKinds();
  int64_t expected = expectedArgs(getKind());
  int64_t got = static_cast<int64_t>(getArgs().size());
  if (expected >= 0 && got != expected)
    return emitOpError() << "'" << getKind() << "' takes " << expected
                         << " buffers, got " << got;
  if (getKind() == "gemm" && got != 3 && got != 4)
    return emitOpError() << "'gemm' takes 3 buffers (A, B, C) or 4 (with "
                            "bias), got "
                         << got;
  return success();
}

LogicalResult
LaunchOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  for (Attribute arg : getArgs()) {
    auto ref = cast<SymbolRefAttr>(arg);
    if (!symbolTable.lookupNearestSymbolFrom<BufferOp>(*this, ref))
      return emitOpError() << "argument " << ref << " is not an stk.buffer";
  }
  return success();
}
