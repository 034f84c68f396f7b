//===- Mentions.h - Asserting on error messages -----------------*- C++ -*-===//
//
// Errors are part of stc's interface: tests check that a message names what
// is wrong. EXPECT_MENTIONS(message, text) prints both on failure.
//
//===----------------------------------------------------------------------===//

#ifndef STC_TEST_UNIT_MENTIONS_H
#define STC_TEST_UNIT_MENTIONS_H

#include <gtest/gtest.h>

#include <string>

#define EXPECT_MENTIONS(msg, text)                                             \
  EXPECT_NE((msg).find(text), std::string::npos)                               \
      << "message: " << (msg) << "\nexpected to contain: " << (text)

#endif // STC_TEST_UNIT_MENTIONS_H
