//===- PatternToC.h - Attention patterns as C boolean expressions -*- C++ -*-=//
//
// The CUDA attention kernels mask partial blocks by evaluating the pattern
// inline. This prints a pattern as a C expression over two `int` variables q
// and k that equals Pattern::allowed(q, k) for every 0 <= k <= q < n (the
// kernels check those bounds themselves). Built-in patterns become plain
// integer arithmetic; predicates go through Predicate::toC in 64-bit
// arithmetic; block-layout patterns look their block up in a table emitted as
// device declarations.
//
//===----------------------------------------------------------------------===//

#ifndef STC_CODEGEN_PATTERNTOC_H
#define STC_CODEGEN_PATTERNTOC_H

#include "pattern/Pattern.h"

#include <cstdint>
#include <optional>
#include <string>

namespace stc::codegen {

struct PatternC {
  /// Declarations the expression needs (`__device__` tables and lookup
  /// functions of block-layout patterns); empty for most patterns. Names start
  /// with the prefix passed to patternToC.
  std::string decls;
  /// A C expression of integer type, non-zero iff allowed; over `int q, int k`.
  std::string expr;
};

/// Translates `p` for sequences of length `n`. `prefix` makes the names in
/// decls unique within one source (e.g. "stc_l0"). Fails (nullopt, *error
/// set) only when a block-layout pattern's table would be unreasonably large.
std::optional<PatternC> patternToC(const pattern::Pattern &p, int64_t n,
                                   const std::string &prefix,
                                   std::string *error);

/// An integer literal for C: plain when it fits an int, else with LL suffix
/// (INT64_MIN spelled so that it parses).
std::string cIntLiteral(int64_t v);

} // namespace stc::codegen

#endif // STC_CODEGEN_PATTERNTOC_H
