//===- PatternCases.h - Patterns whose C translation is checked -*- C++ -*-===//
//
// Shared by the build-time generator (PatternCGen.cpp, which prints each
// pattern's patternToC output as a host function) and the test that compares
// those functions with Pattern::allowed over every 0 <= k <= q < n.
//
//===----------------------------------------------------------------------===//

#ifndef STC_TEST_UNIT_CODEGEN_PATTERNCASES_H
#define STC_TEST_UNIT_CODEGEN_PATTERNCASES_H

#include "pattern/Pattern.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace stc::codegen::test {

struct PatternCase {
  pattern::Pattern pattern;
  int64_t n;
};

inline pattern::Pattern pred(const std::string &name,
                             const std::string &sexpr) {
  auto p = pattern::Predicate::parse(sexpr, nullptr);
  if (!p)
    std::abort(); // a typo in this file
  return pattern::Pattern::predicate(name, *p);
}

inline std::vector<PatternCase> patternCases() {
  using pattern::Pattern;
  std::vector<PatternCase> c;
  auto add = [&](Pattern p, int64_t n) { c.push_back({std::move(p), n}); };
  add(Pattern::causal(), 70);
  add(Pattern::local(1), 70);
  add(Pattern::local(8), 130);
  add(Pattern::local(0), 20);
  add(Pattern::strided(1), 40);
  add(Pattern::strided(3), 130);
  add(Pattern::strided(8), 130);
  add(Pattern::strided(0), 20);
  add(Pattern::fixed(16, 4), 130);
  add(Pattern::fixed(7, 0), 60);
  add(Pattern::fixed(5, 9), 60); // summary clamped to the block
  add(Pattern::fixed(128, 32), 300);
  add(Pattern::unionOf({}), 20);
  add(Pattern::unionOf({Pattern::local(8), Pattern::strided(8)}), 130);
  add(Pattern::unionOf({Pattern::local(4)}), 40);
  // Few blocks at a small block size: printed as a sorted list.
  add(Pattern::blockLayout(4, {{0, 0}, {3, 1}, {5, 5}, {9, 2}, {30, 30}}), 130);
  // Many blocks: printed as a bitmap.
  {
    std::vector<std::pair<int64_t, int64_t>> blocks;
    for (int64_t r = 0; r < 20; ++r)
      for (int64_t k = 0; k <= r; ++k)
        if ((r * 7 + k * 3) % 5 != 0)
          blocks.push_back({r, k});
    add(Pattern::blockLayout(6, blocks), 125);
  }
  add(Pattern::blockLayout(8, {}), 40);
  add(pred("near", "(slt (sub q k) 3)"), 100);
  add(pred("near_or_summary", "(or (slt (sub q k) 3) (eq (rems k 16) 15))"),
      130);
  add(pred("mulmod", "(eq (remu (mul q k) 7) 0)"), 100);
  add(pred("floordiv", "(sge (floordivs (sub k q) 5) -2)"), 100);
  add(pred("divzero", "(ne (divs q (sub k 3)) 0)"), 60);
  add(pred("remzero", "(eq (rems q (sub k 5)) 1)"), 60);
  add(pred("udiv", "(eq (divu q (sub k 2)) 0)"), 60);
  add(pred("shifts", "(eq (and (shru q 2) 1) (and (shl k 1) 2))"), 80);
  add(pred("shrs", "(slt (shrs (sub k q) 1) -3)"), 80);
  add(pred("select", "(select (slt k 10) 1 (eq (rems q 2) 0))"), 80);
  add(pred("unsigned", "(ult (sub k 5) q)"), 80);
  add(pred("minmax", "(eq (maxs (mins q 40) k) 40)"), 80);
  add(pred("minmaxu", "(ule (maxu (sub k 3) (minu q 7)) 7)"), 80);
  add(pred("bits", "(ne (xor (or q k) (and q 5)) 0)"), 60);
  add(pred("cmp", "(and (sgt q 10) (and (sle k 20) (ne q k)))"), 60);
  add(pred("const", "1"), 20);
  add(Pattern::unionOf({Pattern::fixed(16, 2), pred("diag", "(eq q k)"),
                        Pattern::blockLayout(16, {{2, 0}, {3, 1}})}),
      100);
  return c;
}

} // namespace stc::codegen::test

#endif // STC_TEST_UNIT_CODEGEN_PATTERNCASES_H
