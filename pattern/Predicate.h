//===- Predicate.h - User-defined element predicates ------------*- C++ -*-===//
//
// A small integer expression over (q, k), the form a user-defined pattern takes
// once it leaves the IR: the compiler builds it from an `st.pattern` region,
// the artifact carries it as an s-expression, the CPU reference evaluates it
// and CUDA codegen prints it as C. Values are int64; comparisons give 0 or 1.
// Division or remainder by zero gives 0 (defined, so no input is UB).
//
//===----------------------------------------------------------------------===//

#ifndef STC_PATTERN_PREDICATE_H
#define STC_PATTERN_PREDICATE_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stc::pattern {

enum class ExprOp : uint8_t {
  Q, K, Const,
  Add, Sub, Mul,
  DivS, RemS, DivU, RemU, FloorDivS, // integer division family
  MinS, MaxS, MinU, MaxU,
  And, Or, Xor, Shl, ShrS, ShrU,
  Eq, Ne, Slt, Sle, Sgt, Sge, Ult, Ule, Ugt, Uge,
  Select, // (select c a b)
};

/// The s-expression spelling of an op: "q", "k", "add", "rems", "slt", ...
/// (Const is "const"; in s-expressions constants are integer literals.)
const char *exprOpName(ExprOp op);
std::optional<ExprOp> exprOpFromName(std::string_view name);
/// Number of operands (0 for q, k, const; 3 for select; else 2).
int exprOpArity(ExprOp op);

struct ExprNode {
  ExprOp op = ExprOp::Const;
  int64_t value = 0;          ///< for Const
  int32_t operands[3] = {-1, -1, -1}; ///< indices of earlier nodes
};

/// A DAG of nodes in topological order; the last node is the result (non-zero
/// means allowed). An empty predicate evaluates to 0; an operand index that
/// does not name an earlier node reads as 0.
class Predicate {
public:
  Predicate() = default;

  int32_t addQ();
  int32_t addK();
  int32_t addConst(int64_t v);
  int32_t add(ExprOp op, int32_t a, int32_t b, int32_t c = -1);

  const std::vector<ExprNode> &nodes() const { return nodes_; }
  bool empty() const { return nodes_.empty(); }

  int64_t eval(int64_t q, int64_t k) const;

  /// Whether q and k occur only as (sub q k) or compared with each other:
  /// for 0 <= k <= q the value is then a function of d = q - k, and
  /// eval(d, 0) gives it.
  bool dependsOnlyOnDifference() const;

  /// `(or (slt (sub q k) 3) (eq (rems k 16) 15))`. Shared subexpressions are
  /// printed once per use.
  std::string str() const;
  /// Identical subexpressions become one node. On failure sets *error (if
  /// non-null) to "at position N: ..." and returns nullopt.
  static std::optional<Predicate> parse(std::string_view text,
                                        std::string *error);

  /// A C expression of type long long over the named variables, for CUDA
  /// codegen (division by zero guarded to give 0, like eval).
  std::string toC(std::string_view qVar, std::string_view kVar) const;

  /// Equality of the result expressions as trees: node order, sharing and
  /// dead nodes do not matter, so parse(str()) compares equal.
  bool operator==(const Predicate &o) const;

private:
  std::vector<ExprNode> nodes_;
};

} // namespace stc::pattern

#endif // STC_PATTERN_PREDICATE_H
