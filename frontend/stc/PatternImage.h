//===- PatternImage.h - Draw attention patterns as PNG ----------*- C++ -*-===//

#ifndef STC_FRONTEND_STC_PATTERNIMAGE_H
#define STC_FRONTEND_STC_PATTERNIMAGE_H

#include "pattern/Pattern.h"

#include <string>

namespace stc::cli {

/// Sequences up to this length are drawn element by element; longer ones at
/// block level.
constexpr int64_t kElementImageLimit = 1024;

/// Writes a grayscale PNG of `p` over a sequence of `n`: element level
/// (allowed black, masked white, upper triangle light gray) when
/// n <= kElementImageLimit, else block level at `blockSize` (full black,
/// partial gray, empty white). Returns false and sets *error on failure.
bool writePatternPng(const pattern::Pattern &p, int64_t n, int64_t blockSize,
                     const std::string &path, std::string *error);

} // namespace stc::cli

#endif // STC_FRONTEND_STC_PATTERNIMAGE_H
