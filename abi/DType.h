//===- DType.h - Buffer element types and 16-bit conversion -----*- C++ -*-===//
//
// Buffers hold f32, bf16, f16 or i32 elements. The host side stores the
// 16-bit floats as their raw uint16 bits; conversion rounds to nearest even
// so the CPU and CUDA executors (__float2bfloat16_rn, __float2half_rn) agree
// bit for bit.
//
//===----------------------------------------------------------------------===//

#ifndef STC_ABI_DTYPE_H
#define STC_ABI_DTYPE_H

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace stc::abi {

enum class DType : uint8_t { F32 = 0, BF16 = 1, I32 = 2, F16 = 3 };

inline const char *dtypeName(DType d) {
  switch (d) {
  case DType::F32:
    return "f32";
  case DType::BF16:
    return "bf16";
  case DType::I32:
    return "i32";
  case DType::F16:
    return "f16";
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
  if (s == "f16")
    return DType::F16;
  return std::nullopt;
}

/// The 16-bit float types: stored as raw uint16 bits on the host, computed
/// in f32, stored rounded (floatToHalf).
inline bool isHalf(DType d) { return d == DType::BF16 || d == DType::F16; }

inline int64_t dtypeSize(DType d) { return isHalf(d) ? 2 : 4; }

/// The index of the first NaN or infinity among `bytes` bytes of `dtype`
/// values at `data` (any alignment), or -1. Integers have none.
inline int64_t firstNonFinite(const void *data, int64_t bytes, DType dtype) {
  if (dtype == DType::I32)
    return -1;
  const int64_t size = dtypeSize(dtype);
  // Exponent all ones: an f32, or a bf16 as the high half of one, or an f16.
  const uint32_t exponent = dtype == DType::F16 ? 0x7c00u : 0x7f800000u;
  const char *p = static_cast<const char *>(data);
  for (int64_t i = 0; i < bytes / size; ++i) {
    uint32_t bits = 0;
    if (dtype == DType::F16)
      std::memcpy(&bits, p + i * size, 2);
    else
      std::memcpy(reinterpret_cast<char *>(&bits) + (4 - size), p + i * size,
                  static_cast<size_t>(size));
    if ((bits & exponent) == exponent)
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

/// IEEE binary16 -> f32 (exact: every f16 is an f32).
inline float f16ToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) { // infinity or NaN
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp == 0) { // zero or subnormal: mant * 2^-24
    float f = static_cast<float>(mant) * (1.0f / 16777216.0f);
    return sign ? -f : f;
  } else {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// f32 -> IEEE binary16, rounded to nearest even like __float2half_rn:
/// magnitudes from 65520 up become infinities, below 2^-14 subnormals.
inline uint16_t floatToF16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) // NaN: keep it a (quiet) NaN
    return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  if (ax >= 0x477ff000u) // >= 65520 (and infinity)
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (ax >= 0x38800000u) { // a normal f16: rebias, round the 13 dropped bits
    const uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u);
    return static_cast<uint16_t>(sign | ((r - 0x38000000u) >> 13));
  }
  // Subnormal (or zero): the multiple of 2^-24 nearest, ties to even. The
  // scaled value is below 2^10, so its integer part and fraction are exact.
  float a;
  std::memcpy(&a, &ax, 4);
  const float scaled = a * 16777216.0f;
  uint32_t m = static_cast<uint32_t>(scaled);
  const float frac = scaled - static_cast<float>(m);
  if (frac > 0.5f || (frac == 0.5f && (m & 1u)))
    ++m; // 1024 is the smallest normal's encoding: also right
  return static_cast<uint16_t>(sign | m);
}

/// A 16-bit float's bits (isHalf(d)) -> f32, and back rounded.
inline float halfToFloat(uint16_t h, DType d) {
  return d == DType::F16 ? f16ToFloat(h) : bf16ToFloat(h);
}
inline uint16_t floatToHalf(float f, DType d) {
  return d == DType::F16 ? floatToF16(f) : floatToBf16(f);
}

/// f rounded to dtype d and widened back (f itself for f32 and i32).
inline float roundTo(float f, DType d) {
  return isHalf(d) ? halfToFloat(floatToHalf(f, d), d) : f;
}

} // namespace stc::abi

#endif // STC_ABI_DTYPE_H
