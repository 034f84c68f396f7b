//===- Run.cpp - stc train / eval / sample --------------------------------===//
//
// The runtime commands. MODEL is an artifact directory, or (in a build with
// the compiler) a .mlir model spec compiled on the fly into a cached artifact.
//
//===----------------------------------------------------------------------===//

#include "frontend/stc/Run.h"

#include "frontend/stc/Args.h"
#include "runtime/Artifact.h"
#include "runtime/Checkpoint.h"
#include "runtime/Data.h"
#include "runtime/Executor.h"
#include "runtime/Init.h"
#include "runtime/Profile.h"
#include "runtime/Safetensors.h"
#include "runtime/Train.h"
#include "runtime/cuda/KernelCache.h"
#include "runtime/support/Files.h"
#include "runtime/support/Media.h"
#include "abi/Hash.h"
#include "abi/Limits.h"
#include "abi/Version.h"
#ifdef STC_HAVE_COMPILER
#include "frontend/stc/Compile.h"
#endif

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

using namespace stc;
using namespace stc::cli;
using namespace stc::rt;

namespace {

bool isDirectory(const std::string &path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool isFile(const std::string &path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

int fail(const char *command, const std::string &message) {
  // The runtime's messages may start with the operation ("sample: ..."):
  // said once, not as "stc sample: sample: ...".
  std::string prefix = std::string(command) + ": ";
  std::string text = message.compare(0, prefix.size(), prefix) == 0
                         ? message.substr(prefix.size())
                         : message;
  std::fprintf(stderr, "stc %s: %s\n", command, text.c_str());
  return 1;
}

/// The signal that asked a training run to stop (0: none). The first
/// SIGINT or SIGTERM lets the current step finish and the run save; the
/// handler is reset by then, so a second one stops the process at once.
volatile std::sig_atomic_t stopSignal = 0;

extern "C" void onStopSignal(int signal) { stopSignal = signal; }

void catchStopSignals() {
  struct sigaction action = {};
  action.sa_handler = onStopSignal;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

/// Where compiled-on-the-fly artifacts live, beside the kernel cache.
std::string artifactCacheDir() { return cacheRoot() + "/artifacts"; }

/// Removes a directory tree; returns how many files it held.
Expected<int64_t> removeCountingFiles(const std::string &dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec))
    return int64_t(0);
  int64_t files = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); ++it)
    files += it->is_regular_file() ? 1 : 0;
  std::filesystem::remove_all(dir, ec);
  if (ec)
    return Status::error("cannot remove " + dir + ": " + ec.message());
  return files;
}

/// MODEL -> artifact directory: as given, or compiled from a .mlir.
Expected<std::string> resolveModel(const std::string &model, int64_t batch,
                                   int64_t blockSize,
                                   const std::string &recompute = "none",
                                   bool deterministic = false,
                                   int64_t sampleBatch = 0) {
  if (isDirectory(model)) {
    if (!isFile(model + "/manifest.json"))
      return Status::error("'" + model + "' is a directory without "
                           "manifest.json; pass an artifact directory (stc "
                           "compile MODEL.mlir -o DIR) or a .mlir model");
    return model;
  }
  bool isMlir = model.size() > 5 && model.compare(model.size() - 5, 5, ".mlir") == 0;
  if (!isMlir || !isFile(model))
    return Status::error("'" + model + "' is neither an artifact directory "
                         "nor a .mlir file");
#ifdef STC_HAVE_COMPILER
  Expected<std::string> text = readFile(model, "model");
  if (!text)
    return text.status();
  std::string key = *text + "|batch=" + std::to_string(batch) +
                    "|block=" + std::to_string(blockSize) +
                    (recompute == "none" ? "" : "|recompute=" + recompute) +
                    (deterministic ? "|deterministic" : "") +
                    (sampleBatch ? "|sample=" + std::to_string(sampleBatch) : "") +
                    "|artifact v" +
                    std::to_string(abi::kArtifactVersion) + "|stc " + abi::kStcVersion;
  std::string dir = artifactCacheDir() + "/" + abi::hex64(abi::fnv1a64(key));
  if (isFile(dir + "/manifest.json"))
    return dir;
  std::error_code ec;
  std::filesystem::create_directories(artifactCacheDir(), ec);
  if (ec)
    return Status::error("cannot create the artifact cache '" +
                         artifactCacheDir() + "': " + ec.message() +
                         " (set STC_CACHE_DIR to a writable directory)");
  std::fprintf(stderr, "stc: compiling %s (batch %lld) -> %s\n", model.c_str(),
               static_cast<long long>(batch), dir.c_str());
  // Compile into a fresh directory, then move it in place atomically.
  std::string tmp = dir + ".tmp" + std::to_string(::getpid());
  CompileRequest request{model, tmp, batch, blockSize, recompute,
                         deterministic, sampleBatch};
  if (!compileModel(request))
    return Status::error("compiling " + model + " failed (see above)");
  if (std::rename(tmp.c_str(), dir.c_str()) != 0 && !isFile(dir + "/manifest.json"))
    return Status::error("cannot move the compiled artifact to " + dir);
  return dir;
#else
  (void)batch;
  (void)blockSize;
  (void)recompute;
  (void)deterministic;
  (void)sampleBatch;
  return Status::error("this stc was built without the compiler "
                       "(STC_BUILD_COMPILER=OFF) and runs artifacts only; "
                       "compile '" + model + "' with a full stc (stc compile " +
                       model + " -o DIR) and pass DIR");
#endif
}

const FlagSpec kDeviceFlag = {"device", true,
                              "cpu, cuda or auto (default: auto, cuda if present)"};
const FlagSpec kHelpFlag = {"help", false, "show this help"};

/// The executor for --device, with the artifact allocated on it.
Expected<std::unique_ptr<Executor>> openExecutor(const Args &args,
                                                 const std::string &dir) {
  std::string error;
  std::optional<std::string> choice =
      args.getChoice("device", "auto", {"cpu", "cuda", "auto"}, &error);
  if (!choice)
    return Status::error(error);
  const std::string &device = *choice;
  Expected<Artifact> artifact = Artifact::load(dir);
  if (!artifact)
    return artifact.status();
  auto shared = std::make_shared<const Artifact>(std::move(*artifact));
  Expected<std::unique_ptr<Executor>> exec =
      createExecutor(device == "auto" ? "cuda" : device);
  if (!exec && device == "auto")
    exec = createExecutor("cpu");
  if (!exec)
    return exec.status();
  if (Status s = (*exec)->allocate(shared); !s)
    return s;
  return exec;
}

/// Whether --ckpt (required for eval and sample) names a readable file;
/// checked before the model is compiled.
Status checkCheckpointFlag(const Args &args, const char *command) {
  if (!args.has("ckpt"))
    return Status::error(std::string("stc ") + command +
                         " needs --ckpt CKPT (written by stc train --save)");
  return checkInputFile(args.get("ckpt"), "checkpoint");
}

/// FILE for sample i (0-based) of --out / --png / --wav: FILE itself for the
/// first, "-<i+1>" inserted before the extension for the others.
std::string numberedPath(const std::string &path, int64_t i) {
  if (i == 0)
    return path;
  size_t dot = path.find_last_of('.');
  size_t slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
    dot = path.size();
  return path.substr(0, dot) + "-" + std::to_string(i + 1) + path.substr(dot);
}

/// --png and --wav of one sample (its prompt included): the image is the
/// first height x width x channels bytes, gray-padded when the sample is
/// shorter (a picture drawn so far).
Status writeMedia(const Args &args, const ModelInfo &model,
                  const std::string &bytes, int64_t i, int64_t rate) {
  if (args.has("png")) {
    const int64_t h = model.image[0], w = model.image[1], c = model.image[2];
    std::string pixels = bytes.substr(0, static_cast<size_t>(h * w * c));
    pixels.resize(static_cast<size_t>(h * w * c), '\x80');
    Expected<std::string> png = encodePng(pixels, w, h, c);
    if (!png)
      return png.status().withContext("--png");
    STC_RETURN_IF_ERROR(
        writeFileAtomic(numberedPath(args.get("png"), i), *png)
            .withContext("--png"));
  }
  if (args.has("wav")) {
    Expected<std::string> wav = encodeWav(bytes, rate);
    if (!wav)
      return wav.status().withContext("--wav");
    STC_RETURN_IF_ERROR(
        writeFileAtomic(numberedPath(args.get("wav"), i), *wav)
            .withContext("--wav"));
  }
  return Status::ok();
}

/// Loads --ckpt.
Status restore(Executor &exec, const Args &args) {
  Expected<int64_t> step = loadCheckpoint(exec, args.get("ckpt"));
  return step ? Status::ok() : step.status();
}

} // namespace

int stc::cli::runCache(int argc, char **argv, int first) {
  const char *usage = "usage: stc cache info | stc cache clear\n"
                      "  info   where the caches are and what they hold\n"
                      "  clear  remove compiled kernels and compiled-on-the-fly "
                      "artifacts\n"
                      "The cache root is $STC_CACHE_DIR, else "
                      "$XDG_CACHE_HOME/stc, else ~/.cache/stc.\n";
  for (int i = first; i < argc; ++i)
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf("%s", usage);
      return 0;
    }
  if (argc - first != 1) {
    std::fprintf(stderr, "%s", usage);
    return 2;
  }
  std::string action = argv[first];
  if (action == "info") {
    Expected<KernelCacheInfo> info = kernelCacheInfo();
    if (!info)
      return fail("cache", info.status().message());
    std::printf("kernels:   %s (%lld entries, %lld bytes)\n", info->path.c_str(),
                static_cast<long long>(info->entries),
                static_cast<long long>(info->bytes));
    std::printf("artifacts: %s\n", artifactCacheDir().c_str());
    return 0;
  }
  if (action == "clear") {
    Expected<int64_t> removed = clearKernelCache();
    if (!removed)
      return fail("cache", removed.status().message());
    Expected<int64_t> artifacts = removeCountingFiles(artifactCacheDir());
    if (!artifacts)
      return fail("cache", artifacts.status().message());
    std::printf("removed %lld kernel(s) and %lld compiled artifact file(s)\n",
                static_cast<long long>(*removed),
                static_cast<long long>(*artifacts));
    return 0;
  }
  std::fprintf(stderr, "stc cache: unknown action '%s'\n%s", action.c_str(), usage);
  return 2;
}

namespace {

/// "1:02:03" or "2:03".
std::string clock(double seconds) {
  long long t = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", t / 3600,
                  t / 60 % 60, t % 60);
  else
    std::snprintf(buf, sizeof(buf), "%lld:%02lld", t / 60, t % 60);
  return buf;
}

/// The schedule of a resumed run: the checkpoint's record, with flags that
/// contradict it refused (a run is continued, not changed) except --steps,
/// which may extend it.
Status resumeSchedule(const Args &args, const RunRecord &saved, int64_t done,
                      TrainOptions &o) {
  auto differs = [&](const char *flag, bool same, const std::string &mine,
                     const std::string &theirs) -> Status {
    if (!args.has(flag) || same)
      return Status::ok();
    return Status::error("--" + std::string(flag) + " " + mine +
                         " differs from the resumed run's " + theirs +
                         "; --resume continues that run (leave out --" + flag +
                         ", or start a new run without --resume)");
  };
  auto num = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", v);
    return std::string(buf);
  };
  STC_RETURN_IF_ERROR(differs("lr", o.learningRate == saved.learningRate,
                              num(o.learningRate), num(saved.learningRate)));
  STC_RETURN_IF_ERROR(differs("min-lr", o.minLearningRate == saved.minLearningRate,
                              num(o.minLearningRate), num(saved.minLearningRate)));
  STC_RETURN_IF_ERROR(differs("warmup", o.warmupSteps == saved.warmupSteps,
                              std::to_string(o.warmupSteps),
                              std::to_string(saved.warmupSteps)));
  STC_RETURN_IF_ERROR(differs("seed", o.seed == saved.seed, std::to_string(o.seed),
                              std::to_string(saved.seed)));
  STC_RETURN_IF_ERROR(differs("accumulate", o.accumulate == saved.accumulate,
                              std::to_string(o.accumulate),
                              std::to_string(saved.accumulate)));
  int64_t steps = args.has("steps") ? o.steps : saved.steps;
  if (steps <= done)
    return Status::error("the checkpoint is at step " + std::to_string(done) +
                         " of a " + std::to_string(saved.steps) +
                         "-step run; --steps must be larger to train on");
  if (steps != saved.steps)
    std::fprintf(stderr,
                 "stc train: extending the run from %lld to %lld steps; the "
                 "learning-rate schedule is re-planned over %lld steps\n",
                 static_cast<long long>(saved.steps),
                 static_cast<long long>(steps), static_cast<long long>(steps));
  o.steps = steps;
  o.learningRate = saved.learningRate;
  o.minLearningRate = saved.minLearningRate;
  o.warmupSteps = saved.warmupSteps;
  o.seed = saved.seed;
  o.accumulate = saved.accumulate;
  return Status::ok();
}

} // namespace

int stc::cli::runTrain(int argc, char **argv, int first) {
  const std::vector<FlagSpec> flags = {
      {"data", true, "byte file to train on (required)"},
      kDeviceFlag,
      {"steps", true, "training steps: the schedule's length (default 200)"},
      {"until", true, "stop after step N, to --resume later (default: --steps)"},
      {"batch", true, "sequences per step, for a .mlir model (default 4)"},
      {"accumulate", true, "micro-batches per step: the gradients of K "
                           "batches are averaged before one optimizer step "
                           "(K x batch sequences per step; default 1)"},
      {"lr", true, "peak learning rate (default 1e-3)"},
      {"min-lr", true, "floor of the cosine decay (default lr / 10)"},
      {"warmup", true, "linear warmup steps (default steps / 20)"},
      {"seed", true, "initialisation, data order and dropout seed (default 1)"},
      {"log-json", true, "write one JSON object per step to FILE"},
      {"log-every", true, "print progress every N steps (default steps / 20)"},
      {"save", true, "write a checkpoint to CKPT at the end (and on Ctrl-C)"},
      {"save-every", true, "also write --save every N steps"},
      {"resume", true, "continue the run checkpoint CKPT was written by"},
      {"eval-every", true, "bits per byte on held-out data every N steps "
                           "and at the end"},
      {"val", true, "held-out byte file for --eval-every (default: the last "
                    "5% of --data, which training then leaves out)"},
      {"eval-windows", true, "held-out windows per evaluation (default 16)"},
      {"block-size", true, blockSizeHelp() + ", for a .mlir model"},
      {"recompute", true, "none (default), cheap, gemm or paper, for a "
                          ".mlir model (stc compile --recompute)"},
      {"deterministic", false, "bit-reproducible steps: a .mlir model is "
                               "compiled with stc compile --deterministic; "
                               "an artifact must have been"},
      {"save-grads", true, "write the first step's gradients (before "
                           "clipping) to FILE as safetensors, by parameter "
                           "name: to compare with another framework"},
      {"profile", true, "after training (and --save), time every op of the "
                        "training step; print the time by op kind and "
                        "write each op's to FILE (JSON)"},
      kHelpFlag,
  };
  std::string error;
  std::optional<Args> args = Args::parse(argc, argv, first, flags, &error);
  std::string usage = "usage: stc train MODEL --data FILE [flags]\n" + describeFlags(flags);
  if (!args)
    return fail("train", error + "\n" + usage);
  if (args->has("help")) {
    std::printf("%s", usage.c_str());
    return 0;
  }
  if (args->positional().size() != 1 || !args->has("data"))
    return fail("train", "expected MODEL and --data FILE\n" + usage);
  auto steps = args->getInt("steps", 200, 1, INT32_MAX, &error);
  auto batch = steps ? args->getInt("batch", 4, 1, abi::kMaxBatch, &error) : std::nullopt;
  auto block = batch ? args->getBlockSize("block-size", &error) : std::nullopt;
  auto seed = block ? args->getInt("seed", 1, 0, INT64_MAX, &error) : std::nullopt;
  auto lr = seed ? args->getDouble("lr", 1e-3, 0, 10, &error) : std::nullopt;
  auto minLr = lr ? args->getDouble("min-lr", *lr / 10, 0, *lr, &error) : std::nullopt;
  auto warmup = minLr ? args->getInt("warmup", std::max<int64_t>(1, *steps / 20), 0,
                                     *steps, &error)
                      : std::nullopt;
  auto saveEvery = warmup ? args->getInt("save-every", 0, 1, int64_t(1) << 40, &error)
                          : std::nullopt;
  auto evalEvery = saveEvery ? args->getInt("eval-every", 0, 1, int64_t(1) << 40, &error)
                             : std::nullopt;
  auto evalWindows = evalEvery ? args->getInt("eval-windows", 16, 1, INT64_MAX, &error)
                               : std::nullopt;
  auto until = evalWindows ? args->getInt("until", 0, 1, INT32_MAX, &error)
                           : std::nullopt;
  auto accumulate = until ? args->getInt("accumulate", 1, 1, 1 << 16, &error)
                          : std::nullopt;
  if (!accumulate)
    return fail("train", error);
  if (args->has("save-every") && !args->has("save"))
    return fail("train", "--save-every needs --save CKPT (where to write)");
  if ((args->has("val") || args->has("eval-windows")) && !args->has("eval-every"))
    return fail("train", "--val and --eval-windows go with --eval-every N");
  // Every path is checked before the compile and the training it would waste.
  if (Status s = checkInputFile(args->get("data"), "data file"); !s)
    return fail("train", s.message());
  if (args->has("val"))
    if (Status s = checkInputFile(args->get("val"), "validation file"); !s)
      return fail("train", "--val: " + s.message());
  if (args->has("resume"))
    if (Status s = checkInputFile(args->get("resume"), "checkpoint"); !s)
      return fail("train", "--resume: " + s.message());
  for (const char *flag : {"save", "log-json", "profile", "save-grads"})
    if (args->has(flag))
      if (Status s = checkOutputFile(args->get(flag), std::string("--") + flag); !s)
        return fail("train", s.message());

  std::optional<std::string> recompute =
      args->getChoice("recompute", "none", {"none", "cheap", "gemm", "paper"},
                      &error);
  if (!recompute)
    return fail("train", error);
  const bool deterministic = args->has("deterministic");
  Expected<std::string> dir = resolveModel(args->positional()[0], *batch,
                                           *block, *recompute, deterministic);
  if (!dir)
    return fail("train", dir.status().message());
  Expected<std::unique_ptr<Executor>> exec = openExecutor(*args, *dir);
  if (!exec)
    return fail("train", exec.status().message());
  Executor &e = **exec;
  const ModelInfo &model = e.artifact().model;
  if (deterministic)
    for (const Entry &entry : e.artifact().entries)
      for (const Op &op : entry.ops)
        if (op.kind == OpKind::AttentionBwdAtomic)
          return fail("train", "--deterministic: the artifact " + *dir +
                                   " adds attention gradients with atomics "
                                   "(attention_bwd_atomic); recompile it "
                                   "with stc compile --deterministic");
  if (args->has("batch") && *batch != model.batch)
    return fail("train", "the artifact was compiled for batch " +
                             std::to_string(model.batch) + ", not " +
                             std::to_string(*batch) +
                             "; recompile with stc compile --batch " +
                             std::to_string(*batch));
  Expected<ByteDataset> data = ByteDataset::load(args->get("data"), model.context);
  if (!data)
    return fail("train", data.status().message());
  std::optional<ByteDataset> val;
  if (args->has("val")) {
    Expected<ByteDataset> v = ByteDataset::load(args->get("val"), model.context);
    if (!v)
      return fail("train", "--val: " + v.status().message());
    val = std::move(*v);
  } else if (args->has("eval-every")) {
    // The last 5% (at least one window) is held out.
    int64_t held = std::max<int64_t>(data->size() / 20, model.context + 1);
    Expected<ByteDataset> v = data->slice(data->size() - held, data->size(),
                                          data->name() + " (last 5%)");
    Expected<ByteDataset> t = data->slice(0, data->size() - held, data->name());
    if (!v || !t)
      return fail("train", "--data '" + args->get("data") + "' has " +
                               std::to_string(data->size()) +
                               " bytes: too few to hold out a validation "
                               "split (give --val FILE)");
    val = std::move(*v);
    data = std::move(*t);
  }

  TrainOptions options;
  options.steps = *steps;
  options.learningRate = *lr;
  options.minLearningRate = *minLr;
  options.warmupSteps = *warmup;
  options.seed = static_cast<uint64_t>(*seed);
  options.accumulate = *accumulate;
  options.logPath = args->get("log-json");
  if (args->has("resume")) {
    std::optional<RunRecord> saved;
    Expected<int64_t> done = loadCheckpoint(e, args->get("resume"), &saved);
    if (!done)
      return fail("train", done.status().message());
    options.startStep = *done;
    if (saved) {
      if (Status s = resumeSchedule(*args, *saved, *done, options); !s)
        return fail("train", s.message());
    } else {
      std::fprintf(stderr, "stc train: %s has no run record (an older "
                   "checkpoint); the schedule comes from the flags\n",
                   args->get("resume").c_str());
      if (options.steps <= *done)
        return fail("train", "the checkpoint is at step " + std::to_string(*done) +
                                 "; --steps must be larger to train on");
    }
  } else if (Status s = initParams(e, options.seed); !s) {
    return fail("train", s.message());
  }
  if (*until > 0) {
    if (*until <= options.startStep || *until > options.steps)
      return fail("train", "--until " + std::to_string(*until) +
                               " is outside the steps to run, " +
                               std::to_string(options.startStep + 1) + " to " +
                               std::to_string(options.steps));
    options.stopAfter = *until;
  }
  const int64_t lastStep = options.stopAfter > 0 ? options.stopAfter : options.steps;
  const RunRecord run{options.steps,        options.warmupSteps,
                      options.learningRate, options.minLearningRate,
                      options.seed,         options.accumulate};
  auto every = args->getInt("log-every",
                            std::max<int64_t>(1, options.steps / 20), 1,
                            int64_t(1) << 40, &error);
  if (!every)
    return fail("train", error);
  std::fprintf(stderr,
               "stc train: model @%s (%lld parameters, context %lld, batch "
               "%lld%s, %.1f MiB arena) on %s, steps %lld to %lld%s\n",
               model.name.c_str(), static_cast<long long>(model.paramCount),
               static_cast<long long>(model.context),
               static_cast<long long>(model.batch),
               options.accumulate > 1
                   ? (" x " + std::to_string(options.accumulate) +
                      " micro-batches")
                         .c_str()
                   : "",
               e.artifact().arenaBytes / 1048576.0, e.name(),
               static_cast<long long>(options.startStep + 1),
               static_cast<long long>(lastStep),
               val ? (", held out: " + val->name()).c_str() : "");

  Status callbackError;
  EvalOptions evalOptions;
  evalOptions.maxWindows = *evalWindows;
  options.onStep = [&](StepReport &r) {
    bool last = r.step == lastStep;
    if (args->has("save-grads") && r.step == options.startStep + 1) {
      SafetensorsOptions grads;
      grads.gradients = true;
      grads.step = r.step;
      if (Status s = saveSafetensors(e, args->get("save-grads"), grads); !s) {
        callbackError = s.withContext("--save-grads");
        return false;
      }
      std::fprintf(stderr, "stc train: wrote the gradients of step %lld to %s\n",
                   static_cast<long long>(r.step),
                   args->get("save-grads").c_str());
    }
    if (val && (r.step % *evalEvery == 0 || last)) {
      Expected<EvalResult> v = evaluate(e, *val, evalOptions);
      if (!v) {
        callbackError = v.status().withContext("evaluating at step " +
                                               std::to_string(r.step));
        return false;
      }
      r.validationBitsPerByte = v->bitsPerByte;
    }
    if (r.step % *every == 0 || last || r.step == options.startStep + 1 ||
        std::isfinite(r.validationBitsPerByte)) {
      double perStep = r.elapsedSeconds /
                       static_cast<double>(r.step - options.startStep);
      // Memory: the arena, planned at compile time and held for the run.
      std::printf("step %6lld/%lld  loss %.4f bits/byte  lr %.2e  %8.0f "
                  "tokens/s  mem %s  ETA %s",
                  static_cast<long long>(r.step),
                  static_cast<long long>(options.steps), r.loss,
                  r.learningRate, r.tokensPerSecond,
                  abi::bytesText(e.artifact().arenaBytes).c_str(),
                  clock(perStep * static_cast<double>(lastStep - r.step))
                      .c_str());
      if (std::isfinite(r.validationBitsPerByte))
        std::printf("  val %.4f bits/byte", r.validationBitsPerByte);
      if (r.lossScale > 0) // f16: dynamic loss scaling
        std::printf("  loss scale %g, %lld skipped%s", r.lossScale,
                    static_cast<long long>(r.skippedSteps),
                    r.skipped ? " (this step: overflow)" : "");
      std::printf("\n");
      std::fflush(stdout);
    }
    if (saveEvery && *saveEvery > 0 && r.step % *saveEvery == 0 && !last) {
      if (Status s = saveCheckpoint(e, args->get("save"), r.step, run); !s) {
        callbackError = s;
        return false;
      }
      std::fprintf(stderr, "stc train: saved %s (step %lld)\n",
                   args->get("save").c_str(), static_cast<long long>(r.step));
    }
    return stopSignal == 0;
  };
  catchStopSignals();
  Expected<TrainResult> result = train(e, *data, options);
  if (!result)
    return fail("train", result.status().message());
  if (!callbackError.isOk())
    return fail("train", callbackError.message());
  const int signal = stopSignal;
  if (int64_t used = e.deviceBytesInUse(); used >= 0) {
    // What the device gave the run, against what the compiler planned.
    const int64_t planned = plannedTrainingBytes(e.artifact(), options.accumulate);
    std::fprintf(stderr,
                 "stc train: device memory %s in use (measured), %s planned "
                 "(arena %s, layout tables and GEMM workspace%s): %+.1f%%\n",
                 abi::bytesText(used).c_str(), abi::bytesText(planned).c_str(),
                 abi::bytesText(e.artifact().arenaBytes).c_str(),
                 options.accumulate > 1 ? ", the float32 gradient sum" : "",
                 100.0 * double(used - planned) / double(planned));
  }
  if (signal != 0)
    std::fprintf(stderr, "stc train: stopped by %s after step %lld%s\n",
                 signal == SIGINT ? "SIGINT" : "SIGTERM",
                 static_cast<long long>(result->lastStep),
                 args->has("save") ? "" : " (nothing saved: no --save)");
  if (args->has("save") && result->lastStep > options.startStep) {
    if (Status s = saveCheckpoint(e, args->get("save"), result->lastStep, run); !s)
      return fail("train", s.message());
    std::fprintf(stderr, "stc train: saved %s (step %lld)\n",
                 args->get("save").c_str(),
                 static_cast<long long>(result->lastStep));
  }
  if (signal == 0 && args->has("profile")) {
    // After the save: the profile's extra runs update the parameters.
    constexpr int kRepeats = 5;
    std::fprintf(stderr, "stc train: profiling the training step (1 run, "
                 "then %d op by op and %d whole)\n", kRepeats, kRepeats);
    // The last step's inputs again (the arena reused their buffers).
    Expected<Scalars> sc = uploadTrainStep(e, *data, options, result->lastStep);
    if (!sc)
      return fail("train", "--profile: " + sc.status().message());
    Expected<EntryProfile> p = profileEntry(e, EntryKind::Train, kRepeats);
    if (!p)
      return fail("train", "--profile: " + p.status().message());
    std::printf("%s", formatProfile(*p, e.artifact()).c_str());
    if (Status s = writeFileAtomic(args->get("profile"),
                                   json::write(profileJson(*p, e.artifact()), 1) +
                                       "\n");
        !s)
      return fail("train", "--profile: " + s.message());
  }
  return signal == 0 ? 0 : 128 + signal;
}

int stc::cli::runEval(int argc, char **argv, int first) {
  const std::vector<FlagSpec> flags = {
      {"ckpt", true, "checkpoint to evaluate (required)"},
      {"data", true, "byte file to evaluate on (required)"},
      kDeviceFlag,
      {"max-windows", true, "evaluate at most N windows (default: all)"},
      {"batch", true, "for a .mlir model (default 4)"},
      {"block-size", true, blockSizeHelp() + ", for a .mlir model"},
      kHelpFlag,
  };
  std::string error;
  std::optional<Args> args = Args::parse(argc, argv, first, flags, &error);
  std::string usage = "usage: stc eval MODEL --ckpt CKPT --data FILE [flags]\n" +
                      describeFlags(flags);
  if (!args)
    return fail("eval", error + "\n" + usage);
  if (args->has("help")) {
    std::printf("%s", usage.c_str());
    return 0;
  }
  if (args->positional().size() != 1 || !args->has("data"))
    return fail("eval", "expected MODEL, --ckpt CKPT and --data FILE\n" + usage);
  auto windows = args->getInt("max-windows", 0, 0, INT64_MAX, &error);
  auto batch = windows ? args->getInt("batch", 4, 1, abi::kMaxBatch, &error) : std::nullopt;
  auto block = batch ? args->getBlockSize("block-size", &error) : std::nullopt;
  if (!block)
    return fail("eval", error);
  if (Status s = checkInputFile(args->get("data"), "data file"); !s)
    return fail("eval", s.message());
  if (Status s = checkCheckpointFlag(*args, "eval"); !s)
    return fail("eval", s.message());
  Expected<std::string> dir = resolveModel(args->positional()[0], *batch, *block);
  if (!dir)
    return fail("eval", dir.status().message());
  Expected<std::unique_ptr<Executor>> exec = openExecutor(*args, *dir);
  if (!exec)
    return fail("eval", exec.status().message());
  if (Status s = restore(**exec, *args); !s)
    return fail("eval", s.message());
  Expected<ByteDataset> data =
      ByteDataset::load(args->get("data"), (*exec)->artifact().model.context);
  if (!data)
    return fail("eval", data.status().message());
  EvalOptions options;
  options.maxWindows = *windows;
  Expected<EvalResult> result = evaluate(**exec, *data, options);
  if (!result)
    return fail("eval", result.status().message());
  std::printf("%.4f bits/byte over %lld tokens (%lld windows)\n",
              result->bitsPerByte, static_cast<long long>(result->tokens),
              static_cast<long long>(result->windows));
  return 0;
}

int stc::cli::runSample(int argc, char **argv, int first) {
  const std::vector<FlagSpec> flags = {
      {"ckpt", true, "checkpoint to sample from (required)"},
      kDeviceFlag,
      {"n", true, "bytes to generate per sample (default 200; any length: "
                  "past the context the model sees its last half)"},
      {"num-samples", true, "samples to draw; sample i uses seed S + i - 1 "
                            "(default 1); the model's sample step draws up "
                            "to its sample batch of them at once"},
      {"seed", true, "sampling seed S (default 1)"},
      {"temperature", true, "softmax temperature, 0 = greedy (default 1.0)"},
      {"top-k", true, "draw from the k most likely bytes only (default: all)"},
      {"top-p", true, "draw from the fewest bytes holding this probability "
                      "(default 1: all)"},
      {"prompt", true, "file whose bytes start each sample (default: a newline)"},
      {"prompt-text", true, "the prompt as text on the command line"},
      {"no-echo", false, "print only the generated bytes, not the prompt"},
      {"out", true, "write the generated bytes to FILE instead of stdout "
                    "(sample i > 1: FILE with -i before the extension)"},
      {"png", true, "an image model (data-aligned positions): also write "
                    "the sample (prompt included, as it is drawn) as a PNG "
                    "image; sample i > 1 goes to FILE with -i before .png"},
      {"wav", true, "also write the sample's bytes as 8-bit mono PCM WAV "
                    "(sample i > 1: FILE with -i before .wav)"},
      {"sample-rate", true, "samples per second of --wav (default 8000)"},
      {"batch", true, "for a .mlir model (default 4)"},
      {"sample-batch", true, "for a .mlir model: sequences drawn at once "
                             "(default: the batch)"},
      {"block-size", true, blockSizeHelp() + ", for a .mlir model"},
      kHelpFlag,
  };
  std::string error;
  std::optional<Args> args = Args::parse(argc, argv, first, flags, &error);
  std::string usage = "usage: stc sample MODEL --ckpt CKPT [flags]\n" + describeFlags(flags);
  if (!args)
    return fail("sample", error + "\n" + usage);
  if (args->has("help")) {
    std::printf("%s", usage.c_str());
    return 0;
  }
  if (args->positional().size() != 1)
    return fail("sample", "expected MODEL and --ckpt CKPT\n" + usage);
  auto n = args->getInt("n", 200, 1, int64_t(1) << 40, &error);
  auto samples = n ? args->getInt("num-samples", 1, 1, 1 << 20, &error) : std::nullopt;
  auto seed = samples ? args->getInt("seed", 1, 0, INT64_MAX, &error) : std::nullopt;
  auto temperature = seed ? args->getDouble("temperature", 1.0, 0, 100, &error)
                          : std::nullopt;
  auto topK = temperature ? args->getInt("top-k", 0, 0, 1 << 24, &error) : std::nullopt;
  auto topP = topK ? args->getDouble("top-p", 1.0, 1e-9, 1.0, &error) : std::nullopt;
  auto batch = topP ? args->getInt("batch", 4, 1, abi::kMaxBatch, &error) : std::nullopt;
  auto sampleBatch =
      batch ? args->getInt("sample-batch", 0, 1, abi::kMaxBatch, &error)
            : std::nullopt;
  auto block = sampleBatch ? args->getBlockSize("block-size", &error) : std::nullopt;
  auto rate = block ? args->getInt("sample-rate", 8000, 1, 1000000, &error)
                    : std::nullopt;
  if (!rate)
    return fail("sample", error);
  if (args->has("sample-rate") && !args->has("wav"))
    return fail("sample", "--sample-rate goes with --wav FILE");
  if (args->has("prompt") && args->has("prompt-text"))
    return fail("sample", "give the prompt as --prompt FILE or --prompt-text "
                          "TEXT, not both");
  if (Status s = checkCheckpointFlag(*args, "sample"); !s)
    return fail("sample", s.message());
  for (const char *flag : {"out", "png", "wav"})
    if (args->has(flag))
      if (Status s = checkOutputFile(args->get(flag), std::string("--") + flag);
          !s)
        return fail("sample", s.message());
  SampleOptions options;
  options.count = *n;
  options.temperature = *temperature;
  options.topK = *topK;
  options.topP = *topP;
  options.prompt = "\n";
  if (args->has("prompt")) {
    Expected<std::string> prompt = readFile(args->get("prompt"), "prompt file");
    if (!prompt)
      return fail("sample", prompt.status().message());
    if (prompt->empty())
      return fail("sample", "--prompt file '" + args->get("prompt") + "' is empty");
    options.prompt = *prompt;
  } else if (args->has("prompt-text")) {
    options.prompt = args->get("prompt-text");
    if (options.prompt.empty())
      return fail("sample", "--prompt-text is empty; give at least one byte");
  }
  Expected<std::string> dir =
      resolveModel(args->positional()[0], *batch, *block, "none", false,
                   *sampleBatch);
  if (!dir)
    return fail("sample", dir.status().message());
  Expected<std::unique_ptr<Executor>> exec = openExecutor(*args, *dir);
  if (!exec)
    return fail("sample", exec.status().message());
  if (Status s = restore(**exec, *args); !s)
    return fail("sample", s.message());
  const ModelInfo &model = (*exec)->artifact().model;
  if (args->has("png") && model.image.empty())
    return fail("sample", "--png: model @" + model.name +
                              " is not an image model (its positions are not "
                              "data-aligned over [height, width, channels] with "
                              "1, 3 or 4 channels); use --out or --wav");

  // Generated bytes are streamed to stdout as they are drawn; on a terminal
  // the echoed prompt is shown faint, so that it is told apart. The sample
  // step draws up to sample_batch sequences at once: the first of each round
  // is streamed, the others are printed when the round ends.
  const bool toStdout = !args->has("out");
  const bool echo = toStdout && !args->has("no-echo");
  const bool terminal = ::isatty(STDOUT_FILENO);
  const int64_t perRound = std::min<int64_t>(*samples, model.sampleBatch);
  // Sample i (0-based) is drawn with seed S + i.
  auto seedOf = [&](int64_t i) {
    return static_cast<uint64_t>(*seed) + static_cast<uint64_t>(i);
  };
  auto header = [&](int64_t i) {
    if (*samples > 1)
      std::printf("%s--- sample %lld of %lld (seed %llu) ---\n", i ? "\n" : "",
                  static_cast<long long>(i + 1), static_cast<long long>(*samples),
                  static_cast<unsigned long long>(seedOf(i)));
    if (echo) {
      std::fputs(terminal ? "\033[2m" : "", stdout);
      std::fwrite(options.prompt.data(), 1, options.prompt.size(), stdout);
      std::fputs(terminal ? "\033[0m" : "", stdout);
    }
  };
  if (toStdout)
    options.onByte = [](int64_t sequence, char c) {
      if (sequence == 0) {
        std::fputc(c, stdout);
        std::fflush(stdout);
      }
    };
  int64_t generated = 0;
  auto start = std::chrono::steady_clock::now();
  for (int64_t first = 0; first < *samples; first += perRound) {
    options.sequences = std::min<int64_t>(perRound, *samples - first);
    if (toStdout)
      header(first);
    options.seed = seedOf(first);
    Expected<std::vector<std::string>> texts = sampleSequences(**exec, options);
    if (!texts) {
      std::fflush(stdout);
      return fail("sample", texts.status().message());
    }
    for (int64_t s = 0; s < options.sequences; ++s) {
      const std::string &text = (*texts)[s];
      if (s > 0 && toStdout) {
        header(first + s);
        std::fwrite(text.data(), 1, text.size(), stdout);
      }
      generated += static_cast<int64_t>(text.size());
      if (!toStdout) {
        if (Status st = writeFileAtomic(numberedPath(args->get("out"), first + s),
                                        text);
            !st)
          return fail("sample", "--out: " + st.message());
      }
      if (Status st = writeMedia(*args, model, options.prompt + text,
                                 first + s, *rate);
          !st)
        return fail("sample", st.message());
    }
  }
  if (toStdout)
    std::printf("\n");
  std::fflush(stdout);
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr,
               "stc sample: %lld sample(s) of %lld byte(s) after a %zu-byte "
               "prompt, %lld at once, in %.2f s (%.0f bytes/s) on %s\n",
               static_cast<long long>(*samples), static_cast<long long>(*n),
               options.prompt.size(), static_cast<long long>(perRound), seconds,
               seconds > 0 ? generated / seconds : 0.0, (*exec)->name());
  return 0;
}

int stc::cli::runExport(int argc, char **argv, int first) {
  const std::vector<FlagSpec> flags = {
      {"ckpt", true, "checkpoint to export (default: the initial parameters "
                     "stc train --seed would start from)"},
      {"seed", true, "without --ckpt: the initialisation seed (default 1)"},
      {"o", true, "the .safetensors file to write (required)"},
      {"optimizer", false, "also the AdamW moments (<param>.adam_m, .adam_v)"},
      {"batch", true, "for a .mlir model (default 4)"},
      {"block-size", true, blockSizeHelp() + ", for a .mlir model"},
      kHelpFlag,
  };
  std::string error;
  std::optional<Args> args = Args::parse(argc, argv, first, flags, &error);
  std::string usage = "usage: stc export MODEL [--ckpt CKPT] -o OUT.safetensors "
                      "[flags]\n" + describeFlags(flags) +
                      "Writes the parameters by their model names in the "
                      "safetensors format (PyTorch, JAX, numpy read it).\n";
  if (!args)
    return fail("export", error + "\n" + usage);
  if (args->has("help")) {
    std::printf("%s", usage.c_str());
    return 0;
  }
  if (args->positional().size() != 1 || !args->has("o"))
    return fail("export", "expected MODEL and -o OUT\n" + usage);
  auto batch = args->getInt("batch", 4, 1, abi::kMaxBatch, &error);
  auto block = batch ? args->getBlockSize("block-size", &error) : std::nullopt;
  auto seed = block ? args->getInt("seed", 1, 0, INT64_MAX, &error) : std::nullopt;
  if (!seed)
    return fail("export", error);
  const bool fromCheckpoint = args->has("ckpt");
  if (fromCheckpoint && args->has("seed"))
    return fail("export", "--seed chooses the initial parameters; a "
                          "checkpoint (--ckpt) has its own");
  if (fromCheckpoint)
    if (Status s = checkCheckpointFlag(*args, "export"); !s)
      return fail("export", s.message());
  if (args->has("optimizer") && !fromCheckpoint)
    return fail("export", "--optimizer needs --ckpt (the initial moments "
                          "are zero)");
  if (Status s = checkOutputFile(args->get("o"), "-o"); !s)
    return fail("export", s.message());
  Expected<std::string> dir = resolveModel(args->positional()[0], *batch, *block);
  if (!dir)
    return fail("export", dir.status().message());
  // The parameters are bytes to copy: the CPU executor does, whatever GPU.
  Expected<Artifact> artifact = Artifact::load(*dir);
  if (!artifact)
    return fail("export", artifact.status().message());
  Expected<std::unique_ptr<Executor>> exec = createExecutor("cpu");
  if (!exec)
    return fail("export", exec.status().message());
  if (Status s = (*exec)->allocate(
          std::make_shared<const Artifact>(std::move(*artifact)));
      !s)
    return fail("export", s.message());
  Expected<int64_t> step = int64_t(0);
  if (fromCheckpoint)
    step = loadCheckpoint(**exec, args->get("ckpt"));
  else if (Status s = initParams(**exec, static_cast<uint64_t>(*seed)); !s)
    step = s;
  if (!step)
    return fail("export", step.status().message());
  SafetensorsOptions options;
  options.optimizer = args->has("optimizer");
  options.step = *step;
  if (Status s = saveSafetensors(**exec, args->get("o"), options); !s)
    return fail("export", s.message());
  std::fprintf(stderr, "stc export: wrote %s (%zu parameters%s, step %lld)\n",
               args->get("o").c_str(), (*exec)->artifact().params.size(),
               options.optimizer ? " and their AdamW moments" : "",
               static_cast<long long>(*step));
  return 0;
}
