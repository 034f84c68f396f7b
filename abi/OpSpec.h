//===- OpSpec.h - Op kinds, their signatures and checks ---------*- C++ -*-===//
//
// The rows of abi/Ops.def as tables, and the one check of an op against its
// row: attribute names, types, ranges and cross-attribute rules, then the
// arguments' count, dtypes, element counts and aliasing. The stk.launch
// verifier (compile time) and the artifact validator (load time) both call
// checkOp; the kernel emitter and the executors read the decoded attributes
// (OpAttrs) of an op that passed it.
//
//===----------------------------------------------------------------------===//

#ifndef STC_ABI_OPSPEC_H
#define STC_ABI_OPSPEC_H

#include "abi/DType.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace stc::abi {

//===----------------------------------------------------------------------===//
// Op kinds
//===----------------------------------------------------------------------===//

enum class OpKind : uint16_t {
#define STC_OP(Id, Name, Flags) Id,
#include "abi/Ops.def"
};

/// The built-in kinds; registerOpKind adds kinds after them.
constexpr int kNumOpKinds = 0
#define STC_OP(Id, Name, Flags) +1
#include "abi/Ops.def"
    ;

/// The manifest spelling ("layer_norm_fwd"), or "?" for an unknown kind.
const char *opKindName(OpKind kind);
std::optional<OpKind> parseOpKind(std::string_view name);
/// "zero, embed_fwd, ..." for messages.
std::string validOpKinds();

//===----------------------------------------------------------------------===//
// Attribute values
//===----------------------------------------------------------------------===//

using Names = std::vector<std::string>;
using Pairs = std::vector<std::pair<int64_t, int64_t>>;
using Ints = std::vector<int64_t>;
/// A value no attribute type accepts (a string, an object, a mixed list),
/// kept as written for the message that rejects it.
struct Unsupported {
  std::string text;
};
using AttrValue =
    std::variant<int64_t, double, bool, Names, Pairs, Ints, Unsupported>;
/// Sorted by name: the canonical order (kernel keys, messages).
using Attrs = std::map<std::string, AttrValue>;

/// The value as a person would write it: 3, 0.5, true, [a, b], [[1, 16]].
std::string attrText(const AttrValue &v);

/// The decoded attributes of a checked op: one member per attribute name
/// (STC_FIELD in Ops.def); absent optional attributes hold their defaults.
struct OpAttrs {
#define STC_FIELD_Int int64_t
#define STC_FIELD_Num double
#define STC_FIELD_Bool bool
#define STC_FIELD_Names Names
#define STC_FIELD_Pairs Pairs
#define STC_FIELD_Ints Ints
#define STC_FIELD(Key, Type, Member) STC_FIELD_##Type Member{};
#include "abi/Ops.def"
#undef STC_FIELD_Int
#undef STC_FIELD_Num
#undef STC_FIELD_Bool
#undef STC_FIELD_Names
#undef STC_FIELD_Pairs
#undef STC_FIELD_Ints
};

//===----------------------------------------------------------------------===//
// Rows
//===----------------------------------------------------------------------===//

/// Which dtypes an argument accepts.
enum class DTypes : uint8_t {
  Float, ///< the model's float types (f32, bf16, f16)
  F32,   ///< f32 only (statistics, losses, optimizer moments)
  I32,   ///< token ids and targets
  Any,   ///< every dtype (zero)
};
bool dtypeAllowed(DTypes allowed, DType d);
/// "f32, bf16 or f16", for messages.
std::string dtypesText(DTypes allowed);

/// How an op uses an argument (the memory plan's liveness follows it).
enum class Role : uint8_t {
  In,    ///< read only
  Out,   ///< completely overwritten, not read
  InOut, ///< read and written (accumulation, partial writes, updates)
};

struct ArgRow {
  const char *name;
  DTypes dtypes;
  Role role;
  /// Out becomes InOut when this attribute is true or non-zero ("" if none).
  const char *accumulateIf;
  const char *elements; ///< "M*C"
  /// The argument exists only when this bool attribute is true ("").
  const char *presentIf;
  /// One argument per entry of this list attribute (pairs or integers; "").
  const char *eachOf;
};

enum class AttrType : uint8_t { Int, Num, Bool, Names, Pairs, Ints };
enum class Bounds : uint8_t { Closed, LoOpen, HiOpen, Open };

struct AttrRow {
  const char *name;
  AttrType type;
  bool optional;
  int64_t intLo, intHi, step; ///< Int, and the elements of Pairs and Ints
  double numLo, numHi;        ///< Num
  Bounds bounds;              ///< Num
  double numDefault;          ///< Num, when optional
};

struct Problem;
/// A rule across attributes, on their decoded values.
using CheckFn = bool (*)(const OpAttrs &attrs, Problem *problem);

enum OpFlags : unsigned {
  Kernel = 1,  ///< runs as a generated kernel
  Library = 2, ///< runs as a library call (no kernel)
  InPlace = 4, ///< an output may share its buffer with an input
};

struct OpSpec {
  OpKind kind;
  std::string name;
  unsigned flags = 0;
  std::vector<ArgRow> args;
  std::vector<AttrRow> attrs;
  std::vector<CheckFn> checks;

  bool hasKernel() const { return flags & Kernel; }
  bool inPlace() const { return flags & InPlace; }
  const AttrRow *attr(std::string_view name) const;
};

/// The row of a kind (built-in or registered).
const OpSpec &opSpec(OpKind kind);
/// The row of a manifest spelling, or nullptr.
const OpSpec *findOpSpec(std::string_view name);
/// Adds a kind to the table (for tests and out-of-tree op kinds): the
/// verifier and the validator then accept it by name. Returns its kind.
OpKind registerOpKind(OpSpec spec);

//===----------------------------------------------------------------------===//
// Checking an op
//===----------------------------------------------------------------------===//

/// What is wrong and where: `attr` names the attribute, or `arg` the argument
/// index (-1 for neither: the argument list as a whole, or the kind).
struct Problem {
  std::string attr;
  int arg = -1;
  std::string message;

  /// "attrs.M: ...", "arg 2 (x): ...", "args: ..." or the bare message.
  std::string where() const;
  std::string str() const;
};

/// One argument of an op with concrete attributes.
struct Arg {
  std::string name; ///< "x", "pos_0"
  DTypes dtypes = DTypes::Float;
  Role role = Role::In;
  int64_t elements = 0;  ///< INT64_MAX when the product overflows
  std::string formula;   ///< "M*C", "pos[0].mod*D"
};

/// A buffer passed to an op, as the caller sees it.
struct BufferRef {
  std::string name; ///< for messages
  int id = -1;      ///< buffer identity, for the aliasing rule
  DType dtype = DType::F32;
  int64_t elements = 0;
};

/// An op that matches its row.
struct CheckedOp {
  const OpSpec *spec = nullptr;
  Attrs attrs;     ///< as given
  OpAttrs decoded; ///< with defaults filled in
  std::vector<Arg> args;
  std::vector<DType> argDtypes;

  OpKind kind() const { return spec->kind; }
  const std::string &name() const { return spec->name; }
};

/// Checks the attributes alone; returns the decoded attributes and the
/// argument signature they imply.
std::optional<std::pair<OpAttrs, std::vector<Arg>>>
checkAttrs(const OpSpec &spec, const Attrs &attrs, Problem *problem);

/// The whole check: the kind, its attributes, then every argument (count,
/// dtype, element count) and the aliasing rule.
std::optional<CheckedOp> checkOp(std::string_view kind, Attrs attrs,
                                 const std::vector<BufferRef> &args,
                                 Problem *problem);

/// The argument signature of an op that passed checkOp.
std::vector<Arg> signature(OpKind kind, const OpAttrs &attrs);

/// The position of the argument named `name` ("bias", "B_1": an EACH row's
/// i-th) in `sig`, or -1 when the op has none (an absent optional one).
int argIndex(const std::vector<Arg> &sig, std::string_view name);

} // namespace stc::abi

#endif // STC_ABI_OPSPEC_H
