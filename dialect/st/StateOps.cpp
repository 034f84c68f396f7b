//===- StateOps.cpp - Parameters, optimizer and layouts -------------------===//

#include "dialect/st/StOps.h"

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
  if (n < 1 || block < 1)
    return emitOpError() << "n and block must be >= 1 (got n = " << n
                         << ", block = " << block << ")";
  pattern::BlockLayout expected = pattern::buildBlockLayout(*p, n, block);
  auto same = [](ArrayRef<int32_t> got, auto &&want) {
    if (got.size() != want.size())
      return false;
    for (size_t i = 0; i < got.size(); ++i)
      if (got[i] != static_cast<int32_t>(want[i]))
        return false;
    return true;
  };
  std::vector<int64_t> classes;
  for (pattern::BlockClass c : expected.classes)
    classes.push_back(static_cast<int64_t>(c));
  if (!same(getRowPtr(), expected.rowPtr) ||
      !same(getColIdx(), expected.colIdx) || !same(getClasses(), classes))
    return emitOpError() << "tables differ from the layout of "
                         << p->str() << " at n = " << n << ", block = "
                         << block << " (" << expected.numBlocks()
                         << " blocks); rebuild it with stc-tile-attention";
  return success();
}
