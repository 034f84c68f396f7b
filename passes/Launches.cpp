//===- Launches.cpp - stk.launch ops as abi/Ops.def sees them -------------===//

#include "passes/Launches.h"

#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;

namespace stc::launches {

namespace {

/// The ArgRow index of every argument: each row once, EACH rows once per
/// list entry, rows with presentIf only when their flag is on.
SmallVector<int> argRows(const abi::OpSpec &spec, const abi::OpAttrs &attrs,
                         size_t count) {
  // Only EACH rows repeat; a row's repeat count is the list size, which
  // abi::signature already expanded. Map by name: "x" or "x_3" -> row "x".
  SmallVector<int> rows;
  std::vector<abi::Arg> sig = abi::signature(spec.kind, attrs);
  for (size_t i = 0; i < count; ++i) {
    int found = -1;
    if (i < sig.size())
      for (size_t r = 0; r < spec.args.size(); ++r) {
        StringRef row = spec.args[r].name, name = sig[i].name;
        if (name == row ||
            (spec.args[r].eachOf[0] && name.starts_with(row) &&
             name.size() > row.size() && name[row.size()] == '_')) {
          found = static_cast<int>(r);
          break;
        }
      }
    rows.push_back(found);
  }
  return rows;
}

} // namespace

std::optional<size_t> LaunchInfo::arg(StringRef name) const {
  for (auto [i, row] : llvm::enumerate(rows))
    if (row >= 0 && StringRef(spec->args[row].name) == name)
      return i;
  return std::nullopt;
}

// (stk.launch's generated accessors are not const.)
StringRef LaunchInfo::kind() const {
  return const_cast<stk::LaunchOp &>(op).getKind();
}

DictionaryAttr LaunchInfo::params() const {
  return const_cast<stk::LaunchOp &>(op).getParams();
}

int64_t intParam(DictionaryAttr params, StringRef name, int64_t absent) {
  auto a = params.getAs<IntegerAttr>(name);
  return a ? a.getInt() : absent;
}

bool flagParam(DictionaryAttr params, StringRef name) {
  auto a = params.getAs<BoolAttr>(name);
  return a && a.getValue();
}

std::optional<LaunchInfo> describe(stk::LaunchOp op) {
  LaunchInfo info;
  info.op = op;
  info.spec = abi::findOpSpec(op.getKind());
  if (!info.spec)
    return std::nullopt;
  abi::Problem problem;
  auto checked =
      abi::checkAttrs(*info.spec, stk::launchAttrs(op.getParams()), &problem);
  if (!checked || checked->second.size() != op.getArgs().size())
    return std::nullopt;
  for (auto [i, arg] : llvm::enumerate(op.getArgs())) {
    info.args.push_back(cast<FlatSymbolRefAttr>(arg).getAttr());
    info.roles.push_back(checked->second[i].role);
  }
  info.rows = argRows(*info.spec, checked->first, info.args.size());
  return info;
}

std::optional<SmallVector<LaunchInfo>> describeAll(stk::ProgramOp program) {
  SmallVector<LaunchInfo> ops;
  for (auto op : program.getBody().front().getOps<stk::LaunchOp>()) {
    auto info = describe(op);
    if (!info)
      return std::nullopt;
    ops.push_back(std::move(*info));
  }
  return ops;
}

bool rewriteUntilFixpoint(
    ModuleOp module, function_ref<bool(ArrayRef<LaunchInfo>, size_t)> step) {
  for (auto program : module.getOps<stk::ProgramOp>())
    for (bool changed = true; changed;) {
      changed = false;
      auto ops = describeAll(program);
      if (!ops)
        return false;
      for (size_t i = 0; i < ops->size() && !changed; ++i)
        changed = step(*ops, i);
    }
  return true;
}

llvm::DenseSet<StringAttr> pinnedBuffers(ModuleOp module) {
  llvm::DenseSet<StringAttr> pinned;
  module.walk([&](Operation *op) {
    if (isa<stk::LaunchOp, stk::BufferOp>(op))
      return;
    for (NamedAttribute a : op->getAttrs())
      a.getValue().walk(
          [&](FlatSymbolRefAttr ref) { pinned.insert(ref.getAttr()); });
  });
  return pinned;
}

llvm::DenseMap<StringAttr, stk::BufferOp> buffersByName(ModuleOp module) {
  llvm::DenseMap<StringAttr, stk::BufferOp> buffers;
  for (auto b : module.getOps<stk::BufferOp>())
    buffers[b.getSymNameAttr()] = b;
  return buffers;
}

SmallVector<std::pair<size_t, size_t>> usesOf(ArrayRef<LaunchInfo> ops,
                                              StringAttr name) {
  SmallVector<std::pair<size_t, size_t>> uses;
  for (auto [i, op] : llvm::enumerate(ops))
    for (auto [j, arg] : llvm::enumerate(op.args))
      if (arg == name)
        uses.push_back({i, j});
  return uses;
}

std::optional<size_t> soleWriter(ArrayRef<LaunchInfo> ops, StringAttr name) {
  std::optional<size_t> w;
  for (auto [k, j] : usesOf(ops, name))
    if (ops[k].roles[j] != abi::Role::In) {
      if (w)
        return std::nullopt; // more than one writer (or argument)
      w = k;
    }
  return w;
}

bool namedBetween(llvm::ArrayRef<LaunchInfo> ops, mlir::StringAttr name,
                  size_t from, size_t to, bool writesOnly) {
  for (auto [k, j] : usesOf(ops, name))
    if (k > from && k < to &&
        (!writesOnly || ops[k].roles[j] != abi::Role::In))
      return true;
  return false;
}

void recordCount(mlir::ModuleOp module, llvm::StringRef name, int64_t count) {
  if (count == 0)
    return;
  mlir::MLIRContext *ctx = module.getContext();
  module->setAttr(name, mlir::IntegerAttr::get(mlir::IntegerType::get(ctx, 64),
                                               count));
}

} // namespace stc::launches
