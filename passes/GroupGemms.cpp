//===- GroupGemms.cpp - stc-group-gemms -----------------------------------===//
//
// A layer's Q, K and V projections are three gemms reading the same input,
// and so are their weight gradients (with their bias gradients, after
// stc-fuse-gemm-epilogues). Gemms of one shape sharing A become one
// `gemm_group` (abi/Ops.def), which the CUDA executor runs as one
// strided-batched cuBLASLt call when each list of buffers (the B_i, the
// C_i, the biases, the bias gradients) lies at equal distances: the pass
// records those lists in `stk.buffer_groups`, and stc-plan-memory places
// each list side by side.
//
// Members: plain gemms (a bias or a bias gradient, no gelu epilogue) with
// the same A, M, K, widths N, flags, alpha and beta, within a few launches
// of each other; the group runs where its last member ran, so nothing
// between a member and it may write that member's A or B or name its C or
// db. A buffer already in another recorded list keeps its gemm out. The
// module gets `stk.grouped_gemms` (the gemms that joined a group).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "passes/Launches.h"

#include "dialect/stk/StkOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace stc {
#define GEN_PASS_DEF_GROUPGEMMSPASS
#include "passes/Passes.h.inc"
} // namespace stc

using namespace mlir;
using namespace stc;
using launches::LaunchInfo;

namespace {

constexpr size_t kWindow = 8; ///< launches between a group's first and last

bool flag(const LaunchInfo &op, StringRef name) {
  return launches::flagParam(op.params(), name);
}

/// The parameters two gemms must share to be one group's members.
bool sameShape(const LaunchInfo &a, const LaunchInfo &b) {
  DictionaryAttr pa = a.params(), pb = b.params();
  for (StringRef name : {"M", "N", "K"})
    if (launches::intParam(pa, name, -1) != launches::intParam(pb, name, -1))
      return false;
  for (StringRef name : {"trans_a", "trans_b", "bias", "bias_grad"})
    if (flag(a, name) != flag(b, name))
      return false;
  return pa.get("alpha") == pb.get("alpha") && pa.get("beta") == pb.get("beta");
}

bool groupable(const LaunchInfo &op) {
  return op.kind() == "gemm" && !flag(op, "gelu") && !flag(op, "dgelu");
}

struct GroupGemmsPass
    : public stc::impl::GroupGemmsPassBase<GroupGemmsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Buffer lists recorded so far (this pass's, and any earlier ones').
    if (auto old = module->getAttrOfType<ArrayAttr>("stk.buffer_groups"))
      for (Attribute list : old)
        recordList(cast<ArrayAttr>(list));
    int64_t grouped = 0;
    auto step = [&](ArrayRef<LaunchInfo> ops, size_t i) {
      size_t n = groupAt(ops, i);
      grouped += static_cast<int64_t>(n);
      return n > 0;
    };
    if (!launches::rewriteUntilFixpoint(module, step))
      return signalPassFailure(); // the verifier has said why
    if (grouped == 0)
      return;
    module->setAttr("stk.buffer_groups", ArrayAttr::get(&getContext(), lists));
    launches::recordCount(module, "stk.grouped_gemms", grouped);
  }

  void recordList(ArrayAttr list) {
    for (Attribute ref : list)
      listOf[cast<FlatSymbolRefAttr>(ref).getAttr()] = list;
    lists.push_back(list);
  }

  /// Whether `names` can be recorded as one list: distinct, and each either
  /// in no list yet or all of them in this same list already.
  bool listFits(ArrayRef<StringAttr> names, ArrayAttr &existing) const {
    existing = {};
    llvm::DenseSet<StringAttr> seen;
    for (StringAttr n : names)
      if (!seen.insert(n).second)
        return false;
    auto it = listOf.find(names.front());
    if (it == listOf.end()) {
      for (StringAttr n : names)
        if (listOf.count(n))
          return false;
      return true;
    }
    ArrayAttr list = it->second;
    if (list.size() != names.size())
      return false;
    for (auto [ref, n] : llvm::zip(list, names))
      if (cast<FlatSymbolRefAttr>(ref).getAttr() != n)
        return false;
    existing = list;
    return true;
  }

  /// Groups the gemms sharing ops[i]'s A and shape; returns how many
  /// joined (0: no group here).
  size_t groupAt(ArrayRef<LaunchInfo> ops, size_t i) {
    const LaunchInfo &first = ops[i];
    if (!groupable(first))
      return 0;
    StringAttr a = first.args[*first.arg("A")];
    SmallVector<size_t> members = {i};
    for (size_t j = i + 1;
         j < ops.size() && j <= i + kWindow &&
         static_cast<int64_t>(members.size()) < abi::kMaxGemmGroup;
         ++j)
      if (groupable(ops[j]) && sameShape(first, ops[j]) &&
          ops[j].args[*ops[j].arg("A")] == a)
        members.push_back(j);
    if (members.size() < 2)
      return 0;
    const size_t last = members.back();
    auto argOf = [&](size_t m, StringRef row) -> StringAttr {
      std::optional<size_t> k = ops[m].arg(row);
      return k ? ops[m].args[*k] : StringAttr();
    };
    // Each member runs at `last` instead: its inputs must hold until then,
    // and nothing between may see or write its outputs.
    for (size_t m : members) {
      if (launches::namedBetween(ops, a, m, last + 1, true) ||
          launches::namedBetween(ops, argOf(m, "B"), m, last + 1, true))
        return 0;
      for (StringRef out : {"C", "db"})
        if (StringAttr o = argOf(m, out);
            o && launches::namedBetween(ops, o, m, last, false))
          return 0;
    }
    // The lists the planner places side by side.
    SmallVector<SmallVector<StringAttr>> named(4);
    const char *rows[] = {"B", "C", "bias", "db"};
    for (size_t m : members)
      for (int r = 0; r < 4; ++r)
        if (StringAttr n = argOf(m, rows[r]))
          named[r].push_back(n);
    SmallVector<ArrayAttr> existing(4);
    for (int r = 0; r < 4; ++r)
      if (!named[r].empty() && !listFits(named[r], existing[r]))
        return 0;

    MLIRContext *ctx = &getContext();
    SmallVector<Attribute> args = {FlatSymbolRefAttr::get(a)};
    for (auto &list : named)
      for (StringAttr n : list)
        args.push_back(FlatSymbolRefAttr::get(n));
    NamedAttrList params(first.params());
    const int64_t width = launches::intParam(first.params(), "N", 0);
    params.erase("N");
    stk::LaunchOp at = ops[last].op;
    OpBuilder b(at);
    params.set("widths", b.getI64ArrayAttr(
                             SmallVector<int64_t>(members.size(), width)));
    stk::LaunchOp::create(b, at.getLoc(),
                          b.getStringAttr("gemm_group"), b.getArrayAttr(args),
                          params.getDictionary(ctx));
    for (size_t m : members) {
      stk::LaunchOp op = ops[m].op;
      op.erase();
    }
    for (int r = 0; r < 4; ++r) {
      if (named[r].empty() || existing[r])
        continue;
      SmallVector<Attribute> refs;
      for (StringAttr n : named[r])
        refs.push_back(FlatSymbolRefAttr::get(n));
      recordList(ArrayAttr::get(ctx, refs));
    }
    return members.size();
  }

  SmallVector<Attribute> lists;
  llvm::DenseMap<StringAttr, ArrayAttr> listOf;
};

} // namespace
