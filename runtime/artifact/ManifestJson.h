//===- ManifestJson.h - Reading manifest.json, with located errors -*- C++ -*-===//
//
// The getters the artifact validator reads the manifest with. Each failure
// names where in the manifest the value is ("buffers[3] 'x'.offset"), what it
// is, what would be valid, and its line:column in manifest.json.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_ARTIFACT_MANIFESTJSON_H
#define STC_RUNTIME_ARTIFACT_MANIFESTJSON_H

#include "abi/OpSpec.h"
#include "runtime/Status.h"
#include "runtime/support/Json.h"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace stc::rt::manifest {

/// " (manifest.json:L:C)" for values that came from a parsed file.
std::string loc(const json::Value &v);
/// A value as it appeared, shortened for messages.
std::string show(const json::Value &v);
std::string quoted(const std::string &s);

Status fail(const std::string &where, const std::string &what,
            const json::Value *v = nullptr);

/// Rejects keys outside `allowed` (typos must not silently change meaning).
Status checkKeys(const json::Value &obj, const std::string &where,
                 std::initializer_list<const char *> allowed);

Status getMember(const json::Value &obj, const char *key,
                 const std::string &where, const json::Value *&out);
Status getInt(const json::Value &obj, const char *key, const std::string &where,
              int64_t &out, int64_t min, int64_t max);
Status getString(const json::Value &obj, const char *key,
                 const std::string &where, std::string &out,
                 bool nonEmpty = true);
Status getBool(const json::Value &obj, const char *key,
               const std::string &where, bool &out);
Status getIntArray(const json::Value &obj, const char *key,
                   const std::string &where, std::vector<int64_t> &out,
                   int64_t min, int64_t max);
/// A 64-bit hash written as 16 lowercase hex digits (the fnv1a64 keys).
Status getHex64(const json::Value &obj, const char *key,
                const std::string &where, uint64_t &out);
/// An index into a table of `size` entries named `table` ("buffers").
Status getIndex(const json::Value &v, const std::string &where, int64_t size,
                const char *table, int &out);

/// An op's attribute value in the contract's terms (abi::AttrValue).
abi::AttrValue toAttrValue(const json::Value &v);

} // namespace stc::rt::manifest

#endif // STC_RUNTIME_ARTIFACT_MANIFESTJSON_H
