//===- Inspect.h - stc inspect ----------------------------------*- C++ -*-===//

#ifndef STC_FRONTEND_STC_INSPECT_H
#define STC_FRONTEND_STC_INSPECT_H

namespace stc::cli {

/// `stc inspect FILE [flags]`; argv[first] is the first argument after the
/// command name. Returns the process exit code.
int runInspect(int argc, char **argv, int first);

} // namespace stc::cli

#endif // STC_FRONTEND_STC_INSPECT_H
