//===- JsonTest.cpp - The strict JSON parser and writer -------------------===//

#include "runtime/support/Json.h"
#include "test/unit/Support.h"

#include <gtest/gtest.h>

#include <chrono>

#include <cmath>
#include <cstdint>

using namespace stc::rt;

namespace {

json::Value parseOk(const std::string &text) {
  auto v = json::parse(text);
  EXPECT_TRUE(v.hasValue()) << text << ": " << v.takeStatus().message();
  return v ? *v : json::Value();
}

/// The error message for bad text (empty if it unexpectedly parsed).
std::string parseErr(const std::string &text) {
  auto v = json::parse(text);
  EXPECT_FALSE(v.hasValue()) << "parsed: " << text;
  return v ? std::string() : v.status().message();
}

TEST(Json, ParsesAllKinds) {
  json::Value v = parseOk(R"( {"a": [1, -2, 3.5, 1e3, true, false, null],
                               "b": {"c": "d"}, "e": ""} )");
  ASSERT_TRUE(v.isObject());
  const json::Value &a = *v.find("a");
  ASSERT_EQ(a.size(), 7u);
  EXPECT_TRUE(a.asArray()[0].isInt());
  EXPECT_EQ(a.asArray()[0].asInt(), 1);
  EXPECT_EQ(a.asArray()[1].asInt(), -2);
  EXPECT_FALSE(a.asArray()[2].isInt());
  EXPECT_DOUBLE_EQ(a.asArray()[2].asNumber(), 3.5);
  EXPECT_FALSE(a.asArray()[3].isInt()) << "an exponent makes a non-integer";
  EXPECT_DOUBLE_EQ(a.asArray()[3].asNumber(), 1000.0);
  EXPECT_TRUE(a.asArray()[4].asBool());
  EXPECT_TRUE(a.asArray()[5].isBool());
  EXPECT_TRUE(a.asArray()[6].isNull());
  EXPECT_EQ(v.find("b")->find("c")->asString(), "d");
  EXPECT_EQ(v.find("e")->asString(), "");
  EXPECT_EQ(v.find("zz"), nullptr);
}

TEST(Json, KeepsObjectOrderAndPositions) {
  json::Value v = parseOk("{\n  \"z\": 1,\n  \"a\": 2\n}");
  ASSERT_EQ(v.asObject().size(), 2u);
  EXPECT_EQ(v.asObject()[0].first, "z");
  EXPECT_EQ(v.asObject()[1].first, "a");
  EXPECT_EQ(v.find("a")->line(), 3);
  EXPECT_EQ(v.find("a")->column(), 8);
}

TEST(Json, LargeIntegers) {
  EXPECT_EQ(parseOk("9223372036854775807").asInt(), INT64_MAX);
  EXPECT_EQ(parseOk("-9223372036854775808").asInt(), INT64_MIN);
  json::Value big = parseOk("9223372036854775808");
  EXPECT_TRUE(big.isNumber());
  EXPECT_FALSE(big.isInt()) << "too large for int64: a double";
}

TEST(Json, StringEscapesAndUnicode) {
  json::Value v =
      parseOk(R"("a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00")");
  EXPECT_EQ(v.asString(),
            "a\"b\\c/d\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_EQ(parseOk("\"caf\xc3\xa9\"").asString(), "caf\xc3\xa9");
}

TEST(Json, ErrorsHaveLineAndColumn) {
  std::string e = parseErr("{\n  \"a\": 1,\n}");
  EXPECT_NE(e.find("3:1"), std::string::npos) << e;
  EXPECT_NE(e.find("trailing comma"), std::string::npos) << e;
  e = parseErr("[1,\n 2,,3]");
  EXPECT_NE(e.find("2:4"), std::string::npos) << e;
}

/// A large object is checked for duplicate keys in time linear in its size
/// (it used to take 25 s for 100k keys): 200k distinct keys, then the same
/// object with its last key repeating the first.
TEST(Json, DuplicateKeysInLargeObjectsAreFoundQuickly) {
  std::string text = "{";
  for (int i = 0; i < 200000; ++i)
    text += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  auto start = std::chrono::steady_clock::now();
  auto ok = json::parse(text + "}");
  ASSERT_TRUE(ok.hasValue()) << ok.status().message();
  EXPECT_EQ(ok->size(), 200000u);
  auto bad = json::parse(text + ",\"k0\":1}");
  ASSERT_FALSE(bad.hasValue());
  EXPECT_NE(bad.status().message().find("duplicate key \"k0\""),
            std::string::npos)
      << bad.status().message();
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  EXPECT_LT(seconds, 2.0 * stc::test::kTimeScale)
      << "two parses of a 200k-key object";
}

TEST(Json, RejectsWhatStrictJsonRejects) {
  struct Case {
    const char *text;
    const char *expect;
  } cases[] = {
      {"", "unexpected end"},
      {"[1, 2,]", "trailing comma"},
      {"{\"a\": 1, \"a\": 2}", "duplicate key \"a\""},
      {"01", "leading zero"},
      {"1.", "digit after '.'"},
      {"1e", "exponent"},
      {"-", "digit"},
      {"NaN", "expected a value"},
      {"Infinity", "expected a value"},
      {"// c\n1", "expected a value"},
      {"\"a\tb\"", "control character"},
      {"\"\\x\"", "invalid escape"},
      {"\"abc", "unterminated string"},
      {"[1, 2", "unterminated array"},
      {"{\"a\" 1}", "expected ':'"},
      {"{a: 1}", "string key"},
      {"1 2", "after the JSON value"},
      {"tru", "invalid literal"},
      {"\"\\ud800\"", "surrogate"},
      {"\"\\udc00\"", "lone low surrogate"},
      {"\"\xff\"", "invalid UTF-8"},
      {"\"\xc0\xaf\"", "invalid UTF-8"},
      {"1e999", "out of range"},
  };
  for (const auto &c : cases) {
    std::string e = parseErr(c.text);
    EXPECT_NE(e.find(c.expect), std::string::npos)
        << "input: " << c.text << "\nmessage: " << e;
  }
}

TEST(Json, RejectsDeepNesting) {
  std::string deep(300, '[');
  deep += std::string(300, ']');
  EXPECT_NE(parseErr(deep).find("nesting deeper"), std::string::npos);
  std::string ok(200, '[');
  ok += std::string(200, ']');
  parseOk(ok);
}

TEST(Json, WriterRoundTrips) {
  json::Value v = json::Value::object();
  v.set("int", 42);
  v.set("neg", int64_t(-7));
  v.set("pi", 3.141592653589793);
  v.set("tenth", 0.1);
  v.set("whole", 2.0);
  v.set("tiny", 1e-300);
  v.set("s", "quote\" backslash\\ newline\n ctrl\x01 utf8 \xc3\xa9");
  v.set("b", true);
  v.set("n", nullptr);
  json::Value arr = json::Value::array();
  arr.push(1);
  arr.push(json::Value::object());
  arr.push(json::Value::array());
  v.set("arr", arr);
  for (int indent : {-1, 0, 2}) {
    std::string text = json::write(v, indent);
    json::Value back = parseOk(text);
    EXPECT_EQ(back, v) << text;
    EXPECT_FALSE(back.find("whole")->isInt()) << "2.0 stays a double";
    EXPECT_TRUE(back.find("int")->isInt());
  }
  EXPECT_EQ(json::write(json::Value(std::nan(""))), "null");
  EXPECT_EQ(json::write(parseOk("[1,2]"), 2), "[1, 2]");
}

TEST(Json, WrongKindAccessorsAreSafe) {
  json::Value v = parseOk("\"text\"");
  EXPECT_EQ(v.asInt(), 0);
  EXPECT_TRUE(v.asArray().empty());
  EXPECT_EQ(v.find("x"), nullptr);
  EXPECT_FALSE(v.asBool());
}

} // namespace
