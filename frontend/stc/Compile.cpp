//===- Compile.cpp - stc compile ------------------------------------------===//

#include "frontend/stc/Compile.h"

#include "abi/Limits.h"
#include "codegen/ArtifactWriter.h"
#include "dialect/st/StOps.h"
#include "frontend/stc/Args.h"
#include "passes/Passes.h"
#include "runtime/support/Files.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cctype>
#include <sys/stat.h>

using namespace mlir;
using namespace stc;
using namespace stc::cli;

// The --no-fuse-softmax help names the unfused ops' context limit.
static_assert(stc::abi::kMaxUnfusedContext == 8192,
              "update the --no-fuse-softmax help text");

namespace {

const std::vector<FlagSpec> kCompileFlags = {
    {"o", true, "artifact directory to write (required)"},
    {"emit-cuda", true, "also write each kernel's source as DIR/<kernel>.cu"},
    {"batch", true, "sequences per training step (default 4)"},
    {"sample-batch", true,
     "sequences the sample step draws at once (default: the batch, whose "
     "sampling caches fit in the training step's activations; 1 with "
     "--recompute, which shrinks those)"},
    {"decode-splits", true,
     "CTAs each sampled query's keys are split over (flash-decoding; "
     "default: chosen from the pattern, the sample batch and the heads; 1: "
     "no split)"},
    {"block-size", true, blockSizeHelp()},
    {"memory-budget", true,
     "fail if the device arena exceeds this, e.g. 8GiB, 512MiB (default: none)"},
    {"unreachable-is-error", false,
     "fail, not warn, when a pattern stack leaves keys unreachable"},
    {"no-normalize", false,
     "run every attention pattern as written (skip stc-normalize-patterns)"},
    {"no-fuse-softmax", false,
     "run attention as its unfused chain (scores, score modifications, "
     "masked softmax, weighted sum) over [batch, heads, context, context] "
     "tensors, context at most 8192: a reference for the fused kernels "
     "(skip stc-fuse-softmax)"},
    {"recompute", true,
     "none (default: keep every activation), cheap (recompute layer norms "
     "and elementwise ops, keep GEMM and attention outputs), gemm (also "
     "recompute the GEMMs, keep attention outputs), paper (keep each "
     "residual block's input, recompute the whole block in the backward) or "
     "auto (with --memory-budget: the least that fits it: none, cheap, gemm "
     "on the fewest leading blocks, or paper on the fewest)"},
    {"deterministic", false,
     "attention backward without atomics: every training step bit-"
     "reproducible, somewhat slower (default: fp32 atomics for dq where the "
     "tensor-core kernels run)"},
    {"pipeline", false, "print the pass pipeline and exit"},
    {"print-ir-after-all", false, "print the IR after every pass (stderr)"},
    {"verbose", false, "also print remarks (the memory plan)"},
    {"help", false, "show this help"},
};

/// "8GiB", "512MiB", "1000000" -> bytes.
std::optional<int64_t> parseBytes(const std::string &text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])))
    ++i;
  if (i == 0 || i > 15)
    return std::nullopt;
  int64_t value = std::stoll(text.substr(0, i));
  std::string unit = text.substr(i);
  int64_t scale = unit.empty() || unit == "B" ? 1
                  : unit == "KiB"             ? int64_t(1) << 10
                  : unit == "MiB"             ? int64_t(1) << 20
                  : unit == "GiB"             ? int64_t(1) << 30
                                              : 0;
  if (!scale)
    return std::nullopt;
  return value * scale;
}

struct CompileSettings {
  std::string input, outDir, emitCuda;
  CompilePipelineOptions pipeline;
  bool printIrAfterAll = false;
  bool verbose = false;
};

/// Fails (with a message) unless `-o` can hold the artifact; creates its
/// missing parent directories, as `mkdir -p` would.
bool prepareOutput(const std::string &outDir) {
  std::string parent = outDir;
  while (parent.size() > 1 && parent.back() == '/')
    parent.pop_back();
  size_t slash = parent.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    parent.resize(slash);
    if (std::error_code ec = llvm::sys::fs::create_directories(parent)) {
      llvm::errs() << "stc compile: -o '" << outDir << "': cannot create '"
                   << parent << "': " << ec.message() << "\n";
      return false;
    }
  }
  if (stc::rt::Status st = stc::rt::checkOutputDirectory(outDir, "-o"); !st) {
    llvm::errs() << "stc compile: " << st.message() << "\n";
    return false;
  }
  return true;
}

/// The arena the pipeline plans for `module` under `options` (no budget),
/// or -1 when the pipeline fails (the real run reports why).
int64_t plannedArena(ModuleOp module, CompilePipelineOptions options) {
  options.memoryBudget = 0;
  OwningOpRef<ModuleOp> copy(module.clone());
  MLIRContext *ctx = module.getContext();
  ScopedDiagnosticHandler silence(ctx, [](Diagnostic &) { return success(); });
  PassManager pm(ctx, ModuleOp::getOperationName());
  buildCompilePipeline(pm, options);
  if (failed(pm.run(*copy)))
    return -1;
  auto arena = (*copy)->getAttrOfType<IntegerAttr>("stk.arena_bytes");
  return arena ? arena.getInt() : -1;
}

/// --recompute auto: the least recomputation whose arena fits the budget,
/// cheapest work per byte first: none; else cheap (layer norms and
/// elementwise ops: no GEMM work); else gemm (the GEMMs too, attention
/// outputs kept: no attention work) on the first K blocks and cheap on the
/// others; else every block gemm and the first K whole (paper); K the
/// smallest that fits, by bisection (recomputing more blocks never needs
/// more memory); else an error naming the smallest arena, every block
/// recomputed whole. Prints the choice; nullopt after an error.
std::optional<CompilePipelineOptions>
chooseRecomputeIn(ModuleOp module, CompilePipelineOptions o, StringRef tool) {
  const int64_t budget = o.memoryBudget;
  int64_t layers = 0;
  module.walk([&](st::ModelOp m) {
    layers = static_cast<int64_t>(m.layers().size());
  });
  auto with = [&](const char *policy, int64_t blocks, const char *rest) {
    CompilePipelineOptions t = o;
    t.recompute = policy;
    t.recomputeBlocks = blocks;
    t.recomputeRest = rest;
    return t;
  };
  const int64_t kept = plannedArena(module, with("none", -1, "none"));
  auto fits = [&](int64_t arena) { return arena >= 0 && arena <= budget; };
  auto report = [&](const std::string &what, int64_t arena) {
    llvm::errs() << tool << ": --recompute auto: " << what
                 << " fits the budget of " << abi::bytesText(budget)
                 << " (arena " << abi::bytesText(arena) << "; "
                 << abi::bytesText(kept) << " keeping every activation)\n";
  };
  if (kept < 0 || kept <= budget || layers == 0) {
    if (kept >= 0 && kept <= budget)
      llvm::errs() << tool << ": --recompute auto: every activation kept ("
                   << abi::bytesText(kept) << " arena) fits the budget of "
                   << abi::bytesText(budget) << "\n";
    return with("none", -1, "none");
  }
  const int64_t cheap = plannedArena(module, with("cheap", -1, "none"));
  if (fits(cheap)) {
    report("recomputing layer norms and elementwise ops (cheap)", cheap);
    return with("cheap", -1, "none");
  }
  // The smallest K in [1, layers] for which `policy` on the first K blocks
  // and `rest` on the others fits, given that K = layers fits.
  auto fewest = [&](const char *policy, const char *rest, int64_t &arena) {
    int64_t lo = 1, hi = layers;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      int64_t a = plannedArena(module, with(policy, mid, rest));
      if (fits(a)) {
        hi = mid;
        arena = a;
      } else {
        lo = mid + 1;
      }
    }
    return hi;
  };
  int64_t arena = plannedArena(module, with("gemm", -1, "none"));
  if (fits(arena)) {
    int64_t k = fewest("gemm", "cheap", arena);
    report("recomputing the GEMMs, layer norms and elementwise ops of the "
           "first " + std::to_string(k) + " of " + std::to_string(layers) +
               " blocks, keeping their attention outputs (gemm; the others' "
               "cheap ops)",
           arena);
    return with("gemm", k, "cheap");
  }
  arena = plannedArena(module, with("paper", -1, "none"));
  if (arena < 0)
    return with("paper", -1, "none"); // the real run reports the failure
  if (arena > budget) {
    llvm::errs() << tool << ": the model needs " << abi::bytesText(arena)
                 << " of device memory even with every block recomputed "
                    "(--recompute paper; "
                 << abi::bytesText(kept) << " keeping every activation), over "
                 << "the budget of " << abi::bytesText(budget)
                 << "; lower the batch or the context, or raise the budget\n";
    return std::nullopt;
  }
  int64_t k = fewest("paper", "gemm", arena);
  report("recomputing the first " + std::to_string(k) + " of " +
             std::to_string(layers) +
             " blocks whole (paper; the others all but their attention)",
         arena);
  return with("paper", k, "gemm");
}

int compile(const CompileSettings &s) {
  // The output is checked before any work, and written beside its place
  // first: a failed or interrupted compile leaves an old artifact whole and
  // a new one never half-written; stale kernels of an old one do not survive.
  if (!prepareOutput(s.outDir))
    return 1;
  DialectRegistry registry;
  registerStcDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagHandler(sourceMgr, &context);
  // Errors point at the source line; a dump of the whole op after them
  // helps nobody. Remarks (the memory plan) only with --verbose.
  context.printOpOnDiagnostic(false);
  ScopedDiagnosticHandler quiet(&context, [&](Diagnostic &d) {
    return success(!s.verbose && d.getSeverity() == DiagnosticSeverity::Remark);
  });
  std::string error;
  auto file = openInputFile(s.input, &error);
  if (!file) {
    llvm::errs() << "stc compile: " << error << "\n";
    return 1;
  }
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;
  CompilePipelineOptions pipeline = s.pipeline;
  if (pipeline.recompute == "auto") {
    std::optional<CompilePipelineOptions> chosen =
        chooseRecomputeIn(*module, pipeline, "stc compile");
    if (!chosen)
      return 1;
    pipeline = *chosen;
  }
  PassManager pm(&context, ModuleOp::getOperationName());
  buildCompilePipeline(pm, pipeline);
  if (s.printIrAfterAll) {
    context.disableMultithreading();
    pm.enableIRPrinting();
  }
  if (failed(pm.run(*module)))
    return 1;
  codegen::ArtifactOptions options;
  options.outDir = stc::rt::temporarySibling(s.outDir);
  options.emitCudaDir = s.emitCuda;
  stc::rt::removeTree(options.outDir);
  if (failed(codegen::writeArtifact(*module, options))) {
    stc::rt::removeTree(options.outDir);
    return 1;
  }
  if (stc::rt::Status st = stc::rt::replaceDirectory(options.outDir, s.outDir);
      !st) {
    stc::rt::removeTree(options.outDir);
    llvm::errs() << "stc compile: " << st.message() << "\n";
    return 1;
  }
  return 0;
}

} // namespace

bool stc::cli::compileModel(const CompileRequest &request) {
  CompileSettings s;
  s.input = request.input;
  s.outDir = request.outDir;
  s.pipeline.batch = request.batch;
  s.pipeline.blockSize = request.blockSize;
  s.pipeline.recompute = request.recompute;
  s.pipeline.deterministic = request.deterministic;
  s.pipeline.sampleBatch = request.sampleBatch;
  return compile(s) == 0;
}

int stc::cli::runCompile(int argc, char **argv, int first) {
  std::string error;
  std::optional<Args> args = Args::parse(argc, argv, first, kCompileFlags, &error);
  auto usage = [] {
    return "usage: stc compile MODEL.mlir -o OUT [flags]\n" +
           describeFlags(kCompileFlags);
  };
  if (!args) {
    llvm::errs() << "stc compile: " << error << "\n" << usage();
    return 2;
  }
  if (args->has("help")) {
    llvm::outs() << usage();
    return 0;
  }
  CompileSettings s;
  std::optional<int64_t> batch = args->getInt("batch", 4, 1, abi::kMaxBatch, &error);
  std::optional<int64_t> sampleBatch =
      batch ? args->getInt("sample-batch", 0, 1, abi::kMaxBatch, &error)
            : std::nullopt;
  std::optional<int64_t> decodeSplits =
      sampleBatch ? args->getInt("decode-splits", 0, 1, abi::kMaxDecodeSplits,
                                 &error)
                  : std::nullopt;
  std::optional<int64_t> block =
      decodeSplits ? args->getBlockSize("block-size", &error) : std::nullopt;
  if (!batch || !sampleBatch || !decodeSplits || !block) {
    llvm::errs() << "stc compile: " << error << "\n";
    return 2;
  }
  s.pipeline.batch = *batch;
  s.pipeline.sampleBatch = *sampleBatch;
  s.pipeline.decodeSplits = *decodeSplits;
  s.pipeline.blockSize = *block;
  s.pipeline.unreachableIsError = args->has("unreachable-is-error");
  s.pipeline.normalizePatterns = !args->has("no-normalize");
  s.pipeline.fuseSoftmax = !args->has("no-fuse-softmax");
  s.pipeline.deterministic = args->has("deterministic");
  std::optional<std::string> recompute = args->getChoice(
      "recompute", "none", {"none", "cheap", "gemm", "paper", "auto"}, &error);
  if (!recompute) {
    llvm::errs() << "stc compile: " << error << "\n";
    return 2;
  }
  s.pipeline.recompute = *recompute;
  if (s.pipeline.recompute == "auto" && !args->has("memory-budget")) {
    llvm::errs() << "stc compile: --recompute auto needs --memory-budget "
                    "(it recomputes as few blocks as fit the budget)\n";
    return 2;
  }
  if (args->has("memory-budget")) {
    std::optional<int64_t> bytes = parseBytes(args->get("memory-budget"));
    if (!bytes || *bytes <= 0) {
      llvm::errs() << "stc compile: --memory-budget must be a size like "
                      "8GiB, 512MiB or 1000000 (bytes), got '"
                   << args->get("memory-budget") << "'\n";
      return 2;
    }
    s.pipeline.memoryBudget = *bytes;
  }
  if (args->has("pipeline")) {
    DialectRegistry registry;
    registerStcDialects(registry);
    MLIRContext context(registry);
    PassManager pm(&context, ModuleOp::getOperationName());
    buildCompilePipeline(pm, s.pipeline);
    pm.printAsTextualPipeline(llvm::outs());
    if (s.pipeline.recompute == "auto")
      llvm::outs() << "\n  with stc-schedule-recompute's policy chosen for the "
                      "budget: none, cheap, gemm on the fewest leading "
                      "blocks, or paper on the fewest";
    llvm::outs() << "\n  then: write the artifact (manifest.json + kernels/*.cu)\n";
    return 0;
  }
  if (args->positional().size() != 1 || !args->has("o")) {
    llvm::errs() << "stc compile: expected one input file and -o OUT\n" << usage();
    return 2;
  }
  s.input = args->positional().front();
  s.outDir = args->get("o");
  s.emitCuda = args->get("emit-cuda");
  if (args->has("emit-cuda")) {
    struct stat st;
    if (s.emitCuda.empty() ||
        (::stat(s.emitCuda.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))) {
      llvm::errs() << "stc compile: --emit-cuda '" << s.emitCuda
                   << "': expected a directory to write the kernels into\n";
      return 2;
    }
  }
  s.printIrAfterAll = args->has("print-ir-after-all");
  s.verbose = args->has("verbose");
  int rc = compile(s);
  if (rc == 0)
    llvm::errs() << "stc compile: wrote " << s.outDir << "\n";
  return rc;
}

std::optional<int64_t> stc::cli::parseByteSize(const std::string &text) {
  return parseBytes(text);
}

std::optional<CompilePipelineOptions>
stc::cli::chooseRecompute(ModuleOp module, const CompilePipelineOptions &o,
                          llvm::StringRef tool) {
  return chooseRecomputeIn(module, o, tool);
}
