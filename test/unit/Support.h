//===- Support.h - What every unit test may use -----------------*- C++ -*-===//
//
// Errors are part of stc's interface: tests check that a message names what
// is wrong. EXPECT_MENTIONS(message, text) prints both on failure.
// Time bounds in tests are multiplied by kTimeScale, which is larger in the
// sanitizer build (ASan and UBSan slow allocation-heavy code several times).
//
//===----------------------------------------------------------------------===//

#ifndef STC_TEST_UNIT_SUPPORT_H
#define STC_TEST_UNIT_SUPPORT_H

#include <gtest/gtest.h>

#include <string>

#define EXPECT_MENTIONS(msg, text)                                             \
  EXPECT_NE((msg).find(text), std::string::npos)                               \
      << "message: " << (msg) << "\nexpected to contain: " << (text)

namespace stc::test {
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STC_TEST_SANITIZED 1
#endif
#endif
#ifdef STC_TEST_SANITIZED
constexpr double kTimeScale = 5;
#else
constexpr double kTimeScale = 1;
#endif
} // namespace stc::test

#endif // STC_TEST_UNIT_SUPPORT_H
