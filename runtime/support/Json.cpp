//===- Json.cpp - A small, strict JSON value, parser and writer -----------===//

#include "runtime/support/Json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

namespace stc::rt::json {

//===----------------------------------------------------------------------===//
// Value
//===----------------------------------------------------------------------===//

namespace {
const std::string kEmptyString;
const Value::Array kEmptyArray;
const Value::Object kEmptyObject;
} // namespace

const std::string &Value::asString() const {
  return kind_ == Kind::String ? str_ : kEmptyString;
}
const Value::Array &Value::asArray() const {
  return kind_ == Kind::Array ? arr_ : kEmptyArray;
}
const Value::Object &Value::asObject() const {
  return kind_ == Kind::Object ? obj_ : kEmptyObject;
}
Value::Array &Value::asArray() {
  if (kind_ == Kind::Null)
    kind_ = Kind::Array;
  return arr_;
}
Value::Object &Value::asObject() {
  if (kind_ == Kind::Null)
    kind_ = Kind::Object;
  return obj_;
}

const Value *Value::find(std::string_view key) const {
  if (kind_ != Kind::Object)
    return nullptr;
  for (const auto &kv : obj_)
    if (kv.first == key)
      return &kv.second;
  return nullptr;
}

Value *Value::find(std::string_view key) {
  return const_cast<Value *>(static_cast<const Value *>(this)->find(key));
}

Value &Value::set(std::string_view key, Value v) {
  if (kind_ == Kind::Null)
    kind_ = Kind::Object;
  for (auto &kv : obj_)
    if (kv.first == key) {
      kv.second = std::move(v);
      return kv.second;
    }
  obj_.emplace_back(std::string(key), std::move(v));
  return obj_.back().second;
}

bool Value::erase(std::string_view key) {
  for (auto it = obj_.begin(); it != obj_.end(); ++it)
    if (it->first == key) {
      obj_.erase(it);
      return true;
    }
  return false;
}

Value &Value::push(Value v) {
  if (kind_ == Kind::Null)
    kind_ = Kind::Array;
  arr_.push_back(std::move(v));
  return arr_.back();
}

size_t Value::size() const {
  if (kind_ == Kind::Array)
    return arr_.size();
  if (kind_ == Kind::Object)
    return obj_.size();
  return 0;
}

bool Value::operator==(const Value &o) const {
  if (kind_ != o.kind_)
    return false;
  switch (kind_) {
  case Kind::Null:
    return true;
  case Kind::Bool:
    return bool_ == o.bool_;
  case Kind::Number:
    if (isInt_ && o.isInt_)
      return int_ == o.int_;
    return num_ == o.num_;
  case Kind::String:
    return str_ == o.str_;
  case Kind::Array:
    return arr_ == o.arr_;
  case Kind::Object:
    return obj_ == o.obj_;
  }
  return false;
}

const char *kindName(Value::Kind k) {
  switch (k) {
  case Value::Kind::Null:
    return "null";
  case Value::Kind::Bool:
    return "bool";
  case Value::Kind::Number:
    return "number";
  case Value::Kind::String:
    return "string";
  case Value::Kind::Array:
    return "array";
  case Value::Kind::Object:
    return "object";
  }
  return "?";
}

//===----------------------------------------------------------------------===//
// Parser
//===----------------------------------------------------------------------===//

namespace {

constexpr int kMaxDepth = 256;

class Parser {
public:
  explicit Parser(std::string_view text) : text_(text) {}

  Expected<Value> parseDocument() {
    skipSpace();
    Value v;
    if (!parseValue(v, 0))
      return Status::error(error_);
    skipSpace();
    if (pos_ != text_.size())
      return fail("unexpected '" + printable(text_[pos_]) +
                  "' after the JSON value (one value per document)");
    return v;
  }

private:
  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;
  size_t lineStart_ = 0;
  std::string error_;

  int column() const { return static_cast<int>(pos_ - lineStart_) + 1; }

  static std::string printable(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f)
      return std::string(1, c);
    char buf[8];
    std::snprintf(buf, sizeof(buf), "\\x%02x", u);
    return buf;
  }

  Status fail(const std::string &what) {
    error_ = "JSON " + std::to_string(line_) + ":" + std::to_string(column()) +
             ": " + what;
    return Status::error(error_);
  }
  bool failB(const std::string &what) {
    (void)fail(what);
    return false;
  }

  bool atEnd() const { return pos_ >= text_.size(); }
  char peek() const { return atEnd() ? '\0' : text_[pos_]; }

  void skipSpace() {
    while (!atEnd()) {
      char c = text_[pos_];
      if (c == '\n') {
        ++pos_;
        ++line_;
        lineStart_ = pos_;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else {
        break;
      }
    }
  }

  bool parseValue(Value &out, int depth) {
    if (depth > kMaxDepth)
      return failB("nesting deeper than " + std::to_string(kMaxDepth));
    int line = line_, col = column();
    if (atEnd())
      return failB("unexpected end of input; expected a value");
    char c = peek();
    bool ok;
    if (c == '{')
      ok = parseObject(out, depth);
    else if (c == '[')
      ok = parseArray(out, depth);
    else if (c == '"') {
      std::string s;
      ok = parseString(s);
      if (ok)
        out = Value(std::move(s));
    } else if (c == '-' || (c >= '0' && c <= '9'))
      ok = parseNumber(out);
    else if (c == 't' || c == 'f' || c == 'n')
      ok = parseLiteral(out);
    else
      return failB("unexpected '" + printable(c) +
                   "'; expected a value (object, array, string, number, "
                   "true, false or null)");
    if (ok)
      out.setPosition(line, col);
    return ok;
  }

  bool parseLiteral(Value &out) {
    auto rest = text_.substr(pos_);
    auto starts = [&](std::string_view w) {
      return rest.substr(0, w.size()) == w;
    };
    if (starts("true")) {
      out = Value(true);
      pos_ += 4;
    } else if (starts("false")) {
      out = Value(false);
      pos_ += 5;
    } else if (starts("null")) {
      out = Value();
      pos_ += 4;
    } else {
      return failB("invalid literal; expected true, false or null");
    }
    return true;
  }

  bool parseNumber(Value &out) {
    size_t start = pos_;
    bool integral = true;
    if (peek() == '-')
      ++pos_;
    if (peek() == '0') {
      ++pos_;
      if (peek() >= '0' && peek() <= '9')
        return failB("leading zero in a number");
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9')
        ++pos_;
    } else {
      return failB("expected a digit in a number");
    }
    if (peek() == '.') {
      integral = false;
      ++pos_;
      if (!(peek() >= '0' && peek() <= '9'))
        return failB("expected a digit after '.' in a number");
      while (peek() >= '0' && peek() <= '9')
        ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++pos_;
      if (peek() == '+' || peek() == '-')
        ++pos_;
      if (!(peek() >= '0' && peek() <= '9'))
        return failB("expected a digit in a number's exponent");
      while (peek() >= '0' && peek() <= '9')
        ++pos_;
    }
    std::string lit(text_.substr(start, pos_ - start));
    if (integral) {
      errno = 0;
      char *end = nullptr;
      long long v = std::strtoll(lit.c_str(), &end, 10);
      if (errno == 0 && end && *end == '\0') {
        out = Value(static_cast<int64_t>(v));
        return true;
      }
      // Too large for int64: keep it as a (non-integer) double.
    }
    double d = std::strtod(lit.c_str(), nullptr);
    if (!std::isfinite(d)) {
      pos_ = start;
      return failB("number " + lit + " is out of range");
    }
    out = Value(d);
    return true;
  }

  static bool hexDigit(char c, unsigned &v) {
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v = c - 'A' + 10;
    else
      return false;
    return true;
  }

  bool parseHex4(unsigned &cp) {
    cp = 0;
    for (int i = 0; i < 4; ++i) {
      unsigned d;
      if (atEnd() || !hexDigit(text_[pos_], d))
        return failB("expected 4 hex digits after \\u");
      cp = cp * 16 + d;
      ++pos_;
    }
    return true;
  }

  static void appendUtf8(std::string &s, unsigned cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  /// Length of the valid UTF-8 sequence at pos_ (0 if invalid). Rejects
  /// overlong forms, surrogates and code points above U+10FFFF.
  size_t utf8Length() const {
    auto at = [&](size_t i) -> unsigned {
      return pos_ + i < text_.size()
                 ? static_cast<unsigned char>(text_[pos_ + i])
                 : 0u;
    };
    unsigned c0 = at(0);
    auto cont = [&](size_t i) { return (at(i) & 0xC0) == 0x80; };
    if (c0 >= 0xC2 && c0 <= 0xDF)
      return cont(1) ? 2 : 0;
    if (c0 >= 0xE0 && c0 <= 0xEF) {
      if (!cont(1) || !cont(2))
        return 0;
      unsigned c1 = at(1);
      if (c0 == 0xE0 && c1 < 0xA0)
        return 0; // overlong
      if (c0 == 0xED && c1 >= 0xA0)
        return 0; // surrogate
      return 3;
    }
    if (c0 >= 0xF0 && c0 <= 0xF4) {
      if (!cont(1) || !cont(2) || !cont(3))
        return 0;
      unsigned c1 = at(1);
      if (c0 == 0xF0 && c1 < 0x90)
        return 0; // overlong
      if (c0 == 0xF4 && c1 >= 0x90)
        return 0; // above U+10FFFF
      return 4;
    }
    return 0;
  }

  bool parseString(std::string &out) {
    ++pos_; // opening quote
    while (true) {
      if (atEnd())
        return failB("unterminated string");
      unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20)
        return failB("control character " + printable(static_cast<char>(c)) +
                     " in a string (escape it)");
      if (c == '\\') {
        ++pos_;
        if (atEnd())
          return failB("unterminated escape in a string");
        char e = text_[pos_++];
        switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          unsigned cp;
          if (!parseHex4(cp))
            return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u")
              return failB("high surrogate \\u escape without a low one");
            pos_ += 2;
            unsigned lo;
            if (!parseHex4(lo))
              return false;
            if (lo < 0xDC00 || lo > 0xDFFF)
              return failB("high surrogate followed by a non-low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return failB("lone low surrogate \\u escape");
          }
          appendUtf8(out, cp);
          break;
        }
        default:
          --pos_;
          return failB("invalid escape \\" + printable(e) +
                       " (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
        }
        continue;
      }
      if (c < 0x80) {
        out += static_cast<char>(c);
        ++pos_;
        continue;
      }
      size_t n = utf8Length();
      if (n == 0)
        return failB("invalid UTF-8 byte " + printable(static_cast<char>(c)) +
                     " in a string");
      out.append(text_.substr(pos_, n));
      pos_ += n;
    }
  }

  bool parseArray(Value &out, int depth) {
    ++pos_; // [
    out = Value::array();
    skipSpace();
    if (peek() == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      skipSpace();
      Value elem;
      if (!parseValue(elem, depth + 1))
        return false;
      out.push(std::move(elem));
      skipSpace();
      if (atEnd())
        return failB("unterminated array; expected ',' or ']'");
      char c = text_[pos_];
      if (c == ',') {
        ++pos_;
        skipSpace();
        if (peek() == ']')
          return failB("trailing comma in an array");
        continue;
      }
      if (c == ']') {
        ++pos_;
        return true;
      }
      return failB("unexpected '" + printable(c) +
                   "' in an array; expected ',' or ']'");
    }
  }

  bool parseObject(Value &out, int depth) {
    ++pos_; // {
    out = Value::object();
    skipSpace();
    if (peek() == '}') {
      ++pos_;
      return true;
    }
    // Keys seen so far: a duplicate is an error, found in O(1) per key.
    std::unordered_set<std::string> keys;
    while (true) {
      skipSpace();
      if (peek() != '"') {
        if (peek() == '}')
          return failB("trailing comma in an object");
        return failB(atEnd() ? std::string("unterminated object")
                             : "expected a string key in an object, got '" +
                                   printable(peek()) + "'");
      }
      int keyLine = line_, keyCol = column();
      std::string key;
      if (!parseString(key))
        return false;
      if (!keys.insert(key).second) {
        error_ = "JSON " + std::to_string(keyLine) + ":" +
                 std::to_string(keyCol) + ": duplicate key \"" + key + "\"";
        return false;
      }
      skipSpace();
      if (peek() != ':')
        return failB("expected ':' after object key \"" + key + "\"");
      ++pos_;
      skipSpace();
      Value v;
      if (!parseValue(v, depth + 1))
        return false;
      out.asObject().emplace_back(std::move(key), std::move(v));
      skipSpace();
      if (atEnd())
        return failB("unterminated object; expected ',' or '}'");
      char c = text_[pos_];
      if (c == ',') {
        ++pos_;
        continue;
      }
      if (c == '}') {
        ++pos_;
        return true;
      }
      return failB("unexpected '" + printable(c) +
                   "' in an object; expected ',' or '}'");
    }
  }
};

} // namespace

Expected<Value> parse(std::string_view text) {
  return Parser(text).parseDocument();
}

//===----------------------------------------------------------------------===//
// Writer
//===----------------------------------------------------------------------===//

std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    default:
      if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
        out += buf;
      } else {
        out += ch;
      }
    }
  }
  out += '"';
  return out;
}

namespace {

std::string formatDouble(double d) {
  if (!std::isfinite(d))
    return "null";
  char buf[40];
  // The shortest of 15..17 significant digits that reads back exactly.
  for (int prec = 15; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof(buf), "%.*g", prec, d);
    if (std::strtod(buf, nullptr) == d)
      break;
  }
  std::string s(buf);
  // Keep it a non-integer literal so it reads back as the same kind.
  if (s.find_first_of(".eEn") == std::string::npos)
    s += ".0";
  return s;
}

void writeValue(std::string &out, const Value &v, int indent, int level) {
  auto newline = [&](int lvl) {
    if (indent < 0)
      return;
    out += '\n';
    out.append(static_cast<size_t>(indent * lvl), ' ');
  };
  switch (v.kind()) {
  case Value::Kind::Null:
    out += "null";
    return;
  case Value::Kind::Bool:
    out += v.asBool() ? "true" : "false";
    return;
  case Value::Kind::Number:
    if (v.isInt())
      out += std::to_string(v.asInt());
    else
      out += formatDouble(v.asNumber());
    return;
  case Value::Kind::String:
    out += quote(v.asString());
    return;
  case Value::Kind::Array: {
    const auto &a = v.asArray();
    if (a.empty()) {
      out += "[]";
      return;
    }
    // Arrays of scalars stay on one line: layouts and shapes stay readable.
    bool flat = true;
    for (const auto &e : a)
      if (e.isArray() || e.isObject())
        flat = false;
    out += '[';
    for (size_t i = 0; i < a.size(); ++i) {
      if (i)
        out += (indent >= 0 && flat) ? ", " : ",";
      if (!flat)
        newline(level + 1);
      writeValue(out, a[i], indent, level + 1);
    }
    if (!flat)
      newline(level);
    out += ']';
    return;
  }
  case Value::Kind::Object: {
    const auto &o = v.asObject();
    if (o.empty()) {
      out += "{}";
      return;
    }
    out += '{';
    for (size_t i = 0; i < o.size(); ++i) {
      if (i)
        out += ',';
      newline(level + 1);
      out += quote(o[i].first);
      out += indent >= 0 ? ": " : ":";
      writeValue(out, o[i].second, indent, level + 1);
    }
    newline(level);
    out += '}';
    return;
  }
  }
}

} // namespace

std::string write(const Value &v, int indent) {
  std::string out;
  writeValue(out, v, indent, 0);
  return out;
}

} // namespace stc::rt::json
