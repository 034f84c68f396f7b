//===- Layout.h - Block layouts, as compiler and runtime see them -*- C++ -*-===//
//
// A layout is named in the artifact by (pattern, n, block) and a fingerprint
// of its tables, never by the tables themselves: stc-tile-attention builds it
// and records the fingerprint, the runtime rebuilds it from the pattern (the
// pattern library is shared) and checks the fingerprint. Both sides go
// through buildLayout, so they apply the same limits (abi/Limits.h).
//
//===----------------------------------------------------------------------===//

#ifndef STC_ABI_LAYOUT_H
#define STC_ABI_LAYOUT_H

#include "pattern/Pattern.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace stc::abi {

/// Whether the pattern (or one of its union members) is a user predicate.
bool hasPredicate(const pattern::Pattern &p);

/// The limits on a layout request, checked before any work: n in
/// [1, kMaxContext], block >= 1, predicates only up to kMaxPredicateContext
/// and element-by-element classification within kMaxPredicateEvaluations.
/// Returns "" when the request is acceptable, else what is wrong.
std::string checkLayoutRequest(const pattern::Pattern &p, int64_t n,
                               int64_t block);

/// Builds the layout if the request is acceptable and lists at most
/// kMaxLayoutBlocks blocks; otherwise nullopt and *error says why.
std::optional<pattern::BlockLayout>
buildLayout(const pattern::Pattern &p, int64_t n, int64_t block,
            std::string *error);

/// FNV-1a 64 over the layout's tables (n, block, row pointers, key blocks,
/// classes, as 64-bit words): what st.layout and the manifest record.
uint64_t layoutFingerprint(const pattern::BlockLayout &l);

/// The same blocks by key-block column (CSC), rows ascending per column:
/// what the backward kernels walk.
struct BlockColumns {
  std::vector<int64_t> colPtr, rowIdx;
  std::vector<pattern::BlockClass> classes;
};
BlockColumns blockLayoutColumns(const pattern::BlockLayout &l);

} // namespace stc::abi

#endif // STC_ABI_LAYOUT_H
