//===- PatternOp.cpp - User-defined element predicates --------------------===//
//
// st.pattern regions become pattern-library predicates here: the one place
// where IR meets the exact semantics every later stage derives from.
//
//===----------------------------------------------------------------------===//

#include "dialect/st/StOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace stc;
using namespace stc::st;
using pattern::ExprOp;

namespace {

/// The arith ops a predicate may use, for the diagnostic.
constexpr const char *kSupportedOps =
    "arith.constant, addi, subi, muli, divsi, divui, remsi, remui, "
    "floordivsi, minsi, maxsi, minui, maxui, andi, ori, xori, shli, shrsi, "
    "shrui, cmpi, select, index_cast, extui";

std::optional<ExprOp> binaryExprOp(Operation *op) {
  return llvm::TypeSwitch<Operation *, std::optional<ExprOp>>(op)
      .Case([](arith::AddIOp) { return ExprOp::Add; })
      .Case([](arith::SubIOp) { return ExprOp::Sub; })
      .Case([](arith::MulIOp) { return ExprOp::Mul; })
      .Case([](arith::DivSIOp) { return ExprOp::DivS; })
      .Case([](arith::DivUIOp) { return ExprOp::DivU; })
      .Case([](arith::RemSIOp) { return ExprOp::RemS; })
      .Case([](arith::RemUIOp) { return ExprOp::RemU; })
      .Case([](arith::FloorDivSIOp) { return ExprOp::FloorDivS; })
      .Case([](arith::MinSIOp) { return ExprOp::MinS; })
      .Case([](arith::MaxSIOp) { return ExprOp::MaxS; })
      .Case([](arith::MinUIOp) { return ExprOp::MinU; })
      .Case([](arith::MaxUIOp) { return ExprOp::MaxU; })
      .Case([](arith::AndIOp) { return ExprOp::And; })
      .Case([](arith::OrIOp) { return ExprOp::Or; })
      .Case([](arith::XOrIOp) { return ExprOp::Xor; })
      .Case([](arith::ShLIOp) { return ExprOp::Shl; })
      .Case([](arith::ShRSIOp) { return ExprOp::ShrS; })
      .Case([](arith::ShRUIOp) { return ExprOp::ShrU; })
      .Default([](Operation *) { return std::nullopt; });
}

ExprOp cmpExprOp(arith::CmpIPredicate pred) {
  switch (pred) {
  case arith::CmpIPredicate::eq: return ExprOp::Eq;
  case arith::CmpIPredicate::ne: return ExprOp::Ne;
  case arith::CmpIPredicate::slt: return ExprOp::Slt;
  case arith::CmpIPredicate::sle: return ExprOp::Sle;
  case arith::CmpIPredicate::sgt: return ExprOp::Sgt;
  case arith::CmpIPredicate::sge: return ExprOp::Sge;
  case arith::CmpIPredicate::ult: return ExprOp::Ult;
  case arith::CmpIPredicate::ule: return ExprOp::Ule;
  case arith::CmpIPredicate::ugt: return ExprOp::Ugt;
  case arith::CmpIPredicate::uge: return ExprOp::Uge;
  }
  return ExprOp::Eq;
}

/// Predicates compute in int64, so only types whose arithmetic agrees with it.
bool isSupportedType(Type t) { return t.isIndex() || t.isInteger(64) || t.isInteger(1); }

} // namespace

FailureOr<pattern::Predicate> PatternOp::toPredicate() {
  pattern::Predicate pred;
  llvm::DenseMap<Value, int32_t> nodeOf;
  Block &block = getBody().front();
  if (block.getNumArguments() != 2)
    return emitOpError() << "expects 2 region arguments (%q, %k), got "
                         << block.getNumArguments();
  nodeOf[block.getArgument(0)] = pred.addQ();
  nodeOf[block.getArgument(1)] = pred.addK();

  for (Operation &op : block) {
    for (Type t : op.getResultTypes())
      if (!isSupportedType(t))
        return op.emitOpError() << "produces " << t
                                << ", but pattern predicates compute on "
                                   "index, i64 and i1 only";
    if (auto yield = dyn_cast<YieldOp>(op)) {
      // The predicate's result is its last node.
      int32_t result = nodeOf.lookup(yield.getAllowed());
      if (result != static_cast<int32_t>(pred.nodes().size()) - 1)
        pred.add(ExprOp::Ne, result, pred.addConst(0));
      return pred;
    }
    if (auto cst = dyn_cast<arith::ConstantOp>(op)) {
      auto intAttr = dyn_cast<IntegerAttr>(cst.getValue());
      if (!intAttr)
        return op.emitOpError() << "is not an integer constant";
      int64_t v = intAttr.getType().isInteger(1) ? intAttr.getValue().getZExtValue()
                                                 : intAttr.getValue().getSExtValue();
      nodeOf[cst.getResult()] = pred.addConst(v);
      continue;
    }
    if (std::optional<ExprOp> bin = binaryExprOp(&op)) {
      nodeOf[op.getResult(0)] =
          pred.add(*bin, nodeOf.lookup(op.getOperand(0)),
                   nodeOf.lookup(op.getOperand(1)));
      continue;
    }
    if (auto cmp = dyn_cast<arith::CmpIOp>(op)) {
      nodeOf[cmp.getResult()] =
          pred.add(cmpExprOp(cmp.getPredicate()), nodeOf.lookup(cmp.getLhs()),
                   nodeOf.lookup(cmp.getRhs()));
      continue;
    }
    if (auto sel = dyn_cast<arith::SelectOp>(op)) {
      nodeOf[sel.getResult()] = pred.add(
          ExprOp::Select, nodeOf.lookup(sel.getCondition()),
          nodeOf.lookup(sel.getTrueValue()), nodeOf.lookup(sel.getFalseValue()));
      continue;
    }
    if (isa<arith::IndexCastOp, arith::ExtUIOp>(op)) {
      // Value-preserving here: i1 is 0/1 and index is 64-bit.
      nodeOf[op.getResult(0)] = nodeOf.lookup(op.getOperand(0));
      continue;
    }
    return op.emitOpError() << "is not supported in a pattern predicate; "
                               "supported: "
                            << kSupportedOps;
  }
  return emitOpError() << "region must end with st.yield";
}

LogicalResult PatternOp::verify() {
  Block &block = getBody().front();
  if (block.getNumArguments() != 2 ||
      !llvm::all_of(block.getArgumentTypes(),
                    [](Type t) { return t.isIndex(); }))
    return emitOpError() << "expects exactly two index arguments (%q, %k)";
  if (block.empty() || !isa<YieldOp>(block.back()))
    return emitOpError() << "region must end with st.yield";
  FailureOr<pattern::Predicate> pred = toPredicate();
  if (failed(pred))
    return failure();

  // Patterns never look ahead. Check every k > q near the start and a few
  // offsets far out (predicates are usually periodic in q - k or k).
  auto looksAhead = [&](int64_t q, int64_t k) {
    if (pred->eval(q, k) == 0)
      return false;
    emitOpError() << "allows key k = " << k << " for query q = " << q
                  << ", which reads the future: patterns may only allow "
                     "k <= q (guard the predicate with `arith.cmpi ule, %k, "
                     "%q`)";
    return true;
  };
  for (int64_t q = 0; q < 128; ++q)
    for (int64_t k = q + 1; k < q + 129; ++k)
      if (looksAhead(q, k))
        return failure();
  for (int64_t q : {1000, 4095, 12287, 65535})
    for (int64_t d : {1, 2, 3, 7, 16, 31, 64, 127, 128, 1000})
      if (looksAhead(q, q + d))
        return failure();
  return success();
}

// st.pattern @name(%q, %k) { ... }
ParseResult PatternOp::parse(OpAsmParser &parser, OperationState &result) {
  StringAttr name;
  if (parser.parseSymbolName(name, getSymNameAttrName(result.name),
                             result.attributes))
    return failure();
  SmallVector<OpAsmParser::Argument> args;
  if (parser.parseArgumentList(args, OpAsmParser::Delimiter::Paren,
                               /*allowType=*/false))
    return failure();
  if (args.size() != 2)
    return parser.emitError(parser.getCurrentLocation(),
                            "st.pattern takes two arguments (%q, %k)");
  for (OpAsmParser::Argument &arg : args)
    arg.type = parser.getBuilder().getIndexType();
  Region *body = result.addRegion();
  if (parser.parseOptionalAttrDictWithKeyword(result.attributes) ||
      parser.parseRegion(*body, args))
    return failure();
  return success();
}

void PatternOp::print(OpAsmPrinter &p) {
  p << " ";
  p.printSymbolName(getSymName());
  Block &block = getBody().front();
  p << "(";
  llvm::interleaveComma(block.getArguments(), p,
                        [&](BlockArgument arg) { p.printOperand(arg); });
  p << ")";
  p.printOptionalAttrDictWithKeyword((*this)->getAttrs(),
                                     {getSymNameAttrName()});
  p << " ";
  p.printRegion(getBody(), /*printEntryBlockArgs=*/false);
}

void PatternOp::getAsmBlockArgumentNames(Region &region,
                                         OpAsmSetValueNameFn setNameFn) {
  if (region.empty() || region.front().getNumArguments() != 2)
    return;
  setNameFn(region.front().getArgument(0), "q");
  setNameFn(region.front().getArgument(1), "k");
}
