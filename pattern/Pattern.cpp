//===- Pattern.cpp - Sparse attention patterns, exactly
//---------------------===//
//
// Construction, membership, per-row key enumeration, counting and the text
// form of attention patterns.
//
// Constructors never fail (the compiler's verifier rejects bad parameters
// first); out-of-range parameters get a defined meaning instead:
//   - local(w) with w < 1 allows nothing (q - k < w never holds);
//   - strided(s) with s < 1 allows nothing;
//   - fixed(l, c) with l < 1 allows nothing; c is clamped to [0, l] (c <= 0:
//     no summary columns, c >= l: every column is one, i.e. causal);
//   - blockLayout(b, ...) with b < 1 allows nothing; pairs with a negative
//     index or key block > query block can never be allowed and are dropped;
//   - a union with no children and an empty predicate allow nothing;
//   - a difference allows what its first child allows and its second does
//     not.
// parse() rejects all of these with an error instead.
//
//===----------------------------------------------------------------------===//

#include "pattern/Pattern.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <limits>

namespace stc::pattern {

struct Pattern::Node {
  Kind kind = Kind::Causal;
  int64_t size = 0;
  int64_t summary = 0;
  std::vector<Pattern> children;
  /// Sorted by (query block, key block), unique, 0 <= key block <= query
  /// block.
  std::vector<std::pair<int64_t, int64_t>> blocks;
  std::string name;
  Predicate pred;
};

Pattern::Pattern(std::shared_ptr<const Node> node) : node_(std::move(node)) {}

//===----------------------------------------------------------------------===//
// Construction and accessors
//===----------------------------------------------------------------------===//

Pattern Pattern::causal() {
  auto node = std::make_shared<Node>();
  node->kind = Kind::Causal;
  return Pattern(std::move(node));
}

Pattern Pattern::local(int64_t window) {
  auto node = std::make_shared<Node>();
  node->kind = Kind::Local;
  node->size = window;
  return Pattern(std::move(node));
}

Pattern Pattern::strided(int64_t stride) {
  auto node = std::make_shared<Node>();
  node->kind = Kind::Strided;
  node->size = stride;
  return Pattern(std::move(node));
}

Pattern Pattern::fixed(int64_t block, int64_t summary) {
  auto node = std::make_shared<Node>();
  node->kind = Kind::Fixed;
  node->size = block;
  node->summary = summary;
  return Pattern(std::move(node));
}

Pattern Pattern::gathered(int64_t block, int64_t summary) {
  auto node = std::make_shared<Node>();
  node->kind = Kind::Gathered;
  node->size = block;
  node->summary = summary;
  return Pattern(std::move(node));
}

Pattern Pattern::unionOf(std::vector<Pattern> children) {
  auto node = std::make_shared<Node>();
  node->kind = Kind::Union;
  node->children = std::move(children);
  return Pattern(std::move(node));
}

Pattern Pattern::difference(Pattern from, Pattern without) {
  auto node = std::make_shared<Node>();
  node->kind = Kind::Difference;
  node->children = {std::move(from), std::move(without)};
  return Pattern(std::move(node));
}

Pattern Pattern::blockLayout(int64_t blockSize,
                             std::vector<std::pair<int64_t, int64_t>> blocks) {
  auto node = std::make_shared<Node>();
  node->kind = Kind::BlockLayout;
  node->size = blockSize;
  blocks.erase(std::remove_if(blocks.begin(), blocks.end(),
                              [](const std::pair<int64_t, int64_t> &b) {
                                return b.second < 0 || b.second > b.first;
                              }),
               blocks.end());
  std::sort(blocks.begin(), blocks.end());
  blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
  node->blocks = std::move(blocks);
  return Pattern(std::move(node));
}

Pattern Pattern::predicate(std::string name, Predicate pred) {
  auto node = std::make_shared<Node>();
  node->kind = Kind::Predicate;
  node->name = std::move(name);
  node->pred = std::move(pred);
  return Pattern(std::move(node));
}

Pattern::Kind Pattern::kind() const { return node_->kind; }
int64_t Pattern::size() const { return node_->size; }
int64_t Pattern::summary() const { return node_->summary; }
const std::vector<Pattern> &Pattern::children() const {
  return node_->children;
}
const std::vector<std::pair<int64_t, int64_t>> &Pattern::blocks() const {
  return node_->blocks;
}
const std::string &Pattern::predicateName() const { return node_->name; }
const Predicate &Pattern::predicateExpr() const { return node_->pred; }

//===----------------------------------------------------------------------===//
// Membership
//===----------------------------------------------------------------------===//

namespace {

/// fixed(l, c)'s summary width as used: clamped to [0, l].
int64_t clampedSummary(int64_t block, int64_t summary) {
  return std::clamp<int64_t>(summary, 0, block);
}

/// Index range [begin, end) of the listed pairs whose query block is `row`.
std::pair<size_t, size_t>
blockRowRange(const std::vector<std::pair<int64_t, int64_t>> &blocks,
              int64_t row) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  auto begin =
      std::lower_bound(blocks.begin(), blocks.end(), std::make_pair(row, kMin));
  auto end = begin;
  while (end != blocks.end() && end->first == row)
    ++end;
  return {static_cast<size_t>(begin - blocks.begin()),
          static_cast<size_t>(end - blocks.begin())};
}

} // namespace

bool Pattern::allowed(int64_t q, int64_t k) const {
  if (q < 0 || k < 0 || k > q)
    return false;
  const Node &node = *node_;
  switch (node.kind) {
  case Kind::Causal:
    return true;
  case Kind::Local:
    return q - k < node.size;
  case Kind::Strided:
    return node.size >= 1 && (q - k) % node.size == 0;
  case Kind::Fixed: {
    int64_t l = node.size;
    if (l < 1)
      return false;
    return q / l == k / l || k % l >= l - clampedSummary(l, node.summary);
  }
  case Kind::Gathered: {
    int64_t l = node.size;
    if (l < 1)
      return false;
    // (q / l) * c <= q: no overflow, and k < it implies k <= q.
    return k < q / l * clampedSummary(l, node.summary);
  }
  case Kind::Union:
    for (const Pattern &child : node.children)
      if (child.allowed(q, k))
        return true;
    return false;
  case Kind::Difference:
    return node.children[0].allowed(q, k) && !node.children[1].allowed(q, k);
  case Kind::BlockLayout: {
    int64_t b = node.size;
    if (b < 1)
      return false;
    return std::binary_search(node.blocks.begin(), node.blocks.end(),
                              std::make_pair(q / b, k / b));
  }
  case Kind::Predicate:
    return node.pred.eval(q, k) != 0;
  }
  return false;
}

//===----------------------------------------------------------------------===//
// Row enumeration
//===----------------------------------------------------------------------===//

void Pattern::forEachAllowedKey(int64_t q, int64_t n,
                                const std::function<void(int64_t)> &fn) const {
  if (q < 0 || n < 1)
    return;
  const int64_t kMax = std::min(q, n - 1);
  const Node &node = *node_;
  switch (node.kind) {
  case Kind::Causal:
    for (int64_t k = 0; k <= kMax; ++k)
      fn(k);
    return;
  case Kind::Local: {
    if (node.size < 1)
      return;
    // q - k < w  <=>  k > q - w; q - w cannot overflow for q >= 0.
    for (int64_t k = std::max<int64_t>(0, q - node.size + 1); k <= kMax; ++k)
      fn(k);
    return;
  }
  case Kind::Strided: {
    int64_t s = node.size;
    if (s < 1)
      return;
    // Stepping is written so that a huge stride cannot overflow k.
    for (int64_t k = q % s; k <= kMax; k += s) {
      fn(k);
      if (kMax - k < s)
        break;
    }
    return;
  }
  case Kind::Fixed: {
    int64_t l = node.size;
    if (l < 1)
      return;
    int64_t c = clampedSummary(l, node.summary);
    int64_t ownStart = q / l * l;
    // Summary columns of earlier fixed blocks, then the query's own block.
    if (c > 0) {
      for (int64_t blockStart = 0; blockStart < ownStart; blockStart += l) {
        int64_t last = std::min(blockStart + l - 1, kMax);
        for (int64_t k = blockStart + l - c; k <= last; ++k)
          fn(k);
        if (last == kMax)
          return;
      }
    }
    for (int64_t k = ownStart; k <= kMax; ++k)
      fn(k);
    return;
  }
  case Kind::Gathered: {
    int64_t l = node.size;
    if (l < 1)
      return;
    int64_t end = std::min(q / l * clampedSummary(l, node.summary), kMax + 1);
    for (int64_t k = 0; k < end; ++k)
      fn(k);
    return;
  }
  case Kind::Union: {
    if (node.children.size() == 1) {
      node.children.front().forEachAllowedKey(q, n, fn);
      return;
    }
    // Each child's keys are ascending: merge them, then drop duplicates.
    std::vector<int64_t> keys;
    for (const Pattern &child : node.children) {
      size_t mid = keys.size();
      child.forEachAllowedKey(q, n, [&keys](int64_t k) { keys.push_back(k); });
      std::inplace_merge(keys.begin(), keys.begin() + mid, keys.end());
    }
    int64_t previous = -1;
    for (int64_t k : keys) {
      if (k != previous)
        fn(k);
      previous = k;
    }
    return;
  }
  case Kind::Difference: {
    const Pattern &without = node.children[1];
    node.children[0].forEachAllowedKey(q, n, [&](int64_t k) {
      if (!without.allowed(q, k))
        fn(k);
    });
    return;
  }
  case Kind::BlockLayout: {
    int64_t b = node.size;
    if (b < 1)
      return;
    auto [begin, end] = blockRowRange(node.blocks, q / b);
    for (size_t i = begin; i < end; ++i) {
      int64_t first = node.blocks[i].second * b;
      int64_t last = std::min(first + b - 1, kMax);
      for (int64_t k = first; k <= last; ++k)
        fn(k);
    }
    return;
  }
  case Kind::Predicate:
    if (node.pred.empty())
      return;
    for (int64_t k = 0; k <= kMax; ++k)
      if (node.pred.eval(q, k) != 0)
        fn(k);
    return;
  }
}

//===----------------------------------------------------------------------===//
// Counting
//===----------------------------------------------------------------------===//

bool Pattern::shiftInvariant() const {
  const Node &node = *node_;
  switch (node.kind) {
  case Kind::Causal:
  case Kind::Local:
  case Kind::Strided:
    return true;
  case Kind::Fixed:
  case Kind::Gathered:
  case Kind::BlockLayout:
    return false;
  case Kind::Union:
  case Kind::Difference:
    for (const Pattern &child : node.children)
      if (!child.shiftInvariant())
        return false;
    return true;
  case Kind::Predicate:
    return node.pred.dependsOnlyOnDifference();
  }
  return false;
}

int64_t Pattern::elementEvaluations(int64_t n) const {
  const Node &node = *node_;
  // A difference that is not shift-invariant classifies the blocks its
  // second child fills partly element by element: up to every element.
  if ((node.kind == Kind::Predicate && !node.pred.dependsOnlyOnDifference()) ||
      (node.kind == Kind::Difference && !shiftInvariant())) {
    if (n < 1)
      return 0;
    int64_t r;
    if (__builtin_mul_overflow(n, n + 1, &r))
      return INT64_MAX;
    return r / 2;
  }
  int64_t total = 0;
  for (const Pattern &child : node.children)
    if (__builtin_add_overflow(total, child.elementEvaluations(n), &total))
      return INT64_MAX;
  return total;
}

int64_t Pattern::countAllowed(int64_t n) const {
  if (n < 1)
    return 0;
  const Node &node = *node_;
  // A shift-invariant union or predicate: d = q - k occurs n - d times.
  if ((node.kind == Kind::Union || node.kind == Kind::Difference ||
       node.kind == Kind::Predicate) &&
      shiftInvariant()) {
    int64_t total = 0;
    for (int64_t d = 0; d < n; ++d)
      if (allowed(d, 0))
        total += n - d;
    return total;
  }
  switch (node.kind) {
  case Kind::Causal:
    return n * (n + 1) / 2;
  case Kind::Local: {
    int64_t w = node.size;
    if (w < 1)
      return 0;
    if (w >= n)
      return n * (n + 1) / 2;
    // Rows q < w see q + 1 keys, the rest see w.
    return w * (w + 1) / 2 + (n - w) * w;
  }
  case Kind::Strided: {
    int64_t s = node.size;
    if (s < 1)
      return 0;
    // Row q sees q / s + 1 keys; sum q / s over q < n = m full periods of
    // s rows each plus r rows of the last one.
    int64_t m = n / s, r = n % s;
    return n + s * (m * (m - 1) / 2) + r * m;
  }
  case Kind::Fixed: {
    int64_t l = node.size;
    if (l < 1)
      return 0;
    int64_t c = clampedSummary(l, node.summary);
    // Row q sees q % l + 1 keys of its own fixed block and c summary columns
    // in each of the q / l blocks before it.
    int64_t m = n / l, r = n % l;
    if (m == 0) // one fixed block covers [0, n); skip l * l, which may overflow
      return r * (r + 1) / 2;
    return m * (l * (l + 1) / 2) + l * c * (m * (m - 1) / 2) + r * (r + 1) / 2 +
           r * m * c;
  }
  case Kind::Gathered: {
    int64_t l = node.size;
    if (l < 1)
      return 0;
    int64_t c = clampedSummary(l, node.summary);
    // Row q sees (q / l) * c keys: sum over m full fixed blocks of l rows
    // each, plus r rows of the last.
    int64_t m = n / l, r = n % l;
    return c * (l * (m * (m - 1) / 2) + r * m);
  }
  case Pattern::Kind::BlockLayout: {
    int64_t b = node.size;
    if (b < 1)
      return 0;
    int64_t total = 0;
    const int64_t lastRow = (n - 1) / b;
    for (const auto &[row, col] : node.blocks) {
      if (row > lastRow)
        break; // sorted by row
      int64_t rowStart = row * b;
      int64_t rows = std::min(b, n - rowStart);
      // Off-diagonal blocks lie wholly below the diagonal; a diagonal block
      // keeps its lower triangle.
      total += col < row ? rows * b : rows * (rows + 1) / 2;
    }
    return total;
  }
  case Kind::Union:
  case Kind::Difference:
  case Kind::Predicate: {
    int64_t total = 0;
    for (int64_t q = 0; q < n; ++q)
      forEachAllowedKey(q, n, [&total](int64_t) { ++total; });
    return total;
  }
  }
  return 0;
}

double Pattern::density(int64_t n) const {
  if (n < 1)
    return 0;
  return static_cast<double>(countAllowed(n)) /
         (static_cast<double>(n) * static_cast<double>(n));
}

namespace {

/// Whether row q (< n) has any allowed key k <= q.
bool rowHasAllowedKey(const Pattern &p, int64_t q) {
  switch (p.kind()) {
  case Pattern::Kind::Causal:
    return true;
  // Each of these allows k = q whenever it allows anything.
  case Pattern::Kind::Local:
  case Pattern::Kind::Strided:
  case Pattern::Kind::Fixed:
    return p.size() >= 1;
  case Pattern::Kind::Gathered:
    return p.size() >= 1 && q / p.size() >= 1 &&
           std::clamp<int64_t>(p.summary(), 0, p.size()) >= 1;
  case Pattern::Kind::Union:
    for (const Pattern &child : p.children())
      if (rowHasAllowedKey(child, q))
        return true;
    return false;
  case Pattern::Kind::Difference: {
    bool any = false;
    p.forEachAllowedKey(q, q + 1, [&any](int64_t) { any = true; });
    return any;
  }
  case Pattern::Kind::BlockLayout: {
    // Any listed block of the row holds a key <= q: off-diagonal ones lie
    // wholly below the diagonal and the diagonal one holds k = q.
    if (p.size() < 1)
      return false;
    auto [begin, end] = blockRowRange(p.blocks(), q / p.size());
    return begin != end;
  }
  case Pattern::Kind::Predicate:
    // Nearest keys first: most patterns allow the diagonal or a recent key.
    for (int64_t k = q; k >= 0; --k)
      if (p.predicateExpr().eval(q, k) != 0)
        return true;
    return false;
  }
  return false;
}

} // namespace

std::optional<int64_t> Pattern::firstEmptyRow(int64_t n) const {
  // Shift-invariant: every row holds d = 0, and row 0 holds only it.
  if (shiftInvariant()) {
    if (n >= 1 && !allowed(0, 0))
      return 0;
    return std::nullopt;
  }
  for (int64_t q = 0; q < n; ++q)
    if (!rowHasAllowedKey(*this, q))
      return q;
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Text form
//===----------------------------------------------------------------------===//

std::string Pattern::str() const {
  const Node &node = *node_;
  switch (node.kind) {
  case Kind::Causal:
    return "causal";
  case Kind::Local:
    return "local(" + std::to_string(node.size) + ")";
  case Kind::Strided:
    return "strided(" + std::to_string(node.size) + ")";
  case Kind::Fixed:
    return "fixed(" + std::to_string(node.size) + "," +
           std::to_string(node.summary) + ")";
  case Kind::Gathered:
    return "gathered(" + std::to_string(node.size) + "," +
           std::to_string(node.summary) + ")";
  case Kind::Union: {
    std::string out = "union(";
    for (size_t i = 0; i < node.children.size(); ++i) {
      if (i)
        out += ',';
      out += node.children[i].str();
    }
    return out + ")";
  }
  case Kind::Difference:
    return "minus(" + node.children[0].str() + "," + node.children[1].str() +
           ")";
  case Kind::BlockLayout: {
    std::string out = "blocks(" + std::to_string(node.size) + ";";
    for (size_t i = 0; i < node.blocks.size(); ++i) {
      if (i)
        out += ',';
      out += std::to_string(node.blocks[i].first) + ":" +
             std::to_string(node.blocks[i].second);
    }
    return out + ")";
  }
  case Kind::Predicate:
    return "predicate(" + node.name + ";" + node.pred.str() + ")";
  }
  return "";
}

namespace {

/// Predicate names are symbol names; anything but the pattern syntax's own
/// punctuation and spaces is accepted.
bool isNameChar(char c) {
  return !std::isspace(static_cast<unsigned char>(c)) && c != ';' && c != '(' &&
         c != ')' && c != ',';
}

class PatternParser {
public:
  explicit PatternParser(std::string_view text) : text_(text) {}

  std::optional<Pattern> parse(std::string *error) {
    std::optional<Pattern> result = parsePattern(/*depth=*/0);
    if (result) {
      skipSpace();
      if (pos_ != text_.size())
        result = expected("end of input after the pattern");
    }
    if (!result && error)
      *error = error_;
    return result;
  }

private:
  static constexpr int kMaxDepth = 256;

  void skipSpace() {
    while (pos_ < text_.size() &&
           std::isspace(static_cast<unsigned char>(text_[pos_])))
      ++pos_;
  }

  std::string describeHere() const {
    if (pos_ >= text_.size())
      return "end of input";
    return std::string("'") + text_[pos_] + "'";
  }

  std::nullopt_t failAt(size_t position, const std::string &message) {
    if (error_.empty())
      error_ = "at position " + std::to_string(position) + ": " + message;
    return std::nullopt;
  }

  std::nullopt_t expected(const std::string &what) {
    return failAt(pos_, "expected " + what + ", got " + describeHere());
  }

  bool consume(char c) {
    skipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  bool expect(char c) {
    if (consume(c))
      return true;
    expected(std::string("'") + c + "'");
    return false;
  }

  /// A signed decimal int64; `what` names it in errors.
  std::optional<int64_t> parseInteger(const std::string &what,
                                      size_t *start = nullptr) {
    skipSpace();
    size_t begin = pos_;
    if (start)
      *start = begin;
    size_t end = pos_;
    if (end < text_.size() && (text_[end] == '-' || text_[end] == '+'))
      ++end;
    size_t digits = end;
    while (end < text_.size() &&
           std::isdigit(static_cast<unsigned char>(text_[end])))
      ++end;
    if (end == digits)
      return expected("an integer " + what);
    std::string literal(text_.substr(begin, end - begin));
    errno = 0;
    char *parsedEnd = nullptr;
    long long value = std::strtoll(literal.c_str(), &parsedEnd, 10);
    if (errno == ERANGE)
      return failAt(begin, what + " '" + literal + "' does not fit in int64");
    pos_ = end;
    return static_cast<int64_t>(value);
  }

  /// An integer that must be >= `minimum`.
  std::optional<int64_t> parseAtLeast(const std::string &what,
                                      int64_t minimum) {
    size_t start = 0;
    std::optional<int64_t> value = parseInteger(what, &start);
    if (!value)
      return std::nullopt;
    if (*value < minimum)
      return failAt(start, what + " must be >= " + std::to_string(minimum) +
                               ", got " + std::to_string(*value));
    return value;
  }

  std::optional<Pattern> parsePattern(int depth) {
    skipSpace();
    size_t start = pos_;
    while (pos_ < text_.size() &&
           std::isalpha(static_cast<unsigned char>(text_[pos_])))
      ++pos_;
    std::string_view keyword = text_.substr(start, pos_ - start);
    if (keyword.empty())
      return expected(
          "a pattern (causal, local, strided, fixed, gathered, union, "
          "minus, blocks or predicate)");
    if (keyword == "causal") {
      // `causal()` is accepted too.
      size_t afterKeyword = pos_;
      if (consume('(')) {
        if (!expect(')'))
          return std::nullopt;
      } else {
        pos_ = afterKeyword;
      }
      return Pattern::causal();
    }
    if (keyword == "local" || keyword == "strided") {
      bool isLocal = keyword == "local";
      if (!expect('('))
        return std::nullopt;
      std::optional<int64_t> size =
          parseAtLeast(isLocal ? "local window" : "stride", 1);
      if (!size || !expect(')'))
        return std::nullopt;
      return isLocal ? Pattern::local(*size) : Pattern::strided(*size);
    }
    if (keyword == "fixed")
      return parseFixed();
    if (keyword == "gathered")
      return parseFixed(/*gathered=*/true);
    if (keyword == "union")
      return parseUnion(depth);
    if (keyword == "minus")
      return parseMinus(depth);
    if (keyword == "blocks")
      return parseBlocks();
    if (keyword == "predicate")
      return parsePredicate();
    return failAt(start,
                  "unknown pattern '" + std::string(keyword) +
                      "'; expected causal, local, strided, fixed, gathered, "
                      "union, minus, blocks or predicate");
  }

  /// fixed(l,c) or gathered(l,c): the same parameters and ranges.
  std::optional<Pattern> parseFixed(bool gathered = false) {
    const std::string kind = gathered ? "gathered" : "fixed";
    if (!expect('('))
      return std::nullopt;
    std::optional<int64_t> block = parseAtLeast(kind + " block size", 1);
    if (!block || !expect(','))
      return std::nullopt;
    size_t summaryStart = 0;
    std::optional<int64_t> summary =
        parseInteger(kind + " summary width", &summaryStart);
    if (!summary)
      return std::nullopt;
    if (*summary < 0 || *summary > *block)
      return failAt(summaryStart, kind + " summary width must be in [0, " +
                                      std::to_string(*block) +
                                      "] (at most the block size), got " +
                                      std::to_string(*summary));
    if (!expect(')'))
      return std::nullopt;
    return gathered ? Pattern::gathered(*block, *summary)
                    : Pattern::fixed(*block, *summary);
  }

  std::optional<Pattern> parseUnion(int depth) {
    if (depth >= kMaxDepth)
      return failAt(pos_, "unions nested deeper than " +
                              std::to_string(kMaxDepth) + " levels");
    if (!expect('('))
      return std::nullopt;
    std::vector<Pattern> children;
    skipSpace();
    if (pos_ < text_.size() && text_[pos_] == ')')
      return failAt(pos_, "union needs at least one pattern, got none");
    do {
      std::optional<Pattern> child = parsePattern(depth + 1);
      if (!child)
        return std::nullopt;
      children.push_back(std::move(*child));
    } while (consume(','));
    if (!expect(')'))
      return std::nullopt;
    return Pattern::unionOf(std::move(children));
  }

  /// minus(a,b): exactly two patterns.
  std::optional<Pattern> parseMinus(int depth) {
    if (depth >= kMaxDepth)
      return failAt(pos_, "patterns nested deeper than " +
                              std::to_string(kMaxDepth) + " levels");
    if (!expect('('))
      return std::nullopt;
    std::optional<Pattern> from = parsePattern(depth + 1);
    if (!from)
      return std::nullopt;
    if (!consume(','))
      return expected("',' and the pattern minus takes away");
    std::optional<Pattern> without = parsePattern(depth + 1);
    if (!without)
      return std::nullopt;
    if (!consume(')'))
      return expected("')' after minus's two patterns");
    return Pattern::difference(std::move(*from), std::move(*without));
  }

  std::optional<Pattern> parseBlocks() {
    if (!expect('('))
      return std::nullopt;
    std::optional<int64_t> blockSize = parseAtLeast("blocks block size", 1);
    if (!blockSize || !expect(';'))
      return std::nullopt;
    std::vector<std::pair<int64_t, int64_t>> blocks;
    if (consume(')'))
      return Pattern::blockLayout(*blockSize, std::move(blocks));
    do {
      size_t pairStart = 0;
      std::optional<int64_t> row = parseInteger("query block", &pairStart);
      if (!row)
        return std::nullopt;
      if (!expect(':'))
        return std::nullopt;
      std::optional<int64_t> col = parseInteger("key block");
      if (!col)
        return std::nullopt;
      std::string pair = std::to_string(*row) + ":" + std::to_string(*col);
      if (*row < 0 || *col < 0)
        return failAt(pairStart, "block " + pair +
                                     " has a negative index; block indices "
                                     "must be >= 0");
      if (*col > *row)
        return failAt(pairStart,
                      "block " + pair + " has key block " +
                          std::to_string(*col) + " > query block " +
                          std::to_string(*row) +
                          "; patterns are causal, so key block <= query "
                          "block");
      blocks.emplace_back(*row, *col);
    } while (consume(','));
    if (!expect(')'))
      return std::nullopt;
    return Pattern::blockLayout(*blockSize, std::move(blocks));
  }

  std::optional<Pattern> parsePredicate() {
    if (!expect('('))
      return std::nullopt;
    skipSpace();
    size_t nameStart = pos_;
    while (pos_ < text_.size() && isNameChar(text_[pos_]))
      ++pos_;
    std::string name(text_.substr(nameStart, pos_ - nameStart));
    if (name.empty())
      return expected("a predicate name");
    if (!expect(';'))
      return std::nullopt;
    // The s-expression runs to the ')' that closes `predicate(`.
    size_t exprStart = pos_;
    size_t end = pos_;
    int depth = 0;
    for (; end < text_.size(); ++end) {
      if (text_[end] == '(')
        ++depth;
      else if (text_[end] == ')' && depth-- == 0)
        break;
    }
    if (end == text_.size()) {
      pos_ = end;
      return expected("')' closing predicate '" + name + "'");
    }
    std::string exprError;
    std::optional<Predicate> pred =
        Predicate::parse(text_.substr(exprStart, end - exprStart), &exprError);
    if (!pred)
      return failAt(exprStart,
                    "in predicate '" + name +
                        "' (s-expression starting here): " + exprError);
    pos_ = end + 1;
    return Pattern::predicate(std::move(name), std::move(*pred));
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

} // namespace

std::optional<Pattern> Pattern::parse(std::string_view text,
                                      std::string *error) {
  return PatternParser(text).parse(error);
}

bool Pattern::operator==(const Pattern &other) const {
  const Node &a = *node_, &b = *other.node_;
  if (&a == &b)
    return true;
  if (a.kind != b.kind)
    return false;
  switch (a.kind) {
  case Kind::Causal:
    return true;
  case Kind::Local:
  case Kind::Strided:
    return a.size == b.size;
  case Kind::Fixed:
  case Kind::Gathered:
    return a.size == b.size && a.summary == b.summary;
  case Kind::Union:
  case Kind::Difference:
    return a.children == b.children;
  case Kind::BlockLayout:
    return a.size == b.size && a.blocks == b.blocks;
  case Kind::Predicate:
    return a.name == b.name && a.pred == b.pred;
  }
  return false;
}

} // namespace stc::pattern
