//===- main.cpp - The stc driver ------------------------------------------===//
//
// One command for users: inspect and compile models (when built with the
// compiler), train, evaluate and sample (always).
//
//===----------------------------------------------------------------------===//

#include "frontend/stc/Args.h"
#include "frontend/stc/Run.h"
#include "abi/Limits.h"
#include "abi/Version.h"
#include "runtime/Checkpoint.h"
#include "runtime/support/Crash.h"
#ifdef STC_HAVE_COMPILER
#include "frontend/stc/Compile.h"
#include "frontend/stc/Inspect.h"
#endif

#include <cstdio>
#include <cstring>
#include <string>

namespace {

void printUsage(FILE *out) {
  std::fprintf(out,
               "usage: stc COMMAND [ARGS]\n"
               "\n"
               "commands:\n"
#ifdef STC_HAVE_COMPILER
               "  inspect MODEL.mlir   patterns, densities, blocks, FLOPs, "
               "reachability\n"
               "  compile MODEL.mlir -o OUT   the artifact: manifest + CUDA "
               "kernels\n"
#endif
               "  train MODEL --data FILE     train (MODEL: artifact dir or .mlir)\n"
               "  eval MODEL --ckpt C --data FILE   bits per byte on a file\n"
               "  sample MODEL --ckpt C        generate bytes\n"
               "  export MODEL --ckpt C -o F   parameters as safetensors\n"
               "  cache info|clear             the kernel and artifact caches\n"
               "  help                 this text (also --help)\n"
               "  --version            the version and what this build holds\n"
               "\n"
               "Run `stc COMMAND --help` for a command's flags.\n"
#ifndef STC_HAVE_COMPILER
               "This stc was built without the compiler (STC_BUILD_COMPILER="
               "OFF): it runs compiled artifacts only.\n"
#endif
  );
}

} // namespace

int main(int argc, char **argv) {
  stc::rt::installCrashHandlers("stc");
  if (argc < 2 || !std::strcmp(argv[1], "help") ||
      !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    printUsage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string command = argv[1];
  if (command == "--version" || command == "version") {
    std::printf("stc %s (artifact format %lld, checkpoint format %u; "
                "compiler: %s; CUDA executor: %s)\n",
                stc::abi::kStcVersion,
                static_cast<long long>(stc::abi::kArtifactVersion),
                stc::rt::kCheckpointVersion,
#ifdef STC_HAVE_COMPILER
                "yes",
#else
                "no (STC_BUILD_COMPILER=OFF)",
#endif
#ifdef STC_HAVE_CUDA_EXECUTOR
                "yes"
#else
                "no"
#endif
    );
    return 0;
  }
#ifdef STC_HAVE_COMPILER
  if (command == "inspect")
    return stc::cli::runInspect(argc, argv, 2);
  if (command == "compile")
    return stc::cli::runCompile(argc, argv, 2);
#else
  if (command == "inspect" || command == "compile") {
    std::fprintf(stderr,
                 "stc: '%s' needs the compiler, and this stc was built "
                 "without it (STC_BUILD_COMPILER=OFF); rebuild with "
                 "-DSTC_BUILD_COMPILER=ON, or pass a compiled artifact to "
                 "train / eval / sample\n",
                 command.c_str());
    return 2;
  }
#endif
  if (command == "train")
    return stc::cli::runTrain(argc, argv, 2);
  if (command == "eval")
    return stc::cli::runEval(argc, argv, 2);
  if (command == "sample")
    return stc::cli::runSample(argc, argv, 2);
  if (command == "export")
    return stc::cli::runExport(argc, argv, 2);
  if (command == "cache")
    return stc::cli::runCache(argc, argv, 2);
  std::fprintf(stderr, "stc: unknown command '%s'\n", command.c_str());
  printUsage(stderr);
  return 2;
}
