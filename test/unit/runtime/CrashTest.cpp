//===- CrashTest.cpp - What the unexpected looks like to a user -----------===//

#include "runtime/support/Crash.h"

#include <gtest/gtest.h>

#include <csignal>
#include <new>
#include <stdexcept>

using namespace stc::rt;

namespace {

[[noreturn]] void throwUncaught(std::exception_ptr e) {
  installCrashHandlers("stc-test");
  // noexcept: the exception cannot leave, so std::terminate runs with it.
  [&]() noexcept { std::rethrow_exception(e); }();
  std::abort();
}

} // namespace

TEST(CrashDeathTest, OutOfMemoryIsAMessageNotAnAbort) {
  EXPECT_EXIT(throwUncaught(std::make_exception_ptr(std::bad_alloc())),
              testing::ExitedWithCode(1),
              "^stc-test: out of host memory; lower the batch");
}

TEST(CrashDeathTest, UncaughtExceptionNamesItself) {
  EXPECT_EXIT(throwUncaught(std::make_exception_ptr(std::out_of_range("boom"))),
              testing::ExitedWithCode(kInternalErrorExit),
              "stc-test: internal error: uncaught exception: boom; this is a "
              "bug in stc");
}

TEST(CrashDeathTest, FaultIsNamedAndStillKillsBySignal) {
  EXPECT_EXIT(
      {
        installCrashHandlers("stc-test");
        std::raise(SIGSEGV);
      },
      testing::KilledBySignal(SIGSEGV),
      "stc-test: internal error: SIGSEGV \\(invalid memory access\\)");
}
