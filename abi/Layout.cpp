//===- Layout.cpp - Block layouts as both sides of the contract see them --===//

#include "abi/Layout.h"

#include "abi/Hash.h"
#include "abi/Limits.h"

namespace stc::abi {

bool hasPredicate(const pattern::Pattern &p) {
  if (p.kind() == pattern::Pattern::Kind::Predicate)
    return true;
  for (const pattern::Pattern &c : p.children())
    if (hasPredicate(c))
      return true;
  return false;
}

std::string checkLayoutRequest(const pattern::Pattern &p, int64_t n,
                               int64_t block) {
  if (n < 1 || n > kMaxContext)
    return "n is " + std::to_string(n) + "; valid: 1 .. " +
           std::to_string(kMaxContext);
  if (block < 1 || block > kMaxDim)
    return "block is " + std::to_string(block) + "; valid: 1 .. " +
           std::to_string(kMaxDim);
  if (hasPredicate(p) && n > kMaxPredicateContext)
    return "n is " + std::to_string(n) +
           "; patterns with a user predicate are limited to n <= " +
           std::to_string(kMaxPredicateContext);
  if (int64_t work = p.elementEvaluations(n); work > kMaxPredicateEvaluations)
    return "n is " + std::to_string(n) + ": " +
           (hasPredicate(p) ? "its predicate depends"
                            : "its difference (minus) depends") +
           " on more than q - k, so it is classified element by element, " +
           std::to_string(work) + " evaluations; stc's budget is " +
           std::to_string(kMaxPredicateEvaluations) +
           " (n <= 23170); or write it in terms of (sub q k) alone";
  return "";
}

std::optional<pattern::BlockLayout>
buildLayout(const pattern::Pattern &p, int64_t n, int64_t block,
            std::string *error) {
  std::string why = checkLayoutRequest(p, n, block);
  if (!why.empty()) {
    if (error)
      *error = why;
    return std::nullopt;
  }
  auto layout = pattern::buildBlockLayoutBounded(p, n, block, kMaxLayoutBlocks);
  if (!layout && error)
    *error = "the layout of " + p.str() + " at n = " + std::to_string(n) +
             ", block = " + std::to_string(block) + " lists more than " +
             std::to_string(kMaxLayoutBlocks) +
             " blocks (stc's limit); use a larger block size";
  return layout;
}

uint64_t layoutFingerprint(const pattern::BlockLayout &l) {
  // Word-wise FNV-1a: one multiply per table entry keeps the rebuild check
  // of a layout with millions of blocks in the milliseconds.
  uint64_t h = kFnv1a64Offset;
  auto word = [&h](uint64_t w) {
    h ^= w;
    h *= kFnv1a64Prime;
  };
  word(static_cast<uint64_t>(l.n));
  word(static_cast<uint64_t>(l.blockSize));
  for (int64_t r : l.rowPtr)
    word(static_cast<uint64_t>(r));
  for (size_t i = 0; i < l.colIdx.size(); ++i)
    word(static_cast<uint64_t>(l.colIdx[i]) << 2 |
         static_cast<uint64_t>(l.classes[i]));
  return h;
}

BlockColumns blockLayoutColumns(const pattern::BlockLayout &l) {
  BlockColumns out;
  const int64_t cols = l.numBlockRows; // square tiling: as many columns
  out.colPtr.assign(static_cast<size_t>(cols + 1), 0);
  for (int64_t c : l.colIdx)
    ++out.colPtr[c + 1];
  for (int64_t c = 0; c < cols; ++c)
    out.colPtr[c + 1] += out.colPtr[c];
  out.rowIdx.assign(l.colIdx.size(), 0);
  out.classes.assign(l.colIdx.size(), pattern::BlockClass::Empty);
  std::vector<int64_t> fill(out.colPtr.begin(), out.colPtr.end() - 1);
  // Rows are visited in ascending order, so each column's rows ascend.
  for (int64_t r = 0; r < l.numBlockRows; ++r)
    for (int64_t i = l.rowPtr[r]; i < l.rowPtr[r + 1]; ++i) {
      int64_t at = fill[l.colIdx[i]]++;
      out.rowIdx[at] = r;
      out.classes[at] = l.classes[i];
    }
  return out;
}

} // namespace stc::abi
