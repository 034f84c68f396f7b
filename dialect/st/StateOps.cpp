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
  return verifyParameterUse(*this, getParamAttr(), getGrad().getType(),
                            symbolTable);
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
  int64_t blocks = getBlocksAttr().getInt(), full = getFullAttr().getInt();
  if (blocks < 0 || blocks > std::min(lower, abi::kMaxLayoutBlocks) ||
      full < 0 || full > blocks)
    return emitOpError() << "lists " << blocks << " blocks, " << full
                         << " of them full; valid: 0 <= full <= blocks <= "
                         << std::min(lower, abi::kMaxLayoutBlocks)
                         << " (the lower triangle of " << rows
                         << " block rows, at most " << abi::kMaxLayoutBlocks
                         << ")";
  std::optional<uint64_t> hash = abi::parseHex64(getFnv1a64());
  if (!hash)
    return emitOpError() << "fnv1a64 '" << getFnv1a64()
                         << "' is not 16 lowercase hex digits";
  // Small layouts are rebuilt here; the runtime rebuilds every layout.
  if (lower > 65536)
    return success();
  pattern::BlockLayout expected = pattern::buildBlockLayout(*p, n, block);
  if (expected.numBlocks() != blocks || expected.numFull() != full ||
      abi::layoutFingerprint(expected) != *hash)
    return emitOpError() << "differs from the layout of " << p->str()
                         << " at n = " << n << ", block = " << block << " ("
                         << expected.numBlocks() << " blocks, "
                         << expected.numFull() << " full, fnv1a64 \""
                         << abi::hex64(abi::layoutFingerprint(expected))
                         << "\"); rebuild it with stc-tile-attention";
  return success();
}
