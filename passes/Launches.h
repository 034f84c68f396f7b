//===- Launches.h - stk.launch ops as abi/Ops.def sees them -----*- C++ -*-===//
//
// The passes that rewrite the kernel program (stc-fuse-accumulate,
// stc-fold-summary-gathers) read each launch's arguments with their roles
// under the launch's current attributes, from abi/Ops.def's rows.
//
//===----------------------------------------------------------------------===//

#ifndef STC_PASSES_LAUNCHES_H
#define STC_PASSES_LAUNCHES_H

#include "abi/OpSpec.h"
#include "dialect/stk/StkOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>
#include <utility>

namespace stc::launches {

/// One launch's arguments with their roles under its current attributes.
struct LaunchInfo {
  stk::LaunchOp op;
  const abi::OpSpec *spec = nullptr;
  llvm::SmallVector<mlir::StringAttr> args;
  llvm::SmallVector<abi::Role> roles;
  llvm::SmallVector<int> rows; ///< the ArgRow of each argument (-1: unknown)

  /// The index of the argument of row `name` ("k", "dk"), if present.
  std::optional<size_t> arg(llvm::StringRef name) const;
  /// The launch's kind ("attention_fwd") and parameters.
  llvm::StringRef kind() const;
  mlir::DictionaryAttr params() const;
};

/// An integer parameter of a launch, or `absent` when it has none.
int64_t intParam(mlir::DictionaryAttr params, llvm::StringRef name,
                 int64_t absent = 0);
/// Whether a bool parameter is present and true.
bool flagParam(mlir::DictionaryAttr params, llvm::StringRef name);

/// The launch as its Ops.def row reads it; nullopt when its kind or
/// attributes do not check (the stk.launch verifier says why).
std::optional<LaunchInfo> describe(stk::LaunchOp op);

/// Every launch of `program` in order, described; nullopt when one does not
/// check (the stk.launch verifier says why).
std::optional<llvm::SmallVector<LaunchInfo>> describeAll(stk::ProgramOp program);

/// For each program: describes its launches and calls step(ops, i) for i
/// from 0 until one call rewrites the program (returns true), then starts
/// again from a fresh description, until a whole pass rewrites nothing.
/// False when a launch does not check (the verifier says why).
bool rewriteUntilFixpoint(
    mlir::ModuleOp module,
    llvm::function_ref<bool(llvm::ArrayRef<LaunchInfo>, size_t)> step);

/// Records what a rewriting pass did as the module's integer attribute
/// `name` ("stk.fused_layer_norms"), when `count` is not 0.
void recordCount(mlir::ModuleOp module, llvm::StringRef name, int64_t count);

/// Buffers a non-launch op names (the parameter table, program inputs and
/// outputs): a rewrite never removes, redirects or writes them early.
llvm::DenseSet<mlir::StringAttr> pinnedBuffers(mlir::ModuleOp module);

/// The module's stk.buffer ops by name.
llvm::DenseMap<mlir::StringAttr, stk::BufferOp>
buffersByName(mlir::ModuleOp module);

/// Every (launch index, argument index) naming `name`.
llvm::SmallVector<std::pair<size_t, size_t>>
usesOf(llvm::ArrayRef<LaunchInfo> ops, mlir::StringAttr name);

/// Whether a launch strictly between `from` and `to` names `name`: in any
/// role, or with writesOnly in a role other than In.
bool namedBetween(llvm::ArrayRef<LaunchInfo> ops, mlir::StringAttr name,
                  size_t from, size_t to, bool writesOnly);

/// The only launch that writes `name` (a role other than In), if exactly
/// one does, through one argument.
std::optional<size_t> soleWriter(llvm::ArrayRef<LaunchInfo> ops,
                                 mlir::StringAttr name);

} // namespace stc::launches

#endif // STC_PASSES_LAUNCHES_H
