//===- Json.h - A small, strict JSON value, parser and writer ---*- C++ -*-===//
//
// The runtime reads untrusted manifests and must build where no third-party
// JSON library exists (the GPU machine), so it carries its own. The parser is
// strict RFC 8259: no comments, no trailing commas, no NaN/Infinity, no
// duplicate object keys, valid UTF-8 only, nesting at most 256 deep. Errors
// carry line:column (1-based, column in bytes).
//
// Numbers remember whether they were written as integers (no fraction, no
// exponent, fits in int64), so "version": 1 and "eps": 1e-5 can be told
// apart. Objects keep their insertion order, so a written manifest reads like
// the one that was built.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_SUPPORT_JSON_H
#define STC_RUNTIME_SUPPORT_JSON_H

#include "runtime/Status.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stc::rt::json {

class Value {
public:
  enum class Kind { Null, Bool, Number, String, Array, Object };
  using Array = std::vector<Value>;
  using Object = std::vector<std::pair<std::string, Value>>;

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : kind_(Kind::Bool), bool_(b) {}
  Value(int v) : Value(static_cast<int64_t>(v)) {}
  Value(int64_t v)
      : kind_(Kind::Number), isInt_(true), int_(v),
        num_(static_cast<double>(v)) {}
  Value(uint32_t v) : Value(static_cast<int64_t>(v)) {}
  Value(double v) : kind_(Kind::Number), num_(v) {}
  Value(std::string s) : kind_(Kind::String), str_(std::move(s)) {}
  Value(const char *s) : Value(std::string(s)) {}
  Value(std::string_view s) : Value(std::string(s)) {}
  Value(Array a) : kind_(Kind::Array), arr_(std::move(a)) {}
  Value(Object o) : kind_(Kind::Object), obj_(std::move(o)) {}

  static Value array() { return Value(Array{}); }
  static Value object() { return Value(Object{}); }

  Kind kind() const { return kind_; }
  bool isNull() const { return kind_ == Kind::Null; }
  bool isBool() const { return kind_ == Kind::Bool; }
  bool isNumber() const { return kind_ == Kind::Number; }
  /// A number written (or built) as an integer that fits in int64.
  bool isInt() const { return kind_ == Kind::Number && isInt_; }
  bool isString() const { return kind_ == Kind::String; }
  bool isArray() const { return kind_ == Kind::Array; }
  bool isObject() const { return kind_ == Kind::Object; }

  /// Accessors; calling one of the wrong kind returns a default (false, 0,
  /// empty) rather than crashing, so a validator that forgot a kind check
  /// still fails safely.
  bool asBool() const { return kind_ == Kind::Bool && bool_; }
  int64_t asInt() const { return isInt() ? int_ : 0; }
  double asNumber() const { return kind_ == Kind::Number ? num_ : 0.0; }
  const std::string &asString() const;
  const Array &asArray() const;
  const Object &asObject() const;
  Array &asArray();
  Object &asObject();

  /// Object member lookup; nullptr if absent or not an object.
  const Value *find(std::string_view key) const;
  Value *find(std::string_view key);
  /// Sets (replacing) or appends a member; turns a null value into an object.
  Value &set(std::string_view key, Value v);
  /// Removes a member; returns whether it existed.
  bool erase(std::string_view key);
  /// Appends to an array; turns a null value into an array.
  Value &push(Value v);
  size_t size() const;

  /// Where the value started in the parsed text (0 if built in code).
  int line() const { return line_; }
  int column() const { return column_; }
  void setPosition(int line, int column) {
    line_ = line;
    column_ = column;
  }

  bool operator==(const Value &o) const;
  bool operator!=(const Value &o) const { return !(*this == o); }

private:
  Kind kind_ = Kind::Null;
  bool isInt_ = false;
  bool bool_ = false;
  int64_t int_ = 0;
  double num_ = 0;
  std::string str_;
  Array arr_;
  Object obj_;
  int line_ = 0, column_ = 0;
};

const char *kindName(Value::Kind k);

/// Parses one JSON text (surrounding whitespace allowed, nothing else).
Expected<Value> parse(std::string_view text);

/// Writes `v`. indent < 0: compact; otherwise pretty with that many spaces.
/// Non-finite numbers, which JSON cannot hold, are written as null. Doubles
/// are written with the fewest digits that read back to the same value.
std::string write(const Value &v, int indent = -1);

/// Quotes and escapes a string as a JSON string literal.
std::string quote(std::string_view s);

} // namespace stc::rt::json

#endif // STC_RUNTIME_SUPPORT_JSON_H
