//===- Inspect.cpp - stc inspect ------------------------------------------===//
//
// Per attention layer: pattern, density, blocks computed against dense causal
// attention, FLOPs; then the model's reachability. Text for people, --json
// for programs, --png for pictures of each pattern.
//
//===----------------------------------------------------------------------===//

#include "frontend/stc/Inspect.h"

#include "abi/Layout.h"
#include "abi/Limits.h"

#include "dialect/st/StOps.h"
#include "dialect/stk/StkOps.h"
#include "frontend/stc/Args.h"
#include "frontend/stc/Compile.h"
#include "frontend/stc/PatternImage.h"
#include "passes/Passes.h"
#include "passes/PatternAnalysis.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <map>

using namespace mlir;
using namespace stc;
using namespace stc::cli;

namespace {

const std::vector<FlagSpec> kInspectFlags = {
    {"json", false, "print machine-readable JSON instead of a table"},
    {"png", true, "draw each distinct pattern into DIR as PNG"},
    {"block-size", true, blockSizeHelp()},
    {"batch", true,
     "sequences per training step for the memory plan (default 4, as compile)"},
    {"no-normalize", false,
     "count blocks for the patterns as written (stc compile --no-normalize)"},
    {"no-fuse-softmax", false,
     "plan memory with attention as the unfused chain, whose [batch, heads, "
     "context, context] scores the plan holds (stc compile --no-fuse-softmax)"},
    {"recompute", true,
     "plan memory with this recomputation policy: none (default), cheap, "
     "gemm, paper or auto (with --memory-budget, as stc compile chooses)"},
    {"memory-budget", true,
     "the budget --recompute auto plans for, e.g. 8GiB (as stc compile)"},
    {"reach-limit", true,
     "analyse reachability over at most N leading positions (default 2048)"},
    {"model", true, "which model or function to inspect, if the file has several"},
    {"help", false, "show this help"},
};

/// The numbers of one head group (heads sharing a pattern), as compiled:
/// after stc-normalize-patterns unless --no-normalize.
struct GroupStats {
  pattern::Pattern pattern;
  int64_t heads = 0;
  pattern::AttentionCost cost; ///< per head
  int64_t fullBlocks = 0, partialBlocks = 0;
  /// The rewrite stc-normalize-patterns applies, with the blocks per head
  /// before and after it.
  std::optional<GroupNormalization> normalization;
};

struct LayerStats {
  std::string pattern;
  std::vector<std::string> scoreMods;
  std::vector<GroupStats> groups;
  double density = 0;        ///< mean over heads
  int64_t computedBlocks = 0; ///< summed over heads, as compiled
  int64_t writtenBlocks = 0;  ///< the same for the patterns as written
  int64_t denseBlocks = 0;    ///< dense causal, summed over heads
  double usefulFlops = 0, computedFlops = 0; ///< forward, one sequence
};

struct StackStats {
  const AttentionStack *stack;
  std::vector<LayerStats> layers;
  pattern::Reachability reach;
  int64_t parameters = -1; ///< models only
};

/// The numbers of one stack, or nullopt and *error when a pattern is beyond
/// the limits the compiler and the runtime share (abi/Layout.h).
std::optional<StackStats> analyze(const AttentionStack &stack,
                                  int64_t blockSize, int64_t reachLimit,
                                  bool normalize, std::string *error) {
  StackStats stats;
  stats.stack = &stack;
  // Layers usually repeat a few patterns: compute each once.
  std::map<std::string, GroupStats> cache;
  auto groupOf = [&](const pattern::Pattern &p, int64_t headDim,
                     bool allowSplit,
                     bool asWritten) -> std::optional<GroupStats> {
    std::string key = p.str() + "@" + std::to_string(headDim) +
                      (allowSplit ? "+split" : "") +
                      (asWritten ? "+written" : "");
    auto it = cache.find(key);
    if (it != cache.end())
      return it->second;
    std::optional<GroupNormalization> norm =
        normalize && !asWritten
            ? chooseNormalization(p, stack.context, blockSize, allowSplit)
            : std::nullopt;
    // What the kernels run: the pattern as written, the normalized one over
    // the permuted sequence, or the two halves of a split (same pairs,
    // fewer blocks).
    std::vector<pattern::Pattern> run = {p};
    if (norm && norm->permuted)
      run = {norm->permuted->pattern};
    else if (norm && norm->strideSplit)
      run = {norm->strideSplit->rest, norm->strideSplit->strided};
    else if (norm)
      run = {norm->split->local, norm->split->summaries};
    GroupStats g{p, 0, {}, 0, 0, norm};
    for (const pattern::Pattern &r : run) {
      std::optional<pattern::BlockLayout> layout = abi::buildLayout(
          r, stack.context, std::min(blockSize, stack.context), error);
      if (!layout) {
        *error = "pattern " + p.str() + ": " + *error;
        return std::nullopt;
      }
      pattern::AttentionCost c = pattern::attentionCost(r, *layout, headDim);
      g.cost.computedBlocks += c.computedBlocks;
      g.cost.computedFlops += c.computedFlops;
      g.cost.denseCausalBlocks = c.denseCausalBlocks;
      g.fullBlocks += layout->numFull();
      g.partialBlocks += layout->numPartial();
    }
    // Allowed pairs and useful FLOPs are the pattern's, whatever the form.
    g.cost.allowedPairs = p.countAllowed(stack.context);
    g.cost.usefulFlops = 4.0 * static_cast<double>(g.cost.allowedPairs) *
                         static_cast<double>(headDim);
    return cache.emplace(key, g).first->second;
  };
  std::vector<pattern::Pattern> merged;
  for (const AttentionLayer &layer : stack.layers) {
    LayerStats ls;
    ls.pattern = layer.describe();
    ls.scoreMods = layer.scoreMods;
    int64_t perGroup = layer.heads / static_cast<int64_t>(layer.groups.size());
    double n = static_cast<double>(stack.context);
    for (const pattern::Pattern &p : layer.groups) {
      bool sameEverywhere = llvm::all_of(
          layer.groups, [&](const pattern::Pattern &o) { return o == p; });
      // ALiBi reads positions: such a layer runs as written.
      std::optional<GroupStats> found =
          groupOf(p, layer.headDim, sameEverywhere, layer.positionalMods);
      if (!found)
        return std::nullopt;
      GroupStats g = *found;
      g.heads = perGroup;
      ls.density += g.cost.allowedPairs / (n * n) * perGroup / layer.heads;
      ls.computedBlocks += g.cost.computedBlocks * perGroup;
      ls.writtenBlocks +=
          (g.normalization ? g.normalization->blocksBefore
                           : g.cost.computedBlocks) *
          perGroup;
      ls.denseBlocks += g.cost.denseCausalBlocks * perGroup;
      ls.usefulFlops += g.cost.usefulFlops * perGroup;
      ls.computedFlops += g.cost.computedFlops * perGroup;
      ls.groups.push_back(g);
    }
    stats.layers.push_back(std::move(ls));
    merged.push_back(layer.merged());
  }
  stats.reach = pattern::analyzeReachability(
      merged, std::min<int64_t>(stack.context, reachLimit));
  if (auto model = dyn_cast<st::ModelOp>(stack.owner))
    stats.parameters = model.numParameters();
  return stats;
}

/// How a model stores and trains its numbers, for the text report ("" for
/// stacks that are not an st.model).
std::string precisionText(const AttentionStack &stack) {
  auto model = llvm::dyn_cast_or_null<st::ModelOp>(stack.owner);
  if (!model)
    return "";
  mlir::Type t = model.getDtype();
  if (t.isF32())
    return "precision: f32 throughout";
  std::string text = std::string("precision: ") +
                     (t.isF16() ? "f16" : "bf16") +
                     " parameters and activations (computed in f32), f32 "
                     "master weights, moments and parameter gradients";
  if (t.isF16())
    text += llvm::formatv(", dynamic loss scaling (from {0}, halved on an "
                          "overflow, doubled after {1} finite steps)",
                          static_cast<int64_t>(abi::kLossScaleInit),
                          abi::kLossScaleGrowthInterval)
                .str();
  return text;
}

/// The device memory `stc compile` would plan for the file's model: the
/// arena, and the part of it that persists (parameters, gradients of the
/// optimizer, moments, caches, scalars).
struct MemoryPlan {
  int64_t batch = 0;
  int64_t arenaBytes = 0;
  int64_t persistentBytes = 0;
  /// What a device executor allocates besides the arena (abi/Limits.h):
  /// the layouts' block tables and the cuBLASLt workspace.
  int64_t tableBytes = 0;
  int64_t deviceBytes = 0; ///< arena + tables + workspace
  std::string recompute; ///< stc-schedule-recompute's report, if it ran
  int64_t sampleBatch = 0;  ///< sequences the sample step draws at once
  int64_t decodeSplits = 1; ///< most CTAs a sampled query's keys go to
  std::string error; ///< why there is no plan (then the numbers are 0)
};

MemoryPlan planMemory(ModuleOp module, const CompilePipelineOptions &options) {
  MemoryPlan plan;
  plan.batch = options.batch;
  OwningOpRef<ModuleOp> copy(module.clone());
  MLIRContext *ctx = module.getContext();
  ScopedDiagnosticHandler capture(ctx, [&](Diagnostic &d) {
    if (d.getSeverity() == DiagnosticSeverity::Error && plan.error.empty())
      plan.error = d.str();
    if (d.getSeverity() == DiagnosticSeverity::Remark &&
        llvm::StringRef(d.str()).starts_with("recompute"))
      plan.recompute = d.str();
    return success(); // the inspect report says it; nothing else is printed
  });
  PassManager pm(ctx, ModuleOp::getOperationName());
  buildCompilePipeline(pm, options);
  if (failed(pm.run(*copy))) {
    if (plan.error.empty())
      plan.error = "the compile pipeline failed";
    return plan;
  }
  // stc-plan-memory's own totals.
  if (auto arena = (*copy)->getAttrOfType<IntegerAttr>("stk.arena_bytes"))
    plan.arenaBytes = arena.getInt();
  if (auto kept = (*copy)->getAttrOfType<IntegerAttr>("stk.persistent_bytes"))
    plan.persistentBytes = kept.getInt();
  // One pass over the launches: layouts a backward reads also get tables by
  // key-block column; the sample step's sequences, and how its attention
  // splits keys.
  llvm::StringSet<> columns;
  copy->walk([&](stk::LaunchOp launch) {
    StringRef kind = launch.getKind();
    if (kind == "attention_bwd" || kind == "attention_bwd_atomic") {
      if (auto names = launch.getParams().getAs<ArrayAttr>("layouts"))
        for (Attribute n : names)
          columns.insert(cast<StringAttr>(n).getValue());
    } else if (kind == "kv_store") {
      if (auto b = launch.getParams().getAs<IntegerAttr>("B"))
        plan.sampleBatch = b.getInt();
    } else if (kind == "attention_decode_split") {
      if (auto s = launch.getParams().getAs<IntegerAttr>("splits"))
        plan.decodeSplits = std::max<int64_t>(plan.decodeSplits, s.getInt());
    }
  });
  copy->walk([&](st::LayoutOp layout) {
    const int64_t rows =
        (static_cast<int64_t>(layout.getN()) + layout.getBlock() - 1) /
        static_cast<int64_t>(layout.getBlock());
    plan.tableBytes += abi::layoutTableBytes(
        rows, static_cast<int64_t>(layout.getBlocks().value_or(0)),
        columns.contains(layout.getSymName()));
  });
  plan.deviceBytes = abi::plannedDeviceBytes(plan.arenaBytes, plan.tableBytes);
  return plan;
}

void printText(const StackStats &s, int64_t blockSize, llvm::raw_ostream &os) {
  const AttentionStack &stack = *s.stack;
  bool isModel = isa<st::ModelOp>(stack.owner);
  os << (isModel ? "model @" : "function @") << stack.name << ": context "
     << stack.context << ", " << stack.layers.size() << " attention layers";
  if (s.parameters >= 0)
    os << ", " << llvm::format("%.2fM", s.parameters / 1e6) << " parameters";
  os << ", block " << blockSize << "\n";
  os << llvm::format("%5s  %-34s %8s  %21s  %19s\n", "layers", "pattern",
                     "density", "blocks (vs causal)", "fwd GFLOP/seq");
  // Consecutive layers with the same pattern and score modifications share
  // one line ("0-29").
  for (size_t i = 0; i < s.layers.size();) {
    size_t j = i;
    while (j + 1 < s.layers.size() &&
           s.layers[j + 1].pattern == s.layers[i].pattern &&
           s.layers[j + 1].scoreMods == s.layers[i].scoreMods)
      ++j;
    const LayerStats &l = s.layers[i];
    std::string range = i == j ? std::to_string(i)
                               : std::to_string(i) + "-" + std::to_string(j);
    std::string blocks = std::to_string(l.computedBlocks) + "/" +
                         std::to_string(l.denseBlocks);
    double pct = l.denseBlocks ? 100.0 * l.computedBlocks / l.denseBlocks : 0;
    os << llvm::format("%5s  %-34s %8.4f  %12s (%5.1f%%)  %8.2f / %8.2f\n",
                       range.c_str(), l.pattern.c_str(), l.density,
                       blocks.c_str(), pct, l.usefulFlops / 1e9,
                       l.computedFlops / 1e9);
    i = j + 1;
  }
  os << "  (blocks and FLOPs: all heads of one sequence; FLOPs useful / "
        "computed by a block-sparse kernel)\n";
  // Score modifications, once per run of layers that share them.
  for (size_t i = 0; i < s.layers.size();) {
    size_t j = i;
    while (j + 1 < s.layers.size() &&
           s.layers[j + 1].scoreMods == s.layers[i].scoreMods)
      ++j;
    if (!s.layers[i].scoreMods.empty()) {
      os << "score mods: layer" << (i == j ? " " : "s ") << i;
      if (j > i)
        os << "-" << j;
      os << ":";
      for (const std::string &m : s.layers[i].scoreMods)
        os << " " << m;
      if (stack.layers[i].positionalMods)
        os << " (ALiBi reads positions: the pattern runs as written)";
      os << "\n";
    }
    i = j + 1;
  }
  // The rewrites stc-normalize-patterns makes, once per distinct pattern.
  std::vector<std::string> shown;
  for (const LayerStats &l : s.layers)
    for (const GroupStats &g : l.groups) {
      if (!g.normalization || llvm::is_contained(shown, g.pattern.str()))
        continue;
      shown.push_back(g.pattern.str());
      const GroupNormalization &nz = *g.normalization;
      os << "normalized: " << displayName(g.pattern) << " runs as "
         << nz.describe() << ": " << nz.blocksBefore << " -> "
         << nz.blocksAfter << " blocks per head ("
         << llvm::format("%.1f%%", 100.0 * nz.blocksAfter /
                                       std::max<int64_t>(1, nz.blocksBefore))
         << ")\n";
    }
  const pattern::Reachability &r = s.reach;
  os << "reachability over the first " << r.n << " positions: ";
  if (r.unreachablePairs == 0)
    os << "every key reachable, max hops " << r.maxHops << "\n";
  else {
    os << r.unreachablePairs << " unreachable (query, key) pairs";
    if (r.exampleUnreachable)
      os << ", e.g. query " << r.exampleUnreachable->first << " never sees key "
         << r.exampleUnreachable->second;
    os << "\n";
  }
}

llvm::json::Value toJson(const StackStats &s, int64_t blockSize) {
  const AttentionStack &stack = *s.stack;
  llvm::json::Array layers;
  for (const LayerStats &l : s.layers) {
    llvm::json::Array groups;
    for (const GroupStats &g : l.groups) {
      llvm::json::Object group{
          {"pattern", g.pattern.str()},
          {"heads", g.heads},
          {"allowed_pairs", g.cost.allowedPairs},
          {"computed_blocks", g.cost.computedBlocks},
          {"full_blocks", g.fullBlocks},
          {"partial_blocks", g.partialBlocks},
      };
      if (const auto &nz = g.normalization) {
        llvm::json::Object n{
            {"form", nz->describe()},
            {"computed_blocks_as_written", nz->blocksBefore},
        };
        if (nz->permuted) {
          n["pattern"] = nz->permuted->pattern.str();
          n["stride_permutation"] = nz->permuted->permutation.stride;
        } else if (nz->strideSplit) {
          n["patterns"] = llvm::json::Array{nz->strideSplit->rest.str(),
                                            nz->strideSplit->strided.str()};
          n["stride_permutation"] = nz->strideSplit->permutation.stride;
        } else {
          n["patterns"] = llvm::json::Array{nz->split->local.str(),
                                            nz->split->summaries.str()};
          n["gathered_rows"] = nz->split->gather.count();
        }
        group["normalized"] = std::move(n);
      }
      groups.push_back(std::move(group));
    }
    llvm::json::Array mods;
    for (const std::string &m : l.scoreMods)
      mods.push_back(m);
    layers.push_back(llvm::json::Object{
        {"pattern", l.pattern},
        {"density", l.density},
        {"computed_blocks", l.computedBlocks},
        {"computed_blocks_as_written", l.writtenBlocks},
        {"dense_causal_blocks", l.denseBlocks},
        {"useful_flops", l.usefulFlops},
        {"computed_flops", l.computedFlops},
        {"head_groups", std::move(groups)},
        {"score_mods", std::move(mods)},
    });
  }
  llvm::json::Object reach{
      {"analyzed_positions", s.reach.n},
      {"max_hops", s.reach.maxHops},
      {"unreachable_pairs", s.reach.unreachablePairs},
  };
  if (s.reach.exampleUnreachable)
    reach["example_unreachable"] = llvm::json::Array{
        s.reach.exampleUnreachable->first, s.reach.exampleUnreachable->second};
  llvm::json::Object out{
      {"name", stack.name},
      {"kind", isa<st::ModelOp>(stack.owner) ? "model" : "function"},
      {"context", stack.context},
      {"block", blockSize},
      {"layers", std::move(layers)},
      {"reachability", std::move(reach)},
  };
  if (s.parameters >= 0)
    out["parameters"] = s.parameters;
  return out;
}

std::string fileNameFor(const std::string &stack, const std::string &pattern) {
  std::string name = stack + "-";
  for (char c : pattern)
    if (std::isalnum(static_cast<unsigned char>(c)))
      name += c;
    else if (name.back() != '-' && name.back() != '_')
      name += '_';
  while (!name.empty() && name.back() == '_')
    name.pop_back();
  return name + ".png";
}

} // namespace

int stc::cli::runInspect(int argc, char **argv, int first) {
  std::string error;
  std::optional<Args> args = Args::parse(argc, argv, first, kInspectFlags, &error);
  auto usage = [] {
    return "usage: stc inspect FILE.mlir [flags]\n" + describeFlags(kInspectFlags);
  };
  if (!args) {
    llvm::errs() << "stc inspect: " << error << "\n" << usage();
    return 2;
  }
  if (args->has("help")) {
    llvm::outs() << usage();
    return 0;
  }
  if (args->positional().size() != 1) {
    llvm::errs() << "stc inspect: expected one input file\n" << usage();
    return 2;
  }
  std::optional<int64_t> blockSize = args->getBlockSize("block-size", &error);
  std::optional<int64_t> reachLimit =
      blockSize ? args->getInt("reach-limit", 2048, 1, abi::kMaxReachPrefix, &error)
                : std::nullopt;
  std::optional<int64_t> batch =
      reachLimit ? args->getInt("batch", 4, 1, abi::kMaxBatch, &error)
                 : std::nullopt;
  if (!blockSize || !reachLimit || !batch) {
    llvm::errs() << "stc inspect: " << error << "\n";
    return 2;
  }
  std::optional<std::string> recompute = args->getChoice(
      "recompute", "none", {"none", "cheap", "gemm", "paper", "auto"}, &error);
  if (!recompute) {
    llvm::errs() << "stc inspect: " << error << "\n";
    return 2;
  }
  std::optional<int64_t> budget = 0;
  if (args->has("memory-budget"))
    budget = parseByteSize(args->get("memory-budget"));
  if (!budget || (*recompute == "auto") != args->has("memory-budget")) {
    llvm::errs() << "stc inspect: "
                 << (!budget ? "--memory-budget must be a size like 8GiB or "
                               "512MiB, not '" +
                                   args->get("memory-budget") + "'"
                             : "--recompute auto and --memory-budget go "
                               "together (the budget is what auto plans for)")
                 << "\n";
    return 2;
  }

  DialectRegistry registry;
  registerStcDialects(registry);
  MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagHandler(sourceMgr, &context);
  const std::string &path = args->positional().front();
  std::string openError;
  auto file = openInputFile(path, &openError);
  if (!file) {
    llvm::errs() << "stc inspect: " << openError << "\n";
    return 1;
  }
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;
  FailureOr<std::vector<AttentionStack>> stacks = collectAttentionStacks(*module);
  if (failed(stacks))
    return 1;
  if (stacks->empty()) {
    llvm::errs() << "stc inspect: " << path
                 << " holds no st.model and no function with st.attention\n";
    return 1;
  }
  std::vector<const AttentionStack *> chosen;
  std::string wanted = args->get("model");
  for (const AttentionStack &s : *stacks)
    if (wanted.empty() || s.name == wanted || "@" + s.name == wanted)
      chosen.push_back(&s);
  if (chosen.empty() || (args->has("json") && chosen.size() > 1)) {
    llvm::errs() << "stc inspect: "
                 << (chosen.empty() ? "no model named '" + wanted + "'"
                                    : path + " holds several models")
                 << "; choose one with --model:";
    for (const AttentionStack &s : *stacks)
      llvm::errs() << " @" << s.name;
    llvm::errs() << "\n";
    return 2;
  }

  std::string pngDir = args->get("png");
  if (args->has("png")) {
    if (std::error_code ec = llvm::sys::fs::create_directories(pngDir)) {
      llvm::errs() << "stc inspect: cannot create --png directory " << pngDir
                   << ": " << ec.message() << "\n";
      return 1;
    }
  }
  // The memory plan of the file's model, as `stc compile` would make it
  // (only for a file that holds one model: that is what compile takes).
  std::optional<MemoryPlan> memory;
  int64_t models = llvm::count_if(
      *stacks, [](const AttentionStack &s) { return isa<st::ModelOp>(s.owner); });
  if (models == 1 && isa<st::ModelOp>(chosen.front()->owner)) {
    context.loadAllAvailableDialects();
    CompilePipelineOptions options;
    options.batch = *batch;
    options.blockSize = *blockSize;
    options.normalizePatterns = !args->has("no-normalize");
    options.fuseSoftmax = !args->has("no-fuse-softmax");
    options.recompute = *recompute;
    if (*recompute == "auto") {
      options.memoryBudget = *budget;
      std::optional<CompilePipelineOptions> chosen =
          chooseRecompute(*module, options, "stc inspect");
      if (!chosen)
        return 1;
      options = *chosen;
      options.memoryBudget = 0;
    }
    memory = planMemory(*module, options);
  }
  for (const AttentionStack *stack : chosen) {
    std::optional<StackStats> analyzed =
        analyze(*stack, *blockSize, *reachLimit, !args->has("no-normalize"),
                &error);
    if (!analyzed) {
      llvm::errs() << "stc inspect: @" << stack->name << ": " << error << "\n";
      return 1;
    }
    StackStats &stats = *analyzed;
    if (args->has("json")) {
      llvm::json::Value json = toJson(stats, *blockSize);
      if (memory) {
        llvm::json::Object m{{"batch", memory->batch}};
        if (memory->error.empty()) {
          m["arena_bytes"] = memory->arenaBytes;
          m["persistent_bytes"] = memory->persistentBytes;
          m["layout_table_bytes"] = memory->tableBytes;
          m["gemm_workspace_bytes"] = abi::kGemmWorkspaceBytes;
          m["kernel_code_allowance_bytes"] = abi::kKernelCodeAllowance;
          m["device_bytes"] = memory->deviceBytes;
          m["recompute_policy"] = *recompute;
          if (!memory->recompute.empty())
            m["recompute"] = memory->recompute;
          m["sample_batch"] = memory->sampleBatch;
          m["decode_splits"] = memory->decodeSplits;
        } else {
          m["error"] = memory->error;
        }
        json.getAsObject()->insert({"memory", std::move(m)});
      }
      llvm::outs() << llvm::formatv("{0:2}", json) << "\n";
    } else {
      printText(stats, *blockSize, llvm::outs());
      if (std::string precision = precisionText(*stack); !precision.empty())
        llvm::outs() << precision << "\n";
      if (memory && memory->error.empty()) {
        llvm::outs() << "memory at batch " << memory->batch << ": arena "
                     << abi::bytesText(memory->arenaBytes) << " (persistent "
                     << abi::bytesText(memory->persistentBytes)
                     << ", activations and gradients "
                     << abi::bytesText(memory->arenaBytes - memory->persistentBytes)
                     << "), as stc compile plans it"
                     << (args->has("recompute")
                             ? " with --recompute " + args->get("recompute")
                             : std::string())
                     << "\n";
        llvm::outs() << "device memory: " << abi::bytesText(memory->deviceBytes)
                     << " (the arena, layout tables "
                     << abi::bytesText(memory->tableBytes)
                     << ", GEMM workspace "
                     << abi::bytesText(abi::kGemmWorkspaceBytes)
                     << ", in whole 2 MiB pages, and about "
                     << abi::bytesText(abi::kKernelCodeAllowance)
                     << " of kernel code; stc train --device cuda reports "
                        "what it measures)\n";
        if (!memory->recompute.empty())
          llvm::outs() << memory->recompute << "\n";
        llvm::outs() << "sampling: " << memory->sampleBatch
                     << " sequence(s) per sample step (--sample-batch), "
                     << (memory->decodeSplits > 1
                             ? "each query's keys split over " +
                                   std::to_string(memory->decodeSplits) +
                                   " CTAs (--decode-splits)"
                             : std::string("one CTA per query and head"))
                     << "\n";
      } else if (memory) {
        llvm::outs() << "memory at batch " << memory->batch
                     << ": not planned: " << memory->error << "\n";
      }
    }
    if (!args->has("png"))
      continue;
    std::vector<std::string> drawn;
    for (const AttentionLayer &layer : stack->layers)
      for (const pattern::Pattern &p : layer.groups) {
        std::string text = p.str();
        if (llvm::is_contained(drawn, text))
          continue;
        drawn.push_back(text);
        std::string out =
            pngDir + "/" + fileNameFor(stack->name, displayName(p));
        if (!writePatternPng(p, stack->context, *blockSize, out, &error)) {
          llvm::errs() << "stc inspect: " << error << "\n";
          return 1;
        }
        (args->has("json") ? llvm::errs() : llvm::outs())
            << "wrote " << out << " ("
            << (stack->context <= kElementImageLimit ? "element" : "block")
            << " level)\n";
      }
  }
  return 0;
}
