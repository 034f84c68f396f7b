//===- DType.h - Buffer element types and bf16 conversion -------*- C++ -*-===//
//
// Buffers hold f32, bf16 or i32 elements. The host side stores bf16 as its raw
// uint16 bits; conversion rounds to nearest even so the CPU and CUDA executors
// (__float2bfloat16_rn) agree bit for bit.
//
//===----------------------------------------------------------------------===//

#ifndef STC_ABI_DTYPE_H
#define STC_ABI_DTYPE_H

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace stc::abi {

enum class DType : uint8_t { F32 = 0, BF16 = 1, I32 = 2 };

inline const char *dtypeName(DType d) {
  switch (d) {
  case DType::F32:
    return "f32";
  case DType::BF16:
    return "bf16";
  case DType::I32:
    return "i32";
  }
  return "?";
}

inline std::optional<DType> parseDType(std::string_view s) {
  if (s == "f32")
    return DType::F32;
  if (s == "bf16")
    return DType::BF16;
  if (s == "i32")
    return DType::I32;
  return std::nullopt;
}

inline int64_t dtypeSize(DType d) { return d == DType::BF16 ? 2 : 4; }

/// The index of the first NaN or infinity among `bytes` bytes of `dtype`
/// values at `data` (any alignment), or -1. Integers have none.
inline int64_t firstNonFinite(const void *data, int64_t bytes, DType dtype) {
  if (dtype == DType::I32)
    return -1;
  const int64_t size = dtypeSize(dtype);
  const char *p = static_cast<const char *>(data);
  for (int64_t i = 0; i < bytes / size; ++i) {
    uint32_t bits = 0; // a bf16 is the high half of an f32
    std::memcpy(reinterpret_cast<char *>(&bits) + (4 - size), p + i * size,
                static_cast<size_t>(size));
    if ((bits & 0x7f800000u) == 0x7f800000u) // exponent all ones
      return i;
  }
  return -1;
}

inline float bf16ToFloat(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t floatToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) // NaN: keep it a (quiet) NaN
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  // Round to nearest, ties to even.
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

} // namespace stc::abi

#endif // STC_ABI_DTYPE_H
