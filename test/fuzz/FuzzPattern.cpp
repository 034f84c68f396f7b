//===- FuzzPattern.cpp - libFuzzer: the pattern s-expression parser -------===//
//
// Pattern::parse on any text: nullopt with a message, or a pattern that
// prints back to text parsing to an equal pattern. Parsed patterns are also
// checked against their definition at a small length: the block layout
// built from structure equals the one built element by element, and the
// allowed-key walk and count agree with allowed().
//
//===----------------------------------------------------------------------===//

#include "abi/Layout.h"
#include "pattern/Pattern.h"

#include <cstdint>
#include <string>
#include <vector>

using namespace stc::pattern;

namespace {

void check(bool ok) {
  if (!ok)
    __builtin_trap();
}

bool sameLayout(const BlockLayout &a, const BlockLayout &b) {
  return a.n == b.n && a.blockSize == b.blockSize && a.rowPtr == b.rowPtr &&
         a.colIdx == b.colIdx && a.classes == b.classes;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  std::string error;
  std::optional<Pattern> p = Pattern::parse(text, &error);
  if (!p) {
    check(!error.empty());
    return 0;
  }
  std::optional<Pattern> again = Pattern::parse(p->str(), &error);
  check(again && *again == *p && again->str() == p->str());

  // Small lengths: one ragged (72 = 4.5 blocks of 16), one of whole blocks.
  for (int64_t n : {72, 64}) {
    if (!stc::abi::checkLayoutRequest(*p, n, 16).empty())
      continue;
    std::string why;
    std::optional<BlockLayout> fast = stc::abi::buildLayout(*p, n, 16, &why);
    check(fast.has_value());
    check(sameLayout(*fast, buildBlockLayoutBruteForce(*p, n, 16)));
    int64_t count = 0;
    for (int64_t q = 0; q < n; ++q) {
      std::vector<int64_t> keys;
      p->forEachAllowedKey(q, n, [&](int64_t k) { keys.push_back(k); });
      std::vector<int64_t> expected;
      for (int64_t k = 0; k <= q; ++k)
        if (p->allowed(q, k))
          expected.push_back(k);
      check(keys == expected);
      count += static_cast<int64_t>(keys.size());
    }
    check(p->countAllowed(n) == count);
  }
  return 0;
}
