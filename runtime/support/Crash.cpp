//===- Crash.cpp - Last-resort reports instead of bare aborts -------------===//

#include "runtime/support/Crash.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <new>
#include <unistd.h>

namespace stc::rt {

namespace {

const char *programName = "stc";

[[noreturn]] void onTerminate() {
  std::exception_ptr current = std::current_exception();
  if (!current) {
    std::fprintf(stderr, "%s: internal error: std::terminate without an "
                 "exception; this is a bug in stc, please report it with "
                 "the command line\n", programName);
    std::_Exit(kInternalErrorExit);
  }
  try {
    std::rethrow_exception(current);
  } catch (const std::bad_alloc &) {
    std::fprintf(stderr, "%s: out of host memory; lower the batch, the "
                 "context or the input size\n", programName);
    std::_Exit(1);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s: internal error: uncaught exception: %s; this "
                 "is a bug in stc, please report it with the command line\n",
                 programName, e.what());
  } catch (...) {
    std::fprintf(stderr, "%s: internal error: uncaught exception of unknown "
                 "type; this is a bug in stc, please report it with the "
                 "command line\n", programName);
  }
  std::_Exit(kInternalErrorExit);
}

/// Async-signal-safe: write(2) of fixed strings only.
void say(const char *s) {
  ssize_t rc = ::write(STDERR_FILENO, s, std::strlen(s));
  (void)rc;
}

extern "C" void onFatalSignal(int signal) {
  const char *name = signal == SIGSEGV  ? "SIGSEGV (invalid memory access)"
                     : signal == SIGBUS ? "SIGBUS (bad memory access)"
                     : signal == SIGFPE ? "SIGFPE (arithmetic fault)"
                                        : "SIGILL (illegal instruction)";
  say(programName);
  say(": internal error: ");
  say(name);
  say("; this is a bug in stc, please report it with the command line and "
      "the input\n");
  // The handler was installed with SA_RESETHAND: re-raising dies as before,
  // so the exit status (and a core dump, where enabled) still tells.
  ::raise(signal);
}

} // namespace

void installCrashHandlers(const char *program) {
  programName = program;
  std::set_terminate(onTerminate);
  struct sigaction action = {};
  action.sa_handler = onFatalSignal;
  action.sa_flags = SA_RESETHAND | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  for (int signal : {SIGSEGV, SIGBUS, SIGFPE, SIGILL})
    sigaction(signal, &action, nullptr);
}

} // namespace stc::rt
