//===- FuseAccumulate.cpp - stc-fuse-accumulate ---------------------------===//
//
// Autodiff sums the gradients of a value used twice with `add`: the three
// projections' input gradients, the residual stream around each layer norm,
// the keys and values of a split attention. Each such add reads two buffers
// and writes a third; most of them can instead be the accumulating form of
// the op that produces one of the two (a gemm with beta = 1, a layer norm
// backward or gelu backward with `accumulate`, a summary scatter with
// `accumulate`): that op adds into the other operand's buffer, the add and
// two buffers disappear. Which arguments can accumulate, and under which
// attribute, is read off abi/Ops.def (OutAcc rows), so a new op kind with an
// accumulating output takes part without a change here.
//
// add(x, y) -> out folds into P, the only writer of x (or of y, the other
// operand being b), when
//   - x is an activation of this program read only by the add and written
//     only by P, whose argument for it is OutAcc and off;
//   - b is an activation of this program, completely written before P, not
//     an argument of P, and not touched between P and the add nor after it;
//   - x, y and out have one type.
// P then writes into b with its accumulating attribute on, and every later
// use of out names b.
//
// When b is still read after the add (the forward's residual stream: the
// layer norm backward reads the block's input), accumulating into it is
// wrong; an op with a `residual` input (an In argument of that name, present
// under the bool attribute `residual`: dropout_fwd) takes b there instead
// and writes out itself: out = b + P(...). That needs only that x is P's
// alone and read only by the add, and that nothing writes b between P and
// the add.
//
// Each rewrite is exact in real arithmetic; in floating point the sum is
// rounded once (inside P) instead of twice.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "passes/Launches.h"

#include "dialect/stk/StkOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"

namespace stc {
#define GEN_PASS_DEF_FUSEACCUMULATEPASS
#include "passes/Passes.h.inc"
} // namespace stc

using namespace mlir;
using namespace stc;
using stc::launches::LaunchInfo;
using stc::launches::usesOf;

namespace {

struct FuseAccumulatePass
    : public stc::impl::FuseAccumulatePassBase<FuseAccumulatePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::DenseSet<StringAttr> pinned = launches::pinnedBuffers(module);
    llvm::DenseMap<StringAttr, stk::BufferOp> buffers =
        launches::buffersByName(module);

    int64_t folded = 0;
    auto step = [&](ArrayRef<LaunchInfo> ops, size_t i) {
      if (ops[i].kind() != "add" ||
          failed(fold(module, ops, i, pinned, buffers)))
        return false;
      ++folded;
      return true;
    };
    if (!launches::rewriteUntilFixpoint(module, step))
      return signalPassFailure(); // the verifier has said why
    launches::recordCount(module, "stk.folded_adds", folded);
  }

  /// The argument through which op p writes `a`, when p overwrites it (Out)
  /// and nothing but the add (one other use) reads it.
  static std::optional<size_t> foldableOutput(ArrayRef<LaunchInfo> ops,
                                              StringAttr a, size_t p) {
    auto uses = usesOf(ops, a);
    if (uses.size() != 2)
      return std::nullopt;
    for (auto [k, j] : uses)
      if (k == p && ops[p].roles[j] == abi::Role::Out)
        return j;
    return std::nullopt;
  }

  LogicalResult fold(ModuleOp module, ArrayRef<LaunchInfo> ops, size_t i,
                     llvm::DenseSet<StringAttr> &pinned,
                     llvm::DenseMap<StringAttr, stk::BufferOp> &buffers) {
    const LaunchInfo &add = ops[i];
    StringAttr x = add.args[0], y = add.args[1], out = add.args[2];
    if (x == y || x == out || y == out)
      return failure();
    auto isActivation = [&](StringAttr n) {
      auto b = buffers.lookup(n);
      return b && b.getRole() == "activation" && !pinned.contains(n);
    };
    Type type = buffers.lookup(out) ? buffers.lookup(out).getType() : Type();
    if (!type || !isActivation(x) || !isActivation(y) ||
        buffers.lookup(x).getType() != type ||
        buffers.lookup(y).getType() != type)
      return failure();

    // Try the operand produced later first: its producer runs after the
    // other operand is complete.
    auto writer = [&](StringAttr n) { return launches::soleWriter(ops, n); };
    auto wx = writer(x), wy = writer(y);
    SmallVector<std::pair<StringAttr, StringAttr>, 2> order;
    if (wx && wy && *wy > *wx)
      order = {{y, x}, {x, y}};
    else
      order = {{x, y}, {y, x}};
    for (auto [a, b] : order) {
      auto p = writer(a);
      if (!p || *p >= i)
        continue;
      const LaunchInfo &prod = ops[*p];
      // a: written by P (Out, accumulating form available and off), read
      // only by the add.
      std::optional<size_t> slot = foldableOutput(ops, a, *p);
      if (!slot || prod.rows[*slot] < 0)
        continue;
      const size_t argA = *slot;
      const abi::ArgRow &row = prod.spec->args[prod.rows[argA]];
      if (!row.accumulateIf || !row.accumulateIf[0])
        continue;
      const abi::AttrRow *attr = prod.spec->attr(row.accumulateIf);
      if (!attr ||
          (attr->type != abi::AttrType::Bool && attr->type != abi::AttrType::Num))
        continue;
      // b: complete before P, untouched by P, between P and the add, and
      // after the add.
      bool ok = true, written = false;
      for (auto [k, j] : usesOf(ops, b)) {
        if (k < *p)
          written |= ops[k].roles[j] != abi::Role::In;
        else if (k != i)
          ok = false;
      }
      if (!ok || !written)
        continue;

      // Rewrite: P accumulates into b; the add goes; out is b from here on.
      stk::LaunchOp pop = prod.op;
      OpBuilder builder(pop);
      SmallVector<Attribute> args(pop.getArgs().begin(), pop.getArgs().end());
      args[argA] = FlatSymbolRefAttr::get(b);
      pop.setArgsAttr(builder.getArrayAttr(args));
      NamedAttrList params(pop.getParams());
      params.set(row.accumulateIf,
                 attr->type == abi::AttrType::Bool
                     ? Attribute(builder.getBoolAttr(true))
                     : Attribute(builder.getF64FloatAttr(1.0)));
      pop.setParamsAttr(params.getDictionary(builder.getContext()));
      stk::LaunchOp addOp = add.op;
      addOp.erase();
      stk::BufferOp outBuf = buffers.lookup(out), aBuf = buffers.lookup(a);
      if (failed(SymbolTable::replaceAllSymbolUses(outBuf.getSymNameAttr(), b,
                                                    module)))
        return failure();
      if (pinned.contains(out))
        pinned.insert(b);
      buffers.erase(out);
      buffers.erase(a);
      outBuf.erase();
      aBuf.erase();
      return success();
    }
    return foldResidual(ops, i, order, writer, pinned, buffers);
  }

  /// add(x, y) -> out as P(..., residual = b) -> out (see the file comment).
  template <typename Writer>
  LogicalResult
  foldResidual(ArrayRef<LaunchInfo> ops, size_t i,
               ArrayRef<std::pair<StringAttr, StringAttr>> order,
               Writer &writer, llvm::DenseSet<StringAttr> &pinned,
               llvm::DenseMap<StringAttr, stk::BufferOp> &buffers) {
    const LaunchInfo &add = ops[i];
    StringAttr out = add.args[2];
    if (writer(out) != std::optional<size_t>(i))
      return failure();
    for (auto [a, b] : order) {
      auto p = writer(a);
      if (!p || *p >= i || pinned.contains(a))
        continue;
      const LaunchInfo &prod = ops[*p];
      const abi::ArgRow *row = nullptr;
      for (const abi::ArgRow &r : prod.spec->args)
        if (StringRef(r.name) == "residual" && r.role == abi::Role::In &&
            r.presentIf && r.presentIf[0])
          row = &r;
      if (!row)
        continue;
      stk::LaunchOp pop = prod.op;
      NamedAttrList params(pop.getParams());
      if (auto on = params.getNamed(row->presentIf);
          on && cast<BoolAttr>(on->getValue()).getValue())
        continue; // already takes a residual
      std::optional<size_t> slot = foldableOutput(ops, a, *p);
      if (!slot)
        continue;
      const size_t argA = *slot;
      bool ok = true;
      for (auto [k, j] : usesOf(ops, b))
        if (k >= *p && k < i && ops[k].roles[j] != abi::Role::In)
          ok = false;
      if (!ok || llvm::is_contained(prod.args, b))
        continue;

      // The new argument list: the old one by name, with the residual.
      OpBuilder builder(pop);
      params.set(row->presentIf, builder.getBoolAttr(true));
      abi::Problem problem;
      auto before =
          abi::checkAttrs(*prod.spec, stk::launchAttrs(pop.getParams()), &problem);
      auto after = abi::checkAttrs(
          *prod.spec,
          stk::launchAttrs(params.getDictionary(builder.getContext())),
          &problem);
      if (!before || !after)
        continue;
      SmallVector<Attribute> args;
      for (const abi::Arg &arg : after->second) {
        if (arg.name == "residual") {
          args.push_back(FlatSymbolRefAttr::get(b));
          continue;
        }
        size_t k = 0;
        while (k < before->second.size() && before->second[k].name != arg.name)
          ++k;
        if (k == before->second.size())
          return failure();
        args.push_back(k == argA ? FlatSymbolRefAttr::get(out)
                                 : pop.getArgs()[k]);
      }
      pop.setArgsAttr(builder.getArrayAttr(args));
      pop.setParamsAttr(params.getDictionary(builder.getContext()));
      stk::LaunchOp addOp = add.op;
      addOp.erase();
      stk::BufferOp aBuf = buffers.lookup(a);
      buffers.erase(a);
      aBuf.erase();
      return success();
    }
    return failure();
  }
};

} // namespace
