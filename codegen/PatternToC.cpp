//===- PatternToC.cpp - Attention patterns as C boolean expressions -------===//

#include "codegen/PatternToC.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace stc::codegen {

using pattern::Pattern;

std::string cIntLiteral(int64_t v) {
  if (v == std::numeric_limits<int64_t>::min())
    return "(-9223372036854775807LL - 1LL)";
  if (v >= std::numeric_limits<int32_t>::min() &&
      v <= std::numeric_limits<int32_t>::max())
    return v < 0 ? fmt::format("({})", v) : fmt::format("{}", v);
  return v < 0 ? fmt::format("({}LL)", v) : fmt::format("{}LL", v);
}

namespace {

/// Tables larger than this many 32-bit words are refused (a few MB of source).
constexpr int64_t kMaxTableWords = int64_t(1) << 20;

class Translator {
public:
  Translator(int64_t n, std::string *error) : n_(n), error_(error) {}

  std::optional<std::string> expr(const Pattern &p, const std::string &prefix) {
    switch (p.kind()) {
    case Pattern::Kind::Causal:
      return std::string("1");
    case Pattern::Kind::Local:
      // k <= q, so q - k >= 0 and never overflows.
      if (p.size() < 1)
        return std::string("0");
      return fmt::format("(q - k < {})", cIntLiteral(p.size()));
    // Positions are never negative: unsigned division and remainder (a
    // shift and a mask for powers of two) evaluate the same function in a
    // fraction of the instructions, which matters in a kernel's mask.
    // (Sizes past 2^31 keep the signed 64-bit form.)
    case Pattern::Kind::Strided:
      if (p.size() < 1)
        return std::string("0");
      if (p.size() > std::numeric_limits<int32_t>::max())
        return fmt::format("((q - k) % {} == 0)", cIntLiteral(p.size()));
      return fmt::format("((unsigned)(q - k) % {}u == 0u)", p.size());
    case Pattern::Kind::Fixed: {
      int64_t l = p.size();
      if (l < 1)
        return std::string("0");
      int64_t c = std::clamp<int64_t>(p.summary(), 0, l);
      if (l > std::numeric_limits<int32_t>::max())
        return fmt::format("(q / {0} == k / {0} || k % {0} >= {1})",
                           cIntLiteral(l), cIntLiteral(l - c));
      return fmt::format(
          "((unsigned)q / {0}u == (unsigned)k / {0}u || (unsigned)k % {0}u >= "
          "{1}u)",
          l, l - c);
    }
    case Pattern::Kind::Gathered: {
      int64_t l = p.size();
      int64_t c = l < 1 ? 0 : std::clamp<int64_t>(p.summary(), 0, l);
      if (c == 0)
        return std::string("0");
      if (l > std::numeric_limits<int32_t>::max())
        return fmt::format("(k < q / {} * {})", cIntLiteral(l), cIntLiteral(c));
      // (q / l) * c <= q < 2^31 here: unsigned arithmetic cannot wrap.
      return fmt::format("((unsigned)k < (unsigned)q / {}u * {}u)", l, c);
    }
    case Pattern::Kind::Union: {
      const auto &children = p.children();
      if (children.empty())
        return std::string("0");
      if (children.size() == 1)
        return expr(children[0], prefix + "_0");
      std::string out = "(";
      for (size_t i = 0; i < children.size(); ++i) {
        auto c = expr(children[i], prefix + "_" + std::to_string(i));
        if (!c)
          return std::nullopt;
        out += (i ? " || " : "") + *c;
      }
      return out + ")";
    }
    case Pattern::Kind::Difference: {
      auto from = expr(p.children()[0], prefix + "_0");
      auto without = from ? expr(p.children()[1], prefix + "_1") : from;
      if (!without)
        return std::nullopt;
      return "(" + *from + " && !" + *without + ")";
    }
    case Pattern::Kind::BlockLayout:
      return blockLayout(p, prefix);
    case Pattern::Kind::Predicate:
      // Predicate::toC prints long long arithmetic with the same total
      // semantics as Predicate::eval (division by zero gives 0, wrapping).
      return "(" + p.predicateExpr().toC("((long long)q)", "((long long)k)") +
             " != 0LL)";
    }
    return std::string("0");
  }

  std::string decls;

private:
  /// (q / b, k / b) listed: a bitmap over the lower triangle of block pairs
  /// or a sorted list, whichever is smaller.
  std::optional<std::string> blockLayout(const Pattern &p,
                                         const std::string &prefix) {
    const int64_t b = p.size();
    if (b < 1 || n_ < 1)
      return std::string("0");
    const int64_t nb = n_ / b + (n_ % b != 0); // block rows within n
    std::vector<std::pair<int64_t, int64_t>> listed;
    for (const auto &qk : p.blocks())
      if (qk.first >= 0 && qk.first < nb && qk.second >= 0 &&
          qk.second <= qk.first)
        listed.push_back(qk);
    std::sort(listed.begin(), listed.end());
    listed.erase(std::unique(listed.begin(), listed.end()), listed.end());
    if (listed.empty())
      return std::string("0");

    const int64_t bits = nb * (nb + 1) / 2;
    const int64_t bitmapWords = (bits + 31) / 32;
    const int64_t listWords = 2 * static_cast<int64_t>(listed.size());
    const std::string B = cIntLiteral(b);
    if (std::min(bitmapWords, listWords) > kMaxTableWords) {
      if (error_)
        *error_ = fmt::format(
            "pattern {}: its block table for n={} needs {} words (limit {})",
            p.str(), n_, std::min(bitmapWords, listWords), kMaxTableWords);
      return std::nullopt;
    }
    std::string d = fmt::format("// block table of {}\n", p.str());
    if (bitmapWords <= listWords) {
      std::vector<uint32_t> words(static_cast<size_t>(bitmapWords), 0);
      for (const auto &qk : listed) {
        int64_t i = qk.first * (qk.first + 1) / 2 + qk.second;
        words[static_cast<size_t>(i >> 5)] |= uint32_t(1) << (i & 31);
      }
      d += fmt::format("__device__ const unsigned {}_bits[{}] = {{", prefix,
                       bitmapWords);
      for (size_t i = 0; i < words.size(); ++i)
        d += fmt::format("{}{}{:#x}u", i ? "," : "",
                         (i % 8 == 0) ? "\n  " : " ", words[i]);
      d += fmt::format(
          "}};\n"
          "__device__ __forceinline__ bool {0}_has(long long qb, long long kb) "
          "{{\n"
          "  // bit qb (qb + 1) / 2 + kb of the lower triangle, kb <= qb < "
          "{1}\n"
          "  if (qb < 0 || qb >= {1}LL || kb < 0 || kb > qb) return false;\n"
          "  const long long i = qb * (qb + 1) / 2 + kb;\n"
          "  return ({0}_bits[i >> 5] >> (i & 31)) & 1u;\n"
          "}}\n",
          prefix, nb);
    } else {
      d += fmt::format("__device__ const unsigned long long {}_list[{}] = {{",
                       prefix, listed.size());
      for (size_t i = 0; i < listed.size(); ++i)
        d += fmt::format("{}{}{:#x}ull", i ? "," : "",
                         (i % 6 == 0) ? "\n  " : " ",
                         (static_cast<uint64_t>(listed[i].first) << 32) |
                             static_cast<uint64_t>(listed[i].second));
      d += fmt::format(
          "}};\n"
          "__device__ __forceinline__ bool {0}_has(long long qb, long long kb) "
          "{{\n"
          "  // binary search of (qb << 32 | kb) in the sorted list\n"
          "  if (qb < 0 || kb < 0) return false;\n"
          "  const unsigned long long key = ((unsigned long long)qb << 32) | "
          "(unsigned long long)kb;\n"
          "  int lo = 0, hi = {1};\n"
          "  while (lo < hi) {{\n"
          "    const int mid = (lo + hi) >> 1;\n"
          "    if ({0}_list[mid] < key) lo = mid + 1; else hi = mid;\n"
          "  }}\n"
          "  return lo < {1} && {0}_list[lo] == key;\n"
          "}}\n",
          prefix, listed.size());
    }
    decls += d;
    return fmt::format("{0}_has(q / {1}, k / {1})", prefix, B);
  }

  int64_t n_;
  std::string *error_;
};

} // namespace

std::optional<PatternC> patternToC(const Pattern &p, int64_t n,
                                   const std::string &prefix,
                                   std::string *error) {
  Translator t(n, error);
  auto e = t.expr(p, prefix);
  if (!e)
    return std::nullopt;
  PatternC out;
  out.decls = std::move(t.decls);
  out.expr = std::move(*e);
  return out;
}

} // namespace stc::codegen
