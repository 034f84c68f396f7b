//===- ArtifactWriter.h - stk program -> artifact directory -----*- C++ -*-===//
//
// The last step of `stc compile`: the planned stk module becomes the artifact
// the runtime loads (docs/artifact-format.md): manifest.json plus one CUDA
// source per distinct kernel.
//
//===----------------------------------------------------------------------===//

#ifndef STC_CODEGEN_ARTIFACTWRITER_H
#define STC_CODEGEN_ARTIFACTWRITER_H

#include "abi/Version.h"
#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace stc::codegen {

struct ArtifactOptions {
  std::string outDir;       ///< the artifact directory (created)
  std::string emitCudaDir;  ///< also write each kernel as DIR/<kernel>.cu
  std::string producer = std::string("stc ") + abi::kStcVersion;
};

/// Writes the artifact of a module that went through stc-plan-memory.
/// Diagnostics (on the module) name the op and what is wrong.
mlir::LogicalResult writeArtifact(mlir::ModuleOp module,
                                  const ArtifactOptions &options);

} // namespace stc::codegen

#endif // STC_CODEGEN_ARTIFACTWRITER_H
