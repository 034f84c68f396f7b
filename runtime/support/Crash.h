//===- Crash.h - Last-resort reports instead of bare aborts -----*- C++ -*-===//
//
// stc reports every error it expects as a Status. What it does not expect
// (an exception from the standard library, a fault) must still end with a
// message saying what happened and what to do, not "terminate called" or a
// bare "Segmentation fault". The stc driver installs these handlers first.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_SUPPORT_CRASH_H
#define STC_RUNTIME_SUPPORT_CRASH_H

namespace stc::rt {

/// Exit status after an internal error: 1, like every other error, so that
/// scripts need not tell them apart (the message does).
constexpr int kInternalErrorExit = 1;

/// Installs a terminate handler (an uncaught exception: std::bad_alloc is
/// reported as running out of host memory and exits 1, anything else as an
/// internal error with its what(), exit 1) and handlers for SIGSEGV,
/// SIGBUS, SIGFPE and SIGILL that print one line naming the signal and the
/// command, then die by the signal as before. `program` prefixes messages.
void installCrashHandlers(const char *program);

} // namespace stc::rt

#endif // STC_RUNTIME_SUPPORT_CRASH_H
