//===- ManifestJson.cpp - Reading manifest.json, with located errors ------===//

#include "runtime/artifact/ManifestJson.h"

#include "abi/Hash.h"

namespace stc::rt::manifest {

std::string loc(const json::Value &v) {
  if (v.line() <= 0)
    return "";
  return " (manifest.json:" + std::to_string(v.line()) + ":" +
         std::to_string(v.column()) + ")";
}

std::string show(const json::Value &v) {
  std::string s = json::write(v);
  if (s.size() > 60)
    s = s.substr(0, 57) + "...";
  return s;
}

std::string quoted(const std::string &s) { return "'" + s + "'"; }

Status fail(const std::string &where, const std::string &what,
            const json::Value *v) {
  return Status::error(where + ": " + what + (v ? loc(*v) : ""));
}

Status checkKeys(const json::Value &obj, const std::string &where,
                 std::initializer_list<const char *> allowed) {
  if (!obj.isObject())
    return fail(where,
                std::string("must be an object, got ") +
                    json::kindName(obj.kind()),
                &obj);
  for (const auto &kv : obj.asObject()) {
    bool ok = false;
    for (const char *a : allowed)
      if (kv.first == a)
        ok = true;
    if (!ok) {
      std::string list;
      for (const char *a : allowed)
        list += (list.empty() ? "" : ", ") + std::string(a);
      return fail(where,
                  "unknown key " + quoted(kv.first) + " (valid: " + list + ")",
                  &kv.second);
    }
  }
  return Status::ok();
}

Status getMember(const json::Value &obj, const char *key,
                 const std::string &where, const json::Value *&out) {
  out = obj.find(key);
  if (!out)
    return fail(where, std::string("missing required key '") + key + "'", &obj);
  return Status::ok();
}

Status getInt(const json::Value &obj, const char *key, const std::string &where,
              int64_t &out, int64_t min, int64_t max) {
  const json::Value *v;
  STC_RETURN_IF_ERROR(getMember(obj, key, where, v));
  std::string w = where + "." + key;
  if (!v->isInt())
    return fail(w, "must be an integer, got " + show(*v), v);
  out = v->asInt();
  if (out < min || out > max)
    return fail(w,
                "is " + std::to_string(out) + "; valid: " +
                    std::to_string(min) + " .. " + std::to_string(max),
                v);
  return Status::ok();
}

Status getString(const json::Value &obj, const char *key,
                 const std::string &where, std::string &out, bool nonEmpty) {
  const json::Value *v;
  STC_RETURN_IF_ERROR(getMember(obj, key, where, v));
  std::string w = where + "." + key;
  if (!v->isString())
    return fail(w, "must be a string, got " + show(*v), v);
  out = v->asString();
  if (nonEmpty && out.empty())
    return fail(w, "must not be empty", v);
  return Status::ok();
}

Status getBool(const json::Value &obj, const char *key,
               const std::string &where, bool &out) {
  const json::Value *v;
  STC_RETURN_IF_ERROR(getMember(obj, key, where, v));
  if (!v->isBool())
    return fail(where + "." + key, "must be true or false, got " + show(*v), v);
  out = v->asBool();
  return Status::ok();
}

Status getIntArray(const json::Value &obj, const char *key,
                   const std::string &where, std::vector<int64_t> &out,
                   int64_t min, int64_t max) {
  const json::Value *v;
  STC_RETURN_IF_ERROR(getMember(obj, key, where, v));
  std::string w = where + "." + key;
  if (!v->isArray())
    return fail(w, "must be an array of integers, got " + show(*v), v);
  out.clear();
  for (size_t i = 0; i < v->size(); ++i) {
    const json::Value &e = v->asArray()[i];
    std::string we = w + "[" + std::to_string(i) + "]";
    if (!e.isInt())
      return fail(we, "must be an integer, got " + show(e), &e);
    if (e.asInt() < min || e.asInt() > max)
      return fail(we,
                  "is " + std::to_string(e.asInt()) + "; valid: " +
                      std::to_string(min) + " .. " + std::to_string(max),
                  &e);
    out.push_back(e.asInt());
  }
  return Status::ok();
}

Status getHex64(const json::Value &obj, const char *key,
                const std::string &where, uint64_t &out) {
  std::string text;
  STC_RETURN_IF_ERROR(getString(obj, key, where, text));
  auto h = abi::parseHex64(text);
  if (!h)
    return fail(where + "." + key,
                "is " + quoted(text) + "; must be 16 lowercase hex digits",
                obj.find(key));
  out = *h;
  return Status::ok();
}

Status getIndex(const json::Value &v, const std::string &where, int64_t size,
                const char *table, int &out) {
  if (!v.isInt())
    return fail(where,
                std::string("must be an index into ") + table + ", got " +
                    show(v),
                &v);
  if (v.asInt() < 0 || v.asInt() >= size)
    return fail(where,
                "is " + std::to_string(v.asInt()) + "; valid: an index into " +
                    table + " (0 .. " + std::to_string(size - 1) + ")",
                &v);
  out = static_cast<int>(v.asInt());
  return Status::ok();
}

abi::AttrValue toAttrValue(const json::Value &v) {
  if (v.isBool())
    return v.asBool();
  if (v.isInt())
    return v.asInt();
  if (v.isNumber())
    return v.asNumber();
  if (v.isArray()) {
    const auto &items = v.asArray();
    if (items.empty())
      return abi::Pairs{};
    bool strings = true, pairs = true, ints = true;
    for (const json::Value &e : items) {
      strings &= e.isString();
      ints &= e.isInt();
      pairs &= e.isArray() && e.size() == 2 && e.asArray()[0].isInt() &&
               e.asArray()[1].isInt();
    }
    if (strings) {
      abi::Names names;
      for (const json::Value &e : items)
        names.push_back(e.asString());
      return names;
    }
    if (ints) {
      abi::Ints xs;
      for (const json::Value &e : items)
        xs.push_back(e.asInt());
      return xs;
    }
    if (pairs) {
      abi::Pairs ps;
      for (const json::Value &e : items)
        ps.emplace_back(e.asArray()[0].asInt(), e.asArray()[1].asInt());
      return ps;
    }
  }
  return abi::Unsupported{show(v)};
}

} // namespace stc::rt::manifest
