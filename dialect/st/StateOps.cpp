//===- StateOps.cpp - Parameters, optimizer and layouts -------------------===//

#include "dialect/st/StOps.h"

#include "abi/Hash.h"
#include "abi/Layout.h"
#include "abi/Limits.h"
#include "mlir/IR/SymbolTable.h"

using namespace mlir;
using namespace stc;
using namespace stc::st;

LogicalResult ParameterOp::verify() {
  auto type = dyn_cast<RankedTensorType>(getType());
  if (!type || !type.hasStaticShape() ||
      !isa<FloatType>(type.getElementType()))
    return emitOpError() << "type must be a statically shaped float tensor, "
                            "got "
                         << getType();
  return success();
}

/// The parameter `name` refers to, checked against `expected`.
static LogicalResult verifyParameterUse(Operation *op, FlatSymbolRefAttr name,
                                        Type expected,
                                        SymbolTableCollection &symbolTable) {
  auto param = symbolTable.lookupNearestSymbolFrom<ParameterOp>(op, name);
  if (!param)
    return op->emitOpError() << "refers to " << name
                             << ", which is not an st.parameter";
  if (param.getType() != expected)
    return op->emitOpError() << "expects " << expected << " but " << name
                             << " is " << param.getType();
  return success();
}

LogicalResult LoadOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  return verifyParameterUse(*this, getNameAttr(), getResult().getType(),
                            symbolTable);
}

LogicalResult AdamWOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto param = symbolTable.lookupNearestSymbolFrom<ParameterOp>(
      *this, getParamAttr());
  if (!param)
    return emitOpError() << "refers to " << getParamAttr()
                         << ", which is not an st.parameter";
  // The gradient: the parameter's shape, in its element type or f32.
  auto type = dyn_cast<RankedTensorType>(param.getType());
  auto grad = cast<RankedTensorType>(getGrad().getType());
  if (!type || grad.getShape() != type.getShape() ||
      (grad.getElementType() != type.getElementType() &&
       !grad.getElementType().isF32()))
    return emitOpError() << "expects a gradient of " << getParamAttr() << " ("
                         << param.getType()
                         << ") in its element type or f32, got " << grad;
  return success();
}

LogicalResult LayoutOp::verify() {
  auto pattern = cast<PatternAttrInterface>(getPattern());
  FailureOr<pattern::Pattern> p = pattern.toPattern(*this);
  if (failed(p))
    return failure();
  int64_t n = getNAttr().getInt(), block = getBlockAttr().getInt();
  std::string why = abi::checkLayoutRequest(*p, n, block);
  if (!why.empty())
    return emitOpError() << why;
  int64_t rows = (n + std::min(block, n) - 1) / std::min(block, n);
  int64_t lower = rows * (rows + 1) / 2;
  int64_t full = getFullAttr().getInt();
  // The classification (stc-tile-attention): every block of the grid once.
  const bool classified = getPartialAttr() || getEmptyAttr() || getUpperAttr();
  int64_t partial = 0, empty = 0;
  if (classified) {
    if (!getPartialAttr() || !getEmptyAttr() || !getUpperAttr())
      return emitOpError() << "classifies its blocks only in part; give "
                              "full, partial, empty and upper together";
    partial = static_cast<int64_t>(*getPartial());
    empty = static_cast<int64_t>(*getEmpty());
    int64_t upper = static_cast<int64_t>(*getUpper());
    if (full < 0 || partial < 0 || empty < 0 || upper != lower - rows ||
        full + partial + empty != lower)
      return emitOpError()
             << "classifies " << full << " full, " << partial << " partial, "
             << empty << " empty and " << upper << " upper blocks; a grid of "
             << rows << " x " << rows << " blocks has " << lower - rows
             << " above the diagonal and " << lower
             << " on or below it (full + partial + empty)";
  }
  if (!isEliminated()) {
    if (getFnv1a64Attr())
      return emitOpError() << "has a fingerprint but no blocks; "
                              "stc-eliminate-upper-triangle sets both";
    if (!classified)
      return emitOpError() << "has neither its classification (partial, "
                              "empty, upper) nor its blocks; build it with "
                              "stc-tile-attention";
  } else {
    int64_t blocks = static_cast<int64_t>(*getBlocks());
    if (blocks < 0 || blocks > std::min(lower, abi::kMaxLayoutBlocks) ||
        full < 0 || full > blocks)
      return emitOpError() << "lists " << blocks << " blocks, " << full
                           << " of them full; valid: 0 <= full <= blocks <= "
                           << std::min(lower, abi::kMaxLayoutBlocks)
                           << " (the lower triangle of " << rows
                           << " block rows, at most " << abi::kMaxLayoutBlocks
                           << ")";
    if (classified && blocks != full + partial)
      return emitOpError() << "lists " << blocks << " blocks but classifies "
                           << full << " full and " << partial
                           << " partial; the visited blocks are exactly those";
    if (!getFnv1a64Attr())
      return emitOpError() << "lists its blocks without their fingerprint "
                              "(fnv1a64)";
    if (!abi::parseHex64(*getFnv1a64()))
      return emitOpError() << "fnv1a64 '" << *getFnv1a64()
                           << "' is not 16 lowercase hex digits";
  }
  // Small layouts are rebuilt here; the runtime rebuilds every layout.
  if (lower > 65536)
    return success();
  pattern::BlockLayout expected = pattern::buildBlockLayout(*p, n, block);
  const int64_t expectedFull = expected.numFull();
  const int64_t expectedPartial = expected.numBlocks() - expectedFull;
  const uint64_t hash = abi::layoutFingerprint(expected);
  if ((classified && (full != expectedFull || partial != expectedPartial)) ||
      (isEliminated() &&
       (static_cast<int64_t>(*getBlocks()) != expected.numBlocks() ||
        full != expectedFull || *abi::parseHex64(*getFnv1a64()) != hash)))
    return emitOpError() << "differs from the layout of " << p->str()
                         << " at n = " << n << ", block = " << block << " ("
                         << expected.numBlocks() << " blocks: " << expectedFull
                         << " full, " << expectedPartial << " partial, "
                         << lower - expected.numBlocks()
                         << " empty; fnv1a64 \"" << abi::hex64(hash)
                         << "\"); rebuild it with stc-tile-attention and "
                            "stc-eliminate-upper-triangle";
  return success();
}
