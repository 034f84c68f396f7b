//===- Compile.h - stc compile ----------------------------------*- C++ -*-===//

#ifndef STC_FRONTEND_STC_COMPILE_H
#define STC_FRONTEND_STC_COMPILE_H

#include "abi/Limits.h"
#include "passes/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace stc::cli {

/// `stc compile MODEL.mlir -o OUT [flags]`. Returns the exit code.
int runCompile(int argc, char **argv, int first);

struct CompileRequest {
  std::string input;
  std::string outDir;
  int64_t batch = 4;
  int64_t blockSize = abi::kDefaultAttentionBlockSize;
  std::string recompute = "none"; ///< stc-schedule-recompute's policy
  bool deterministic = false;     ///< attention backward without atomics
  int64_t sampleBatch = 0;        ///< sequences per sample step (0: batch)
};

/// Compiles `request.input` into an artifact at `request.outDir` with the
/// default pipeline (used by train/eval/sample on a .mlir); errors go to
/// stderr. Returns true on success.
bool compileModel(const CompileRequest &request);

/// "8GiB", "512MiB", "1000000" -> bytes (nullopt if malformed).
std::optional<int64_t> parseByteSize(const std::string &text);

/// --recompute auto: the least recomputation whose arena fits
/// `o.memoryBudget` (none; cheap; gemm on the fewest leading blocks; paper
/// on the fewest), reported on stderr as `tool: ...`; nullopt (after an
/// error naming the smallest arena) when nothing fits.
std::optional<CompilePipelineOptions>
chooseRecompute(mlir::ModuleOp module, const CompilePipelineOptions &o,
                llvm::StringRef tool);

} // namespace stc::cli

#endif // STC_FRONTEND_STC_COMPILE_H
