//===- Predicate.cpp - User-defined element predicates
//----------------------===//
//
// Evaluation, the s-expression form and C emission for Predicate. Every
// operation is total: arithmetic wraps (computed in uint64), division and
// remainder by zero give 0, INT64_MIN / -1 gives INT64_MIN (remainder 0), and
// shift amounts are taken mod 64, so no input reaches undefined behaviour in
// eval() or in the C that toC() prints.
//
//===----------------------------------------------------------------------===//

#include "pattern/Predicate.h"

#include <array>
#include <cctype>
#include <limits>
#include <map>
#include <tuple>
#include <utility>

namespace stc::pattern {

namespace {

constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();

struct OpInfo {
  ExprOp op;
  const char *name;
  int arity;
};

// Indexed by the ExprOp value; the static_assert below keeps it in sync.
constexpr OpInfo kOps[] = {
    {ExprOp::Q, "q", 0},
    {ExprOp::K, "k", 0},
    {ExprOp::Const, "const", 0},
    {ExprOp::Add, "add", 2},
    {ExprOp::Sub, "sub", 2},
    {ExprOp::Mul, "mul", 2},
    {ExprOp::DivS, "divs", 2},
    {ExprOp::RemS, "rems", 2},
    {ExprOp::DivU, "divu", 2},
    {ExprOp::RemU, "remu", 2},
    {ExprOp::FloorDivS, "floordivs", 2},
    {ExprOp::MinS, "mins", 2},
    {ExprOp::MaxS, "maxs", 2},
    {ExprOp::MinU, "minu", 2},
    {ExprOp::MaxU, "maxu", 2},
    {ExprOp::And, "and", 2},
    {ExprOp::Or, "or", 2},
    {ExprOp::Xor, "xor", 2},
    {ExprOp::Shl, "shl", 2},
    {ExprOp::ShrS, "shrs", 2},
    {ExprOp::ShrU, "shru", 2},
    {ExprOp::Eq, "eq", 2},
    {ExprOp::Ne, "ne", 2},
    {ExprOp::Slt, "slt", 2},
    {ExprOp::Sle, "sle", 2},
    {ExprOp::Sgt, "sgt", 2},
    {ExprOp::Sge, "sge", 2},
    {ExprOp::Ult, "ult", 2},
    {ExprOp::Ule, "ule", 2},
    {ExprOp::Ugt, "ugt", 2},
    {ExprOp::Uge, "uge", 2},
    {ExprOp::Select, "select", 3},
};
constexpr size_t kNumOps = sizeof(kOps) / sizeof(kOps[0]);
static_assert(kNumOps == static_cast<size_t>(ExprOp::Select) + 1,
              "kOps must list every ExprOp in declaration order");

const OpInfo *lookupOp(ExprOp op) {
  size_t index = static_cast<size_t>(op);
  if (index >= kNumOps || kOps[index].op != op)
    return nullptr;
  return &kOps[index];
}

//===----------------------------------------------------------------------===//
// Total integer arithmetic
//===----------------------------------------------------------------------===//

uint64_t toU(int64_t v) { return static_cast<uint64_t>(v); }
// uint64 -> int64 is modular with every compiler we target (and defined since
// C++20); it is how the wrapping results get back into the signed domain.
int64_t toS(uint64_t v) { return static_cast<int64_t>(v); }

int64_t divS(int64_t a, int64_t b) {
  if (b == 0)
    return 0;
  if (b == -1)
    return toS(0 - toU(a)); // INT64_MIN / -1 wraps to INT64_MIN
  return a / b;
}

int64_t remS(int64_t a, int64_t b) {
  if (b == 0 || b == -1)
    return 0;
  return a % b;
}

int64_t floorDivS(int64_t a, int64_t b) {
  if (b == 0)
    return 0;
  if (b == -1)
    return toS(0 - toU(a));
  int64_t quotient = a / b;
  int64_t remainder = a % b;
  // Truncation rounded toward zero; step down when the exact quotient was
  // negative and not an integer.
  if (remainder != 0 && ((remainder < 0) != (b < 0)))
    --quotient;
  return quotient;
}

int64_t shrS(int64_t a, int64_t b) {
  unsigned amount = static_cast<unsigned>(toU(b) & 63);
  // Right-shifting a negative value is implementation-defined before C++20;
  // shifting the complement keeps it defined and still sign-fills.
  return a >= 0 ? a >> amount : ~(~a >> amount);
}

int64_t applyOp(ExprOp op, int64_t q, int64_t k, int64_t value, int64_t a,
                int64_t b, int64_t c) {
  switch (op) {
  case ExprOp::Q:
    return q;
  case ExprOp::K:
    return k;
  case ExprOp::Const:
    return value;
  case ExprOp::Add:
    return toS(toU(a) + toU(b));
  case ExprOp::Sub:
    return toS(toU(a) - toU(b));
  case ExprOp::Mul:
    return toS(toU(a) * toU(b));
  case ExprOp::DivS:
    return divS(a, b);
  case ExprOp::RemS:
    return remS(a, b);
  case ExprOp::DivU:
    return b == 0 ? 0 : toS(toU(a) / toU(b));
  case ExprOp::RemU:
    return b == 0 ? 0 : toS(toU(a) % toU(b));
  case ExprOp::FloorDivS:
    return floorDivS(a, b);
  case ExprOp::MinS:
    return a < b ? a : b;
  case ExprOp::MaxS:
    return a > b ? a : b;
  case ExprOp::MinU:
    return toU(a) < toU(b) ? a : b;
  case ExprOp::MaxU:
    return toU(a) > toU(b) ? a : b;
  case ExprOp::And:
    return a & b;
  case ExprOp::Or:
    return a | b;
  case ExprOp::Xor:
    return a ^ b;
  case ExprOp::Shl:
    return toS(toU(a) << (toU(b) & 63));
  case ExprOp::ShrS:
    return shrS(a, b);
  case ExprOp::ShrU:
    return toS(toU(a) >> (toU(b) & 63));
  case ExprOp::Eq:
    return a == b;
  case ExprOp::Ne:
    return a != b;
  case ExprOp::Slt:
    return a < b;
  case ExprOp::Sle:
    return a <= b;
  case ExprOp::Sgt:
    return a > b;
  case ExprOp::Sge:
    return a >= b;
  case ExprOp::Ult:
    return toU(a) < toU(b);
  case ExprOp::Ule:
    return toU(a) <= toU(b);
  case ExprOp::Ugt:
    return toU(a) > toU(b);
  case ExprOp::Uge:
    return toU(a) >= toU(b);
  case ExprOp::Select:
    return a != 0 ? b : c;
  }
  return 0;
}

/// Index of operand `slot` of node `index`, or -1 when it does not name an
/// earlier node (such operands read as 0 everywhere).
int32_t validOperand(const std::vector<ExprNode> &nodes, size_t index,
                     int slot) {
  int32_t operand = nodes[index].operands[slot];
  if (operand < 0 || static_cast<size_t>(operand) >= index)
    return -1;
  return operand;
}

//===----------------------------------------------------------------------===//
// Structural interning (hash-consing), shared by parse() and operator==
//===----------------------------------------------------------------------===//

/// Maps (op, value, operand ids) to one id per distinct subexpression, so two
/// predicates built with different sharing or dead nodes compare equal when
/// their result expressions are the same tree.
class Interner {
public:
  int32_t intern(ExprOp op, int64_t value, int32_t a, int32_t b, int32_t c) {
    if (op != ExprOp::Const)
      value = 0;
    int arity = exprOpArity(op);
    if (arity < 3)
      c = -1;
    if (arity < 2)
      b = -1;
    if (arity < 1)
      a = -1;
    auto key = std::make_tuple(static_cast<int>(op), value, a, b, c);
    auto it = ids_.find(key);
    if (it != ids_.end())
      return it->second;
    int32_t id = static_cast<int32_t>(ids_.size());
    ids_.emplace(key, id);
    return id;
  }

  /// The id of every node of `nodes`; invalid operands are interned as the
  /// constant 0 they evaluate to.
  std::vector<int32_t> internAll(const std::vector<ExprNode> &nodes) {
    std::vector<int32_t> ids(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) {
      int32_t operandIds[3] = {-1, -1, -1};
      for (int slot = 0; slot < exprOpArity(nodes[i].op); ++slot) {
        int32_t operand = validOperand(nodes, i, slot);
        operandIds[slot] =
            operand >= 0 ? ids[operand] : intern(ExprOp::Const, 0, -1, -1, -1);
      }
      ids[i] = intern(nodes[i].op, nodes[i].value, operandIds[0], operandIds[1],
                      operandIds[2]);
    }
    return ids;
  }

private:
  std::map<std::tuple<int, int64_t, int32_t, int32_t, int32_t>, int32_t> ids_;
};

//===----------------------------------------------------------------------===//
// Parser
//===----------------------------------------------------------------------===//

class SExprParser {
public:
  explicit SExprParser(std::string_view text) : text_(text) {}

  std::optional<Predicate> parse(std::string *error) {
    skipSpace();
    std::optional<int32_t> root = parseExpr(/*depth=*/0);
    if (root) {
      skipSpace();
      if (pos_ != text_.size())
        fail("expected end of input after the expression");
    }
    if (!error_.empty()) {
      if (error)
        *error = error_;
      return std::nullopt;
    }
    // The root is the last node: it is created after all its operands and
    // cannot be interned to one of its own strict subexpressions.
    return std::move(pred_);
  }

private:
  // Deep enough for any real pattern, shallow enough to keep recursion safe.
  static constexpr int kMaxDepth = 1000;

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

  std::nullopt_t fail(const std::string &what) {
    if (error_.empty())
      error_ = "at position " + std::to_string(pos_) + ": " + what + ", got " +
               describeHere();
    return std::nullopt;
  }

  std::nullopt_t failAt(size_t position, const std::string &message) {
    if (error_.empty())
      error_ = "at position " + std::to_string(position) + ": " + message;
    return std::nullopt;
  }

  static bool isWordChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  }

  std::string_view readWord() {
    size_t start = pos_;
    while (pos_ < text_.size() && isWordChar(text_[pos_]))
      ++pos_;
    return text_.substr(start, pos_ - start);
  }

  int32_t addNode(ExprOp op, int64_t value, int32_t a = -1, int32_t b = -1,
                  int32_t c = -1) {
    // Identical subexpressions become one node, so printed-then-parsed
    // predicates stay as small as the DAG they came from. Interning numbers
    // new nodes densely in creation order, matching the predicate's indices.
    int32_t id = interner_.intern(op, value, a, b, c);
    if (static_cast<size_t>(id) < pred_.nodes().size())
      return id;
    if (op == ExprOp::Q)
      return pred_.addQ();
    if (op == ExprOp::K)
      return pred_.addK();
    if (op == ExprOp::Const)
      return pred_.addConst(value);
    return pred_.add(op, a, b, c);
  }

  std::optional<int32_t> parseInteger() {
    size_t start = pos_;
    bool negative = false;
    if (text_[pos_] == '-' || text_[pos_] == '+') {
      negative = text_[pos_] == '-';
      ++pos_;
    }
    if (pos_ >= text_.size() ||
        !std::isdigit(static_cast<unsigned char>(text_[pos_])))
      return fail("expected a digit after the sign");
    // Accumulate the magnitude in uint64 so INT64_MIN itself is accepted.
    uint64_t magnitude = 0;
    const uint64_t limit = negative ? toU(kInt64Min) : toU(INT64_MAX);
    while (pos_ < text_.size() &&
           std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      uint64_t digit = static_cast<uint64_t>(text_[pos_] - '0');
      if (magnitude > (limit - digit) / 10) {
        while (pos_ < text_.size() &&
               std::isdigit(static_cast<unsigned char>(text_[pos_])))
          ++pos_;
        return failAt(start,
                      "integer literal '" +
                          std::string(text_.substr(start, pos_ - start)) +
                          "' does not fit in int64");
      }
      magnitude = magnitude * 10 + digit;
      ++pos_;
    }
    if (pos_ < text_.size() && isWordChar(text_[pos_]))
      return fail("expected a space or ')' after the integer literal");
    int64_t value = negative ? toS(0 - magnitude) : toS(magnitude);
    return addNode(ExprOp::Const, value);
  }

  std::optional<int32_t> parseExpr(int depth) {
    if (pos_ >= text_.size())
      return fail("expected an expression (q, k, an integer or '(')");
    char c = text_[pos_];
    if (c == '-' || c == '+' || std::isdigit(static_cast<unsigned char>(c)))
      return parseInteger();
    if (c == '(')
      return parseApplication(depth);
    if (isWordChar(c)) {
      size_t start = pos_;
      std::string_view word = readWord();
      if (word == "q")
        return addNode(ExprOp::Q, 0);
      if (word == "k")
        return addNode(ExprOp::K, 0);
      return failAt(start, "unknown atom '" + std::string(word) +
                               "'; expected q, k, an integer or '('");
    }
    return fail("expected an expression (q, k, an integer or '(')");
  }

  std::optional<int32_t> parseApplication(int depth) {
    if (depth >= kMaxDepth)
      return failAt(pos_, "expressions nested deeper than " +
                              std::to_string(kMaxDepth) + " levels");
    ++pos_; // '('
    skipSpace();
    size_t opStart = pos_;
    std::string_view name = readWord();
    if (name.empty())
      return fail("expected an operator name after '('");
    std::optional<ExprOp> op = exprOpFromName(name);
    int arity = op ? exprOpArity(*op) : 0;
    if (!op || arity == 0)
      return failAt(opStart,
                    "unknown operator '" + std::string(name) +
                        "'; expected one of add sub mul divs rems divu remu "
                        "floordivs mins maxs minu maxu and or xor shl shrs "
                        "shru eq ne slt sle sgt sge ult ule ugt uge select");
    int32_t operands[3] = {-1, -1, -1};
    int count = 0;
    while (true) {
      skipSpace();
      if (pos_ < text_.size() && text_[pos_] == ')')
        break;
      if (count == arity)
        return fail("expected ')' after the " + std::to_string(arity) +
                    " operands of '" + std::string(name) + "'");
      std::optional<int32_t> operand = parseExpr(depth + 1);
      if (!operand)
        return std::nullopt;
      operands[count++] = *operand;
    }
    if (count != arity)
      return fail("'" + std::string(name) + "' takes " + std::to_string(arity) +
                  " operands but has " + std::to_string(count) +
                  "; expected another operand");
    ++pos_; // ')'
    return addNode(*op, 0, operands[0], operands[1], operands[2]);
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
  Interner interner_;
  Predicate pred_;
};

//===----------------------------------------------------------------------===//
// C emission
//===----------------------------------------------------------------------===//

class CEmitter {
public:
  CEmitter(const std::vector<ExprNode> &nodes, std::string_view qVar,
           std::string_view kVar)
      : nodes_(nodes), qVar_(qVar), kVar_(kVar) {}

  std::string emit(int32_t index) const {
    if (index < 0)
      return "0LL";
    const ExprNode &node = nodes_[index];
    switch (node.op) {
    case ExprOp::Q:
      return "((long long)(" + std::string(qVar_) + "))";
    case ExprOp::K:
      return "((long long)(" + std::string(kVar_) + "))";
    case ExprOp::Const:
      return constant(node.value);
    default:
      break;
    }
    int32_t ia = operand(index, 0), ib = operand(index, 1);
    std::string a = emit(ia);
    std::string b = emit(ib);
    std::string ua = "(unsigned long long)" + a;
    std::string ub = "(unsigned long long)" + b;
    std::optional<int64_t> constB = constantValue(ib);
    switch (node.op) {
    case ExprOp::Add:
      return "((long long)(" + ua + " + " + ub + "))";
    case ExprOp::Sub:
      return "((long long)(" + ua + " - " + ub + "))";
    case ExprOp::Mul:
      return "((long long)(" + ua + " * " + ub + "))";
    case ExprOp::DivS:
      if (constB && *constB != 0 && *constB != -1)
        return "(" + a + " / " + b + ")";
      return "(" + b + " == 0LL ? 0LL : " + b + " == -1LL ? " + negate(a) +
             " : " + a + " / " + b + ")";
    case ExprOp::RemS:
      if (constB && *constB != 0 && *constB != -1)
        return "(" + a + " % " + b + ")";
      return "((" + b + " == 0LL || " + b + " == -1LL) ? 0LL : " + a + " % " +
             b + ")";
    case ExprOp::DivU:
      if (constB && *constB != 0)
        return "((long long)(" + ua + " / " + ub + "))";
      return "(" + b + " == 0LL ? 0LL : (long long)(" + ua + " / " + ub + "))";
    case ExprOp::RemU:
      if (constB && *constB != 0)
        return "((long long)(" + ua + " % " + ub + "))";
      return "(" + b + " == 0LL ? 0LL : (long long)(" + ua + " % " + ub + "))";
    case ExprOp::FloorDivS:
      if (constB && *constB > 0)
        // A negative remainder means a was negative and not a multiple.
        return "(" + a + " / " + b + " - (" + a + " % " + b +
               " < 0LL ? 1LL : 0LL))";
      return "(" + b + " == 0LL ? 0LL : " + b + " == -1LL ? " + negate(a) +
             " : " + a + " / " + b + " - ((" + a + " % " + b + " != 0LL && ((" +
             a + " % " + b + ") < 0LL) != (" + b + " < 0LL)) ? 1LL : 0LL))";
    case ExprOp::MinS:
      return "(" + a + " < " + b + " ? " + a + " : " + b + ")";
    case ExprOp::MaxS:
      return "(" + a + " > " + b + " ? " + a + " : " + b + ")";
    case ExprOp::MinU:
      return "(" + ua + " < " + ub + " ? " + a + " : " + b + ")";
    case ExprOp::MaxU:
      return "(" + ua + " > " + ub + " ? " + a + " : " + b + ")";
    case ExprOp::And:
      return "(" + a + " & " + b + ")";
    case ExprOp::Or:
      return "(" + a + " | " + b + ")";
    case ExprOp::Xor:
      return "(" + a + " ^ " + b + ")";
    case ExprOp::Shl:
      return "((long long)(" + ua + " << (" + ub + " & 63ULL)))";
    case ExprOp::ShrS:
      // nvcc and every host compiler shift signed values arithmetically.
      return "(" + a + " >> (int)(" + ub + " & 63ULL))";
    case ExprOp::ShrU:
      return "((long long)(" + ua + " >> (" + ub + " & 63ULL)))";
    case ExprOp::Eq:
      return compare(a, "==", b);
    case ExprOp::Ne:
      return compare(a, "!=", b);
    case ExprOp::Slt:
      return compare(a, "<", b);
    case ExprOp::Sle:
      return compare(a, "<=", b);
    case ExprOp::Sgt:
      return compare(a, ">", b);
    case ExprOp::Sge:
      return compare(a, ">=", b);
    case ExprOp::Ult:
      return compare(ua, "<", ub);
    case ExprOp::Ule:
      return compare(ua, "<=", ub);
    case ExprOp::Ugt:
      return compare(ua, ">", ub);
    case ExprOp::Uge:
      return compare(ua, ">=", ub);
    case ExprOp::Select:
      return "(" + a + " != 0LL ? " + b + " : " + emit(operand(index, 2)) + ")";
    default:
      return "0LL";
    }
  }

  static std::string constant(int64_t value) {
    if (value == kInt64Min)
      return "(-9223372036854775807LL - 1LL)";
    if (value < 0)
      return "(" + std::to_string(value) + "LL)";
    return std::to_string(value) + "LL";
  }

private:
  int32_t operand(int32_t index, int slot) const {
    return validOperand(nodes_, static_cast<size_t>(index), slot);
  }

  std::optional<int64_t> constantValue(int32_t index) const {
    if (index < 0)
      return 0;
    if (nodes_[index].op != ExprOp::Const)
      return std::nullopt;
    return nodes_[index].value;
  }

  static std::string negate(const std::string &a) {
    return "((long long)(0ULL - (unsigned long long)" + a + "))";
  }

  static std::string compare(const std::string &a, const char *relation,
                             const std::string &b) {
    return "((long long)(" + a + " " + relation + " " + b + "))";
  }

  const std::vector<ExprNode> &nodes_;
  std::string_view qVar_, kVar_;
};

void printSExpr(const std::vector<ExprNode> &nodes, int32_t index,
                std::string &out) {
  if (index < 0) {
    out += '0';
    return;
  }
  const ExprNode &node = nodes[index];
  switch (node.op) {
  case ExprOp::Q:
    out += 'q';
    return;
  case ExprOp::K:
    out += 'k';
    return;
  case ExprOp::Const:
    out += std::to_string(node.value);
    return;
  default:
    break;
  }
  const OpInfo *info = lookupOp(node.op);
  if (!info) {
    out += '0';
    return;
  }
  out += '(';
  out += info->name;
  for (int slot = 0; slot < info->arity; ++slot) {
    out += ' ';
    printSExpr(nodes, validOperand(nodes, static_cast<size_t>(index), slot),
               out);
  }
  out += ')';
}

} // namespace

//===----------------------------------------------------------------------===//
// Op table
//===----------------------------------------------------------------------===//

const char *exprOpName(ExprOp op) {
  const OpInfo *info = lookupOp(op);
  return info ? info->name : "<invalid>";
}

std::optional<ExprOp> exprOpFromName(std::string_view name) {
  for (const OpInfo &info : kOps)
    if (name == info.name)
      return info.op;
  return std::nullopt;
}

int exprOpArity(ExprOp op) {
  const OpInfo *info = lookupOp(op);
  return info ? info->arity : 0;
}

//===----------------------------------------------------------------------===//
// Predicate
//===----------------------------------------------------------------------===//

int32_t Predicate::addQ() {
  nodes_.push_back({ExprOp::Q, 0, {-1, -1, -1}});
  return static_cast<int32_t>(nodes_.size() - 1);
}

int32_t Predicate::addK() {
  nodes_.push_back({ExprOp::K, 0, {-1, -1, -1}});
  return static_cast<int32_t>(nodes_.size() - 1);
}

int32_t Predicate::addConst(int64_t v) {
  nodes_.push_back({ExprOp::Const, v, {-1, -1, -1}});
  return static_cast<int32_t>(nodes_.size() - 1);
}

int32_t Predicate::add(ExprOp op, int32_t a, int32_t b, int32_t c) {
  ExprNode node;
  node.op = op;
  int arity = exprOpArity(op);
  node.operands[0] = arity >= 1 ? a : -1;
  node.operands[1] = arity >= 2 ? b : -1;
  node.operands[2] = arity >= 3 ? c : -1;
  nodes_.push_back(node);
  return static_cast<int32_t>(nodes_.size() - 1);
}

bool Predicate::dependsOnlyOnDifference() const {
  if (nodes_.empty())
    return true;
  auto isPos = [&](int32_t i) {
    return i >= 0 && i < static_cast<int32_t>(nodes_.size()) &&
           (nodes_[i].op == ExprOp::Q || nodes_[i].op == ExprOp::K);
  };
  if (isPos(static_cast<int32_t>(nodes_.size()) - 1))
    return false;
  for (const ExprNode &n : nodes_) {
    const int arity = exprOpArity(n.op);
    const bool qk = arity == 2 && isPos(n.operands[0]) &&
                    isPos(n.operands[1]) &&
                    nodes_[n.operands[0]].op != nodes_[n.operands[1]].op;
    // (sub q k) is d itself; a comparison of q with k (the causal guard
    // users write, (ule k q)) depends on the sign of d only, for
    // non-negative positions, signed or unsigned.
    const bool ofDifference =
        qk && ((n.op == ExprOp::Sub && nodes_[n.operands[0]].op == ExprOp::Q) ||
               (n.op >= ExprOp::Eq && n.op <= ExprOp::Uge));
    for (int i = 0; i < arity; ++i)
      if (isPos(n.operands[i]) && !ofDifference)
        return false;
  }
  return true;
}

int64_t Predicate::eval(int64_t q, int64_t k) const {
  if (nodes_.empty())
    return 0;
  // eval() runs per element in brute-force loops; avoid a heap allocation for
  // predicates of ordinary size.
  constexpr size_t kInlineValues = 64;
  std::array<int64_t, kInlineValues> inlineValues;
  std::vector<int64_t> heapValues;
  int64_t *values = inlineValues.data();
  if (nodes_.size() > kInlineValues) {
    heapValues.resize(nodes_.size());
    values = heapValues.data();
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const ExprNode &node = nodes_[i];
    int64_t operands[3] = {0, 0, 0};
    for (int slot = 0; slot < 3; ++slot) {
      int32_t index = node.operands[slot];
      if (index >= 0 && static_cast<size_t>(index) < i)
        operands[slot] = values[index];
    }
    values[i] = applyOp(node.op, q, k, node.value, operands[0], operands[1],
                        operands[2]);
  }
  return values[nodes_.size() - 1];
}

std::string Predicate::str() const {
  if (nodes_.empty())
    return "0";
  std::string out;
  printSExpr(nodes_, static_cast<int32_t>(nodes_.size() - 1), out);
  return out;
}

std::optional<Predicate> Predicate::parse(std::string_view text,
                                          std::string *error) {
  return SExprParser(text).parse(error);
}

std::string Predicate::toC(std::string_view qVar, std::string_view kVar) const {
  if (nodes_.empty())
    return "0LL";
  return CEmitter(nodes_, qVar, kVar)
      .emit(static_cast<int32_t>(nodes_.size() - 1));
}

bool Predicate::operator==(const Predicate &o) const {
  // An empty predicate evaluates (and prints) as the constant 0.
  Interner interner;
  auto rootId = [&interner](const std::vector<ExprNode> &nodes) {
    if (nodes.empty())
      return interner.intern(ExprOp::Const, 0, -1, -1, -1);
    return interner.internAll(nodes).back();
  };
  int32_t id = rootId(nodes_);
  return id == rootId(o.nodes_);
}

} // namespace stc::pattern
