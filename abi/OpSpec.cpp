//===- OpSpec.cpp - The op table and the check of an op against it --------===//

#include "abi/OpSpec.h"

#include "abi/Limits.h"

#include <cmath>
#include <cstdio>
#include <deque>
#include <limits>
#include <mutex>
#include <set>
#include <type_traits>

namespace stc::abi {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

//===----------------------------------------------------------------------===//
// Cross-attribute rules named by STC_CHECK
//===----------------------------------------------------------------------===//

bool checkHeadsPerLayout(const OpAttrs &a, Problem *problem) {
  int64_t groups = static_cast<int64_t>(a.layouts.size());
  if (groups * a.headsPerLayout == a.H)
    return true;
  problem->attr = "H";
  problem->message = "is " + std::to_string(a.H) + " but layouts (" +
                     std::to_string(groups) + ") x heads_per_layout (" +
                     std::to_string(a.headsPerLayout) + ") = " +
                     std::to_string(groups * a.headsPerLayout) +
                     " (they must be equal)";
  return false;
}

bool checkStridePermute(const OpAttrs &a, Problem *problem) {
  if (a.colEnd <= a.colBegin || a.colEnd > a.D) {
    problem->attr = "col_end";
    problem->message = "is " + std::to_string(a.colEnd) +
                       " but the column range must be non-empty within [0, D = " +
                       std::to_string(a.D) + "] (col_begin " +
                       std::to_string(a.colBegin) + ")";
    return false;
  }
  if (a.T % a.stride != 0) {
    problem->attr = "stride";
    problem->message = "is " + std::to_string(a.stride) +
                       " but must divide T (" + std::to_string(a.T) + ")";
    return false;
  }
  return true;
}

/// A multi-tensor op's tensor list fits one launch (abi/Limits.h).
bool checkGroup(const OpAttrs &a, Problem *problem) {
  if (static_cast<int64_t>(a.counts.size()) <= kMaxGroupTensors)
    return true;
  problem->attr = "counts";
  problem->message = "lists " + std::to_string(a.counts.size()) +
                     " tensors; at most " + std::to_string(kMaxGroupTensors) +
                     " (one launch's kernel parameters)";
  return false;
}

/// adamw: one decay flag per tensor.
bool checkDecay(const OpAttrs &a, Problem *problem) {
  if (a.decay.size() == a.counts.size())
    return true;
  problem->attr = "decay";
  problem->message = "lists " + std::to_string(a.decay.size()) +
                     " flags but counts lists " +
                     std::to_string(a.counts.size()) +
                     " tensors (one flag per tensor)";
  return false;
}

bool checkSummary(const OpAttrs &a, Problem *problem) {
  if (a.summary < a.block)
    return true;
  problem->attr = "summary";
  problem->message = "is " + std::to_string(a.summary) +
                     " but must be below block (" + std::to_string(a.block) +
                     ")";
  return false;
}

/// gather_block and gather_summary come together, as summary_gather's
/// block and summary do.
bool checkGather(const OpAttrs &a, Problem *problem) {
  if ((a.gatherBlock == 0) != (a.gatherSummary == 0)) {
    problem->attr = a.gatherBlock == 0 ? "gather_block" : "gather_summary";
    problem->message = "is missing: gather_block and gather_summary come "
                       "together (the keys are fixed(gather_block, "
                       "gather_summary)'s summary columns)";
    return false;
  }
  if (a.gatherSummary < a.gatherBlock || a.gatherBlock == 0)
    return true;
  problem->attr = "gather_summary";
  problem->message = "is " + std::to_string(a.gatherSummary) +
                     " but must be below gather_block (" +
                     std::to_string(a.gatherBlock) + ")";
  return false;
}

/// Records a problem (attribute or argument) and returns false.
bool fail(Problem *p, std::string attr, std::string message, int arg = -1) {
  if (p) {
    p->attr = std::move(attr);
    p->arg = arg;
    p->message = std::move(message);
  }
  return false;
}

/// gemm: the epilogues' combinations (abi/Ops.def).
bool checkGemmEpilogue(const OpAttrs &a, Problem *problem) {
  if (a.geluPre && !a.gelu)
    return fail(problem, "gelu_pre",
                "is set without gelu (pre is gelu's argument)");
  if (a.gelu && a.dgelu)
    return fail(problem, "dgelu", "is set with gelu; a gemm has one of them");
  if ((a.gelu || a.dgelu) && a.beta != 0)
    return fail(problem, a.gelu ? "gelu" : "dgelu",
                "is set with beta " + std::to_string(a.beta) +
                    "; the gelu epilogues need beta 0");
  if (a.dgelu && a.bias)
    return fail(problem, "dgelu",
                "is set with bias; valid: dgelu without bias");
  if (a.biasGrad && (a.bias || a.gelu || a.dgelu))
    return fail(problem, "bias_grad",
                "is set with bias, gelu or dgelu; valid: "
                "bias_grad alone (a weight gradient's epilogue)");
  if (a.biasGrad && a.transB)
    return fail(problem, "bias_grad",
                "is set with trans_b; db sums the rows of B, "
                "which must not be transposed");
  return true;
}

/// gemm_group: 2 to kMaxGemmGroup members; bias_grad as in gemm.
bool checkGemmGroup(const OpAttrs &a, Problem *problem) {
  if (a.widths.size() < 2 ||
      static_cast<int64_t>(a.widths.size()) > kMaxGemmGroup)
    return fail(problem, "widths",
                "lists " + std::to_string(a.widths.size()) +
                    " gemms; valid: 2 to " + std::to_string(kMaxGemmGroup));
  if (a.biasGrad && a.bias)
    return fail(problem, "bias_grad", "is set with bias; valid: one of them");
  if (a.biasGrad && a.transB)
    return fail(problem, "bias_grad",
                "is set with trans_b; db sums the rows of B, "
                "which must not be transposed");
  return true;
}

//===----------------------------------------------------------------------===//
// The table
//===----------------------------------------------------------------------===//

ArgRow argRow(const char *name, DTypes d, std::pair<Role, const char *> role,
              const char *elements, const char *presentIf = "",
              const char *eachOf = "") {
  return {name, d, role.first, role.second, elements, presentIf, eachOf};
}

AttrRow intRow(const char *name, int64_t lo, int64_t hi, int64_t step = 1,
               bool optional = false) {
  return {name, AttrType::Int, optional, lo, hi, step, 0, 0, Bounds::Closed, 0};
}
AttrRow numRow(const char *name, double lo, double hi, Bounds b,
               bool optional = false, double def = 0) {
  return {name, AttrType::Num, optional, 0, 0, 1, lo, hi, b, def};
}
AttrRow flagRow(const char *name) {
  return {name, AttrType::Bool, true, 0, 0, 1, 0, 0, Bounds::Closed, 0};
}
AttrRow namesRow(const char *name) {
  return {name, AttrType::Names, false, 0, 0, 1, 0, 0, Bounds::Closed, 0};
}
AttrRow pairsRow(const char *name, int64_t lo, int64_t hi) {
  return {name, AttrType::Pairs, false, lo, hi, 1, 0, 0, Bounds::Closed, 0};
}
AttrRow intsRow(const char *name, int64_t lo, int64_t hi) {
  return {name, AttrType::Ints, false, lo, hi, 1, 0, 0, Bounds::Closed, 0};
}

/// Role columns of Ops.def.
constexpr std::pair<Role, const char *> In{Role::In, ""};
constexpr std::pair<Role, const char *> Out{Role::Out, ""};
constexpr std::pair<Role, const char *> InOut{Role::InOut, ""};
constexpr std::pair<Role, const char *> OutAcc(const char *attr) {
  return {Role::Out, attr};
}
std::vector<OpSpec> builtinSpecs() {
  // The dtype and bound columns of Ops.def.
  constexpr DTypes Any = DTypes::Any, F32 = DTypes::F32, Float = DTypes::Float,
                   I32 = DTypes::I32;
  constexpr Bounds Closed = Bounds::Closed, HiOpen = Bounds::HiOpen,
                   LoOpen = Bounds::LoOpen, Open = Bounds::Open;
  std::vector<OpSpec> specs;
#define STC_OP(Id, Name, Flags)                                                \
  specs.push_back(OpSpec{OpKind::Id, Name, Flags, {}, {}, {}});
#define STC_ARG(Name, D, R, E) specs.back().args.push_back(argRow(Name, D, R, E));
#define STC_ARG_IF(Attr, Name, D, R, E)                                        \
  specs.back().args.push_back(argRow(Name, D, R, E, Attr));
#define STC_ARG_EACH(Attr, Name, D, R, E)                                      \
  specs.back().args.push_back(argRow(Name, D, R, E, "", Attr));
#define STC_ARG_EACH_IF(Flag, Attr, Name, D, R, E)                             \
  specs.back().args.push_back(argRow(Name, D, R, E, Flag, Attr));
#define STC_INT(Name, Lo, Hi) specs.back().attrs.push_back(intRow(Name, Lo, Hi));
#define STC_INT_STEP(Name, Lo, Hi, Step)                                       \
  specs.back().attrs.push_back(intRow(Name, Lo, Hi, Step));
#define STC_INT_OPT(Name, Lo, Hi)                                              \
  specs.back().attrs.push_back(intRow(Name, Lo, Hi, 1, true));
#define STC_NUM(Name, Lo, Hi, B)                                               \
  specs.back().attrs.push_back(numRow(Name, Lo, Hi, B));
#define STC_NUM_OPT(Name, Lo, Hi, B, Def)                                      \
  specs.back().attrs.push_back(numRow(Name, Lo, Hi, B, true, Def));
#define STC_FLAG(Name) specs.back().attrs.push_back(flagRow(Name));
#define STC_NAMES(Name) specs.back().attrs.push_back(namesRow(Name));
#define STC_PAIRS(Name, Lo, Hi)                                                \
  specs.back().attrs.push_back(pairsRow(Name, Lo, Hi));
#define STC_INTS(Name, Lo, Hi)                                                 \
  specs.back().attrs.push_back(intsRow(Name, Lo, Hi));
#define STC_CHECK(Fn) specs.back().checks.push_back(&Fn);
#include "abi/Ops.def"
  return specs;
}

/// Built-in rows first (index = kind), then registered ones. A deque keeps
/// references stable while kinds are added.
struct Table {
  std::mutex mutex;
  std::deque<OpSpec> specs;
  Table() {
    for (OpSpec &s : builtinSpecs())
      specs.push_back(std::move(s));
  }
};

Table &table() {
  static Table t;
  return t;
}

//===----------------------------------------------------------------------===//
// Decoded fields by attribute name
//===----------------------------------------------------------------------===//

template <typename M> void assignField(M &member, const AttrValue &v) {
  if constexpr (std::is_same_v<M, double>) {
    member = std::holds_alternative<int64_t>(v)
                 ? static_cast<double>(std::get<int64_t>(v))
                 : std::get<double>(v);
  } else if constexpr (std::is_same_v<M, Pairs> || std::is_same_v<M, Names> ||
                       std::is_same_v<M, Ints>) {
    // An empty list has no element type: it may arrive as either.
    member = std::holds_alternative<M>(v) ? std::get<M>(v) : M{};
  } else {
    member = std::get<M>(v);
  }
}

/// Sets the OpAttrs member of `name` from a value checkValue accepted.
void setField(OpAttrs &a, const std::string &name, const AttrValue &v) {
#define STC_FIELD(Key, Type, Member)                                           \
  if (name == Key)                                                             \
    return assignField(a.Member, v);
#include "abi/Ops.def"
}

/// An integer attribute's decoded value, for formulas.
std::optional<int64_t> intField(const OpAttrs &a, std::string_view name) {
#define STC_FIELD(Key, Type, Member) STC_INT_FIELD_##Type(Key, Member)
#define STC_INT_FIELD_Int(Key, Member)                                         \
  if (name == Key)                                                             \
    return a.Member;
#define STC_INT_FIELD_Num(Key, Member)
#define STC_INT_FIELD_Bool(Key, Member)
#define STC_INT_FIELD_Names(Key, Member)
#define STC_INT_FIELD_Pairs(Key, Member)
#define STC_INT_FIELD_Ints(Key, Member)
#include "abi/Ops.def"
#undef STC_INT_FIELD_Ints
#undef STC_INT_FIELD_Int
#undef STC_INT_FIELD_Num
#undef STC_INT_FIELD_Bool
#undef STC_INT_FIELD_Names
#undef STC_INT_FIELD_Pairs
  return std::nullopt;
}

/// Whether a bool or number attribute is set (true, non-zero).
bool isSet(const OpAttrs &a, std::string_view name) {
#define STC_FIELD(Key, Type, Member) STC_SET_FIELD_##Type(Key, Member)
#define STC_SET_FIELD_Int(Key, Member)                                         \
  if (name == Key)                                                             \
    return a.Member != 0;
#define STC_SET_FIELD_Num(Key, Member)                                         \
  if (name == Key)                                                             \
    return a.Member != 0.0;
#define STC_SET_FIELD_Bool(Key, Member)                                        \
  if (name == Key)                                                             \
    return a.Member;
#define STC_SET_FIELD_Names(Key, Member)
#define STC_SET_FIELD_Pairs(Key, Member)
#define STC_SET_FIELD_Ints(Key, Member)
#include "abi/Ops.def"
#undef STC_SET_FIELD_Ints
#undef STC_SET_FIELD_Int
#undef STC_SET_FIELD_Num
#undef STC_SET_FIELD_Bool
#undef STC_SET_FIELD_Names
#undef STC_SET_FIELD_Pairs
  return false;
}

/// The member of a list attribute (Pairs, Ints) by name, or nullptr.
template <typename T>
const T *listField(const OpAttrs &a, std::string_view name) {
#define STC_FIELD(Key, Type, Member)                                           \
  if constexpr (std::is_same_v<decltype(a.Member), T>)                         \
    if (name == Key)                                                           \
      return &a.Member;
#include "abi/Ops.def"
  return nullptr;
}

const Pairs *pairsField(const OpAttrs &a, std::string_view name) {
  return listField<Pairs>(a, name);
}

const Ints *intsField(const OpAttrs &a, std::string_view name) {
  return listField<Ints>(a, name);
}

//===----------------------------------------------------------------------===//
// Formulas and messages
//===----------------------------------------------------------------------===//

/// Product that saturates at INT64_MAX, so absurd attributes never wrap
/// around into a plausible element count.
int64_t mulSat(int64_t a, int64_t b) {
  int64_t r;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r))
    return INT64_MAX;
  return r;
}

/// Evaluates "B*T*H*dk" (factors: integers, integer attributes, and for
/// the current entry of an EACH argument "<each>.div" / "<each>.mod" (a pair
/// list) or "<each>" itself (an integer list)).
int64_t evaluate(const std::string &formula, const OpAttrs &a,
                 const std::pair<int64_t, int64_t> *entry,
                 std::string_view each = {}) {
  int64_t r = 1;
  size_t start = 0;
  while (start <= formula.size()) {
    size_t end = formula.find('*', start);
    if (end == std::string::npos)
      end = formula.size();
    std::string f = formula.substr(start, end - start);
    int64_t v = 0;
    if (!f.empty() && f[0] >= '0' && f[0] <= '9')
      v = std::stoll(f);
    else if (entry && !each.empty() && f == each)
      v = entry->first;
    else if (entry && f.size() > 4 && f.compare(f.size() - 4, 4, ".div") == 0)
      v = entry->first;
    else if (entry && f.size() > 4 && f.compare(f.size() - 4, 4, ".mod") == 0)
      v = entry->second;
    else
      v = intField(a, f).value_or(-1); // unknown names: a bug in Ops.def
    r = mulSat(r, v);
    start = end + 1;
  }
  return r;
}

std::string numText(double x) {
  char buf[64];
  if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", x);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%.17g", x);
  // Shortest form that reads back the same value.
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, x);
    if (std::strtod(buf, nullptr) == x)
      break;
  }
  return buf;
}

const char *typeWanted(const AttrRow &row) {
  switch (row.type) {
  case AttrType::Int:
    return "an integer";
  case AttrType::Num:
    return "a number";
  case AttrType::Bool:
    return "true or false";
  case AttrType::Names:
    return "a non-empty list of layout names";
  case AttrType::Pairs:
    return "a list of [div, mod] pairs";
  case AttrType::Ints:
    return "a non-empty list of integers";
  }
  return "?";
}

std::string validRange(const AttrRow &row) {
  if (row.type == AttrType::Int) {
    std::string r = std::to_string(row.intLo) + " .. " + std::to_string(row.intHi);
    return row.step > 1 ? "multiples of " + std::to_string(row.step) + " in " + r
                        : r;
  }
  bool lo = std::isfinite(row.numLo), hi = std::isfinite(row.numHi);
  bool loOpen = row.bounds == Bounds::LoOpen || row.bounds == Bounds::Open;
  bool hiOpen = row.bounds == Bounds::HiOpen || row.bounds == Bounds::Open;
  if (lo && hi)
    return numText(row.numLo) + (loOpen ? " < " : " <= ") + row.name +
           (hiOpen ? " < " : " <= ") + numText(row.numHi);
  if (lo)
    return std::string("a number ") + (loOpen ? "> " : ">= ") +
           numText(row.numLo);
  if (hi)
    return std::string("a number ") + (hiOpen ? "< " : "<= ") +
           numText(row.numHi);
  return "any finite number";
}

bool inRange(const AttrRow &row, double x) {
  if (!std::isfinite(x))
    return false;
  bool loOpen = row.bounds == Bounds::LoOpen || row.bounds == Bounds::Open;
  bool hiOpen = row.bounds == Bounds::HiOpen || row.bounds == Bounds::Open;
  if (std::isfinite(row.numLo) && (loOpen ? x <= row.numLo : x < row.numLo))
    return false;
  if (std::isfinite(row.numHi) && (hiOpen ? x >= row.numHi : x > row.numHi))
    return false;
  return true;
}

/// Type and range of one present attribute.
bool checkValue(const AttrRow &row, const AttrValue &v, Problem *p) {
  auto wrongType = [&] {
    return fail(p, row.name,
                std::string("must be ") + typeWanted(row) + ", got " +
                    attrText(v));
  };
  switch (row.type) {
  case AttrType::Int: {
    if (!std::holds_alternative<int64_t>(v))
      return wrongType();
    int64_t x = std::get<int64_t>(v);
    if (x < row.intLo || x > row.intHi || x % row.step != 0)
      return fail(p, row.name,
                  "is " + std::to_string(x) + "; valid: " + validRange(row));
    return true;
  }
  case AttrType::Num: {
    double x;
    if (std::holds_alternative<double>(v))
      x = std::get<double>(v);
    else if (std::holds_alternative<int64_t>(v))
      x = static_cast<double>(std::get<int64_t>(v));
    else
      return wrongType();
    if (!inRange(row, x))
      return fail(p, row.name, "is " + attrText(v) + "; valid: " + validRange(row));
    return true;
  }
  case AttrType::Bool:
    return std::holds_alternative<bool>(v) || wrongType();
  case AttrType::Names: {
    const Names *n = std::get_if<Names>(&v);
    if (!n || n->empty())
      return wrongType();
    for (const std::string &s : *n)
      if (s.empty())
        return fail(p, row.name, "lists an empty layout name");
    return true;
  }
  case AttrType::Pairs: {
    const Pairs *ps = std::get_if<Pairs>(&v);
    const Names *empty = std::get_if<Names>(&v);
    if (!ps && !(empty && empty->empty()))
      return wrongType();
    if (!ps)
      return true;
    for (size_t i = 0; i < ps->size(); ++i) {
      auto [a, b] = (*ps)[i];
      if (a < row.intLo || a > row.intHi || b < row.intLo || b > row.intHi)
        return fail(p, row.name,
                    "element " + std::to_string(i) + " is [" +
                        std::to_string(a) + ", " + std::to_string(b) +
                        "]; valid: [div, mod] with integers in " +
                        std::to_string(row.intLo) + " .. " +
                        std::to_string(row.intHi));
    }
    return true;
  }
  case AttrType::Ints: {
    const Ints *xs = std::get_if<Ints>(&v);
    if (!xs || xs->empty())
      return wrongType();
    for (size_t i = 0; i < xs->size(); ++i)
      if ((*xs)[i] < row.intLo || (*xs)[i] > row.intHi)
        return fail(p, row.name,
                    "element " + std::to_string(i) + " is " +
                        std::to_string((*xs)[i]) + "; valid: " +
                        std::to_string(row.intLo) + " .. " +
                        std::to_string(row.intHi));
    return true;
  }
  }
  return true;
}

} // namespace

//===----------------------------------------------------------------------===//
// Public API
//===----------------------------------------------------------------------===//

const char *opKindName(OpKind kind) {
  Table &t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  size_t i = static_cast<size_t>(kind);
  return i < t.specs.size() ? t.specs[i].name.c_str() : "?";
}

const OpSpec *findOpSpec(std::string_view name) {
  Table &t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  for (const OpSpec &s : t.specs)
    if (s.name == name)
      return &s;
  return nullptr;
}

std::optional<OpKind> parseOpKind(std::string_view name) {
  const OpSpec *s = findOpSpec(name);
  return s ? std::optional<OpKind>(s->kind) : std::nullopt;
}

std::string validOpKinds() {
  Table &t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  std::string s;
  for (const OpSpec &spec : t.specs)
    s += (s.empty() ? "" : ", ") + spec.name;
  return s;
}

const OpSpec &opSpec(OpKind kind) {
  Table &t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  return t.specs.at(static_cast<size_t>(kind));
}

OpKind registerOpKind(OpSpec spec) {
  Table &t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  spec.kind = static_cast<OpKind>(t.specs.size());
  t.specs.push_back(std::move(spec));
  return t.specs.back().kind;
}

const AttrRow *OpSpec::attr(std::string_view n) const {
  for (const AttrRow &r : attrs)
    if (n == r.name)
      return &r;
  return nullptr;
}

std::string attrText(const AttrValue &v) {
  struct Printer {
    std::string operator()(int64_t x) const { return std::to_string(x); }
    std::string operator()(double x) const { return numText(x); }
    std::string operator()(bool x) const { return x ? "true" : "false"; }
    std::string operator()(const Names &x) const {
      std::string s = "[";
      for (size_t i = 0; i < x.size(); ++i)
        s += (i ? ", " : "") + x[i];
      return s + "]";
    }
    std::string operator()(const Pairs &x) const {
      std::string s = "[";
      for (size_t i = 0; i < x.size(); ++i)
        s += (i ? ", [" : "[") + std::to_string(x[i].first) + ", " +
             std::to_string(x[i].second) + "]";
      return s + "]";
    }
    std::string operator()(const Ints &x) const {
      std::string s = "[";
      for (size_t i = 0; i < x.size(); ++i)
        s += (i ? ", " : "") + std::to_string(x[i]);
      return s + "]";
    }
    std::string operator()(const Unsupported &x) const { return x.text; }
  };
  return std::visit(Printer{}, v);
}

bool dtypeAllowed(DTypes allowed, DType d) {
  switch (allowed) {
  case DTypes::Float:
    return d == DType::F32 || abi::isHalf(d);
  case DTypes::F32:
    return d == DType::F32;
  case DTypes::I32:
    return d == DType::I32;
  case DTypes::Any:
    return true;
  }
  return false;
}

std::string dtypesText(DTypes allowed) {
  switch (allowed) {
  case DTypes::Float:
    return "f32, bf16 or f16";
  case DTypes::F32:
    return "f32";
  case DTypes::I32:
    return "i32";
  case DTypes::Any:
    return "f32, bf16, f16 or i32";
  }
  return "?";
}

std::string Problem::where() const {
  if (!attr.empty())
    return "attrs." + attr;
  return "";
}

std::string Problem::str() const {
  std::string w = where();
  return w.empty() ? message : w + ": " + message;
}

std::vector<Arg> signature(OpKind kind, const OpAttrs &a) {
  const OpSpec &spec = opSpec(kind);
  std::vector<Arg> out;
  for (const ArgRow &row : spec.args) {
    Role role = row.role;
    if (role == Role::Out && *row.accumulateIf && isSet(a, row.accumulateIf))
      role = Role::InOut;
    if (*row.presentIf && !isSet(a, row.presentIf))
      continue;
    if (*row.eachOf && intsField(a, row.eachOf)) {
      const Ints &entries = *intsField(a, row.eachOf);
      for (size_t i = 0; i < entries.size(); ++i) {
        const std::pair<int64_t, int64_t> entry{entries[i], 0};
        std::string formula = row.elements;
        const std::string each = row.eachOf;
        const std::string indexed = each + "[" + std::to_string(i) + "]";
        for (size_t at = formula.find(each); at != std::string::npos;
             at = formula.find(each, at + indexed.size()))
          formula.replace(at, each.size(), indexed);
        out.push_back({std::string(row.name) + "_" + std::to_string(i),
                       row.dtypes, role,
                       evaluate(row.elements, a, &entry, each), formula});
      }
      continue;
    }
    if (*row.eachOf) {
      const Pairs *entries = pairsField(a, row.eachOf);
      for (size_t i = 0; entries && i < entries->size(); ++i) {
        std::string formula = row.elements;
        std::string each = std::string(row.eachOf) + ".";
        for (size_t at = formula.find(each); at != std::string::npos;
             at = formula.find(each, at + 1))
          formula.replace(at, each.size() - 1,
                          std::string(row.eachOf) + "[" + std::to_string(i) +
                              "]");
        out.push_back({std::string(row.name) + "_" + std::to_string(i),
                       row.dtypes, role,
                       evaluate(row.elements, a, &(*entries)[i]), formula});
      }
      continue;
    }
    out.push_back(
        {row.name, row.dtypes, role, evaluate(row.elements, a, nullptr),
         row.elements});
  }
  return out;
}

int argIndex(const std::vector<Arg> &sig, std::string_view name) {
  for (size_t i = 0; i < sig.size(); ++i)
    if (sig[i].name == name)
      return static_cast<int>(i);
  return -1;
}

std::optional<std::pair<OpAttrs, std::vector<Arg>>>
checkAttrs(const OpSpec &spec, const Attrs &attrs, Problem *problem) {
  for (const auto &[name, value] : attrs) {
    if (spec.attr(name))
      continue;
    std::string valid;
    for (const AttrRow &r : spec.attrs)
      valid += (valid.empty() ? "" : ", ") + std::string(r.name);
    fail(problem, name, "unknown attribute '" + name + "' (valid: " + valid +
                            ")");
    return std::nullopt;
  }
  OpAttrs decoded;
  for (const AttrRow &row : spec.attrs) {
    auto it = attrs.find(row.name);
    if (it == attrs.end()) {
      if (!row.optional) {
        fail(problem, row.name, "missing required attribute");
        return std::nullopt;
      }
      if (row.type == AttrType::Num)
        setField(decoded, row.name, AttrValue(row.numDefault));
      continue;
    }
    if (!checkValue(row, it->second, problem))
      return std::nullopt;
    setField(decoded, row.name, it->second);
  }
  for (CheckFn check : spec.checks)
    if (!check(decoded, problem))
      return std::nullopt;
  std::vector<Arg> args = signature(spec.kind, decoded);
  return std::make_pair(std::move(decoded), std::move(args));
}

std::optional<CheckedOp> checkOp(std::string_view kind, Attrs attrs,
                                 const std::vector<BufferRef> &args,
                                 Problem *problem) {
  const OpSpec *spec = findOpSpec(kind);
  if (!spec) {
    fail(problem, "",
         "unknown op kind '" + std::string(kind) + "' (valid: " +
             validOpKinds() + ")");
    return std::nullopt;
  }
  auto checked = checkAttrs(*spec, attrs, problem);
  if (!checked)
    return std::nullopt;
  CheckedOp op;
  op.spec = spec;
  op.attrs = std::move(attrs);
  op.decoded = std::move(checked->first);
  op.args = std::move(checked->second);

  if (args.size() != op.args.size()) {
    std::string list;
    for (const Arg &a : op.args)
      list += (list.empty() ? "" : ", ") + a.name;
    fail(problem, "",
         "args: has " + std::to_string(args.size()) + " arguments; expected " +
             std::to_string(op.args.size()) + " (" + list + ")");
    return std::nullopt;
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const Arg &want = op.args[i];
    const BufferRef &got = args[i];
    std::string where = "arg " + std::to_string(i) + " (" + want.name + "): ";
    if (!dtypeAllowed(want.dtypes, got.dtype)) {
      fail(problem, "",
           where + "buffer '" + got.name + "' has dtype " +
               dtypeName(got.dtype) + "; expected " + dtypesText(want.dtypes),
           static_cast<int>(i));
      return std::nullopt;
    }
    if (got.elements != want.elements) {
      fail(problem, "",
           where + "buffer '" + got.name + "' has " +
               std::to_string(got.elements) + " elements; expected " +
               want.formula + " = " +
               (want.elements == INT64_MAX ? std::string("(overflow)")
                                           : std::to_string(want.elements)),
           static_cast<int>(i));
      return std::nullopt;
    }
    op.argDtypes.push_back(got.dtype);
  }
  // An output may alias an input only where the op is elementwise.
  for (size_t i = 0; i < args.size(); ++i) {
    if (op.args[i].role == Role::In)
      continue;
    for (size_t j = 0; j < args.size(); ++j) {
      if (i == j || args[i].id != args[j].id)
        continue;
      if (spec->inPlace() && op.args[j].role == Role::In)
        continue;
      std::string inPlace;
      {
        Table &t = table();
        std::lock_guard<std::mutex> lock(t.mutex);
        for (const OpSpec &s : t.specs)
          if (s.inPlace())
            inPlace += (inPlace.empty() ? "" : ", ") + s.name;
      }
      fail(problem, "",
           "args: buffer '" + args[i].name + "' is passed as both " +
               op.args[j].name + " and " + op.args[i].name +
               "; an output may share a buffer with an input only in "
               "elementwise ops (" +
               inPlace + ")");
      return std::nullopt;
    }
  }
  return op;
}

} // namespace stc::abi
