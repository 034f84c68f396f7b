//===- Run.h - stc train / eval / sample / export / cache -------*- C++ -*-===//

#ifndef STC_FRONTEND_STC_RUN_H
#define STC_FRONTEND_STC_RUN_H

namespace stc::cli {

/// Each returns the process exit code; argv[first] follows the command name.
int runTrain(int argc, char **argv, int first);
int runEval(int argc, char **argv, int first);
int runSample(int argc, char **argv, int first);
/// `stc export MODEL --ckpt C -o OUT.safetensors`.
int runExport(int argc, char **argv, int first);
/// `stc cache info|clear`.
int runCache(int argc, char **argv, int first);

} // namespace stc::cli

#endif // STC_FRONTEND_STC_RUN_H
