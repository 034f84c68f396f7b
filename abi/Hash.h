//===- Hash.h - FNV-1a 64 and hex formatting --------------------*- C++ -*-===//
//
// FNV-1a 64 identifies kernel sources in the manifest and checks checkpoint
// integrity. It is not cryptographic: it detects damage, not tampering.
//
//===----------------------------------------------------------------------===//

#ifndef STC_ABI_HASH_H
#define STC_ABI_HASH_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stc::abi {

constexpr uint64_t kFnv1a64Offset = 0xcbf29ce484222325ull;
constexpr uint64_t kFnv1a64Prime = 0x100000001b3ull;

/// Continues a hash over more bytes (start from kFnv1a64Offset).
inline uint64_t fnv1a64(const void *data, size_t n,
                        uint64_t h = kFnv1a64Offset) {
  const unsigned char *p = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= kFnv1a64Prime;
  }
  return h;
}

inline uint64_t fnv1a64(std::string_view s, uint64_t h = kFnv1a64Offset) {
  return fnv1a64(s.data(), s.size(), h);
}

/// 16 lowercase hex digits.
inline std::string hex64(uint64_t v) {
  static const char *digits = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4)
    s[i] = digits[v & 15];
  return s;
}

/// Parses exactly 16 lowercase hex digits.
inline std::optional<uint64_t> parseHex64(std::string_view s) {
  if (s.size() != 16)
    return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else
      return std::nullopt;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

} // namespace stc::abi

#endif // STC_ABI_HASH_H
