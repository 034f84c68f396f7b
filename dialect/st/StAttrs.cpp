//===- StAttrs.cpp - st attributes ----------------------------------------===//

#include "dialect/st/StAttrs.h"

#include "abi/Limits.h"
#include "dialect/st/StDialect.h"
#include "dialect/st/StOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <cstdio>

using namespace mlir;
using namespace stc;
using namespace stc::st;

/// The pattern attributes, for errors that list what is valid.
static constexpr const char *kPatternKinds =
    "#st.causal, #st.local, #st.strided, #st.fixed, #st.gathered, #st.union, "
    "#st.minus, #st.blocks, #st.predicate";

#include "dialect/st/StAttrInterfaces.cpp.inc"
#include "dialect/st/StEnums.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "dialect/st/StAttrs.cpp.inc"

void StDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/st/StAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Verifiers
//===----------------------------------------------------------------------===//

LogicalResult LocalAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                int64_t window) {
  if (window < 1)
    return emitError() << "#st.local window must be >= 1 (got " << window
                       << "); window l allows q - k < l";
  return success();
}

LogicalResult StridedAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t stride) {
  if (stride < 1)
    return emitError() << "#st.strided stride must be >= 1 (got " << stride
                       << ")";
  return success();
}

LogicalResult FixedAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                int64_t block, int64_t summary) {
  if (block < 1)
    return emitError() << "#st.fixed block must be >= 1 (got " << block << ")";
  if (summary < 0 || summary > block)
    return emitError() << "#st.fixed summary must be in [0, block = " << block
                       << "] (got " << summary << ")";
  return success();
}

LogicalResult
GatheredAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                     int64_t block, int64_t summary) {
  if (block < 1)
    return emitError() << "#st.gathered block must be >= 1 (got " << block
                       << ")";
  if (summary < 0 || summary > block)
    return emitError() << "#st.gathered summary must be in [0, block = "
                       << block << "] (got " << summary << ")";
  return success();
}

LogicalResult UnionAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                ArrayAttr patterns) {
  if (patterns.size() < 2)
    return emitError() << "#st.union needs at least 2 patterns (got "
                       << patterns.size() << ")";
  for (auto [i, p] : llvm::enumerate(patterns))
    if (!isa<PatternAttrInterface>(p))
      return emitError() << "#st.union member " << i << " (" << p
                         << ") is not a pattern; valid members: "
                         << kPatternKinds;
  return success();
}

LogicalResult MinusAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                Attribute from, Attribute without) {
  for (auto [what, p] :
       {std::pair<const char *, Attribute>{"first", from}, {"second", without}})
    if (!isa<PatternAttrInterface>(p))
      return emitError() << "#st.minus " << what << " member (" << p
                         << ") is not a pattern; valid members: "
                         << kPatternKinds;
  return success();
}

LogicalResult
BlockLayoutAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                        int64_t block, ArrayRef<int64_t> pairs) {
  if (block < 1)
    return emitError() << "#st.blocks block size must be >= 1 (got " << block
                       << ")";
  if (pairs.size() % 2 != 0)
    return emitError() << "#st.blocks pairs must come as query:key";
  if (pairs.empty())
    return emitError() << "#st.blocks lists no blocks; every query row needs "
                          "at least its diagonal block";
  for (size_t i = 0; i < pairs.size(); i += 2) {
    int64_t q = pairs[i], k = pairs[i + 1];
    if (q < 0 || k < 0)
      return emitError() << "#st.blocks block " << q << ":" << k
                         << " has a negative index";
    if (k > q)
      return emitError() << "#st.blocks block " << q << ":" << k
                         << " lies above the diagonal (key block " << k
                         << " > query block " << q
                         << "); only key block <= query block is valid";
  }
  return success();
}

LogicalResult PositionAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   PositionKind kind, ArrayRef<int64_t> dims) {
  switch (kind) {
  case PositionKind::None:
  case PositionKind::Learned:
    if (!dims.empty())
      return emitError() << "#st.position<" << stringifyPositionKind(kind)
                         << "> takes no dims";
    return success();
  case PositionKind::DataAligned:
    if (dims.empty())
      return emitError() << "#st.position<data_aligned> needs dims, e.g. "
                            "dims = [32, 32, 3]";
    for (int64_t d : dims)
      if (d < 1)
        return emitError() << "#st.position<data_aligned> dims must be >= 1 "
                              "(got "
                           << d << ")";
    return success();
  case PositionKind::AttentionAligned:
    if (dims.size() != 1 || dims[0] < 1)
      return emitError() << "#st.position<attention_aligned> needs one "
                            "stride >= 1, e.g. stride = 128";
    return success();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Custom assembly
//===----------------------------------------------------------------------===//

// #st.blocks<64, [0:0, 1:0, 1:1]>
Attribute BlockLayoutAttr::parse(AsmParser &parser, Type) {
  int64_t block = 0;
  SmallVector<int64_t> pairs;
  if (parser.parseLess() || parser.parseInteger(block) || parser.parseComma())
    return {};
  auto parsePair = [&]() -> ParseResult {
    int64_t q = 0, k = 0;
    if (parser.parseInteger(q) || parser.parseColon() ||
        parser.parseInteger(k))
      return failure();
    pairs.push_back(q);
    pairs.push_back(k);
    return success();
  };
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, parsePair,
                                     " in #st.blocks (query:key pairs)") ||
      parser.parseGreater())
    return {};
  return parser.getChecked<BlockLayoutAttr>(parser.getContext(), block, pairs);
}

void BlockLayoutAttr::print(AsmPrinter &printer) const {
  printer << "<" << getBlock() << ", [";
  ArrayRef<int64_t> pairs = getPairs();
  for (size_t i = 0; i + 1 < pairs.size(); i += 2)
    printer << (i ? ", " : "") << pairs[i] << ":" << pairs[i + 1];
  printer << "]>";
}

// #st.position<learned>, <data_aligned dims = [32, 32, 3]>,
// <attention_aligned stride = 128>
Attribute PositionAttr::parse(AsmParser &parser, Type) {
  StringRef keyword;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseLess() || parser.parseKeyword(&keyword))
    return {};
  std::optional<PositionKind> kind = symbolizePositionKind(keyword);
  if (!kind) {
    parser.emitError(loc) << "unknown position kind '" << keyword
                          << "'; valid: none, learned, data_aligned, "
                             "attention_aligned";
    return {};
  }
  SmallVector<int64_t> dims;
  if (*kind == PositionKind::DataAligned) {
    if (parser.parseKeyword("dims") || parser.parseEqual() ||
        parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
          return parser.parseInteger(dims.emplace_back());
        }))
      return {};
  } else if (*kind == PositionKind::AttentionAligned) {
    if (parser.parseKeyword("stride") || parser.parseEqual() ||
        parser.parseInteger(dims.emplace_back()))
      return {};
  }
  if (parser.parseGreater())
    return {};
  return parser.getChecked<PositionAttr>(parser.getContext(), *kind, dims);
}

void PositionAttr::print(AsmPrinter &printer) const {
  printer << "<" << stringifyPositionKind(getKind());
  if (getKind() == PositionKind::DataAligned) {
    printer << " dims = [";
    llvm::interleaveComma(getDims(), printer);
    printer << "]";
  } else if (getKind() == PositionKind::AttentionAligned) {
    printer << " stride = " << getDims()[0];
  }
  printer << ">";
}

SmallVector<std::pair<int64_t, int64_t>>
PositionAttr::components(int64_t context) const {
  SmallVector<std::pair<int64_t, int64_t>> result;
  switch (getKind()) {
  case PositionKind::None:
    break;
  case PositionKind::Learned:
    result.push_back({1, context});
    break;
  case PositionKind::DataAligned: {
    // Row-major: the last dim varies fastest.
    ArrayRef<int64_t> dims = getDims();
    for (size_t i = 0; i < dims.size(); ++i) {
      int64_t divisor = 1;
      for (size_t j = i + 1; j < dims.size(); ++j)
        divisor *= dims[j];
      result.push_back({divisor, dims[i]});
    }
    break;
  }
  case PositionKind::AttentionAligned: {
    int64_t stride = getDims()[0];
    result.push_back({1, stride});
    result.push_back({stride, std::max<int64_t>(1, context / stride)});
    break;
  }
  }
  return result;
}

//===----------------------------------------------------------------------===//
// Pattern semantics
//===----------------------------------------------------------------------===//

FailureOr<pattern::Pattern> CausalAttr::toPattern(Operation *) const {
  return pattern::Pattern::causal();
}

FailureOr<pattern::Pattern> LocalAttr::toPattern(Operation *) const {
  return pattern::Pattern::local(getWindow());
}

FailureOr<pattern::Pattern> StridedAttr::toPattern(Operation *) const {
  return pattern::Pattern::strided(getStride());
}

FailureOr<pattern::Pattern> FixedAttr::toPattern(Operation *) const {
  return pattern::Pattern::fixed(getBlock(), getSummary());
}

FailureOr<pattern::Pattern> GatheredAttr::toPattern(Operation *) const {
  return pattern::Pattern::gathered(getBlock(), getSummary());
}

FailureOr<pattern::Pattern> UnionAttr::toPattern(Operation *from) const {
  FailureOr<SmallVector<pattern::Pattern>> members =
      resolvePatterns(getPatterns(), from);
  if (failed(members))
    return failure();
  return pattern::Pattern::unionOf(
      std::vector<pattern::Pattern>(members->begin(), members->end()));
}

FailureOr<pattern::Pattern> MinusAttr::toPattern(Operation *from) const {
  FailureOr<SmallVector<pattern::Pattern>> members = resolvePatterns(
      ArrayAttr::get(getContext(), {getFrom(), getWithout()}), from);
  if (failed(members))
    return failure();
  return pattern::Pattern::difference((*members)[0], (*members)[1]);
}

FailureOr<pattern::Pattern> BlockLayoutAttr::toPattern(Operation *) const {
  std::vector<std::pair<int64_t, int64_t>> blocks;
  ArrayRef<int64_t> pairs = getPairs();
  for (size_t i = 0; i + 1 < pairs.size(); i += 2)
    blocks.push_back({pairs[i], pairs[i + 1]});
  return pattern::Pattern::blockLayout(getBlock(), std::move(blocks));
}

FailureOr<pattern::Pattern> PredicateAttr::toPattern(Operation *from) const {
  auto def = SymbolTable::lookupNearestSymbolFrom<PatternOp>(from, getName());
  if (!def)
    return from->emitOpError()
           << "refers to pattern " << getName()
           << ", but no st.pattern of that name is visible; define it with "
              "`st.pattern "
           << getName() << "(%q, %k) { ... }` in the enclosing module";
  FailureOr<pattern::Predicate> pred = def.toPredicate();
  if (failed(pred))
    return failure();
  return pattern::Pattern::predicate(getName().getValue().str(),
                                     std::move(*pred));
}

FailureOr<SmallVector<pattern::Pattern>>
stc::st::resolvePatterns(ArrayAttr patterns, Operation *from) {
  SmallVector<pattern::Pattern> result;
  for (Attribute attr : patterns) {
    auto p = dyn_cast<PatternAttrInterface>(attr);
    if (!p)
      return from->emitOpError() << "expected an attention pattern, got "
                                 << attr;
    FailureOr<pattern::Pattern> resolved = p.toPattern(from);
    if (failed(resolved))
      return failure();
    result.push_back(std::move(*resolved));
  }
  return result;
}

FailureOr<SmallVector<pattern::Pattern>>
stc::st::resolveHeadPatterns(ArrayAttr patterns, int64_t heads,
                             Operation *from) {
  if (patterns.empty() || heads < 1 ||
      heads % static_cast<int64_t>(patterns.size()) != 0)
    return from->emitOpError()
           << "cannot split " << heads << " heads evenly among "
           << patterns.size() << " patterns";
  FailureOr<SmallVector<pattern::Pattern>> groups =
      resolvePatterns(patterns, from);
  if (failed(groups))
    return failure();
  int64_t perGroup = heads / static_cast<int64_t>(patterns.size());
  SmallVector<pattern::Pattern> result;
  for (int64_t h = 0; h < heads; ++h)
    result.push_back((*groups)[h / perGroup]);
  return result;
}

pattern::Pattern stc::st::unionOfPatterns(ArrayRef<pattern::Pattern> patterns) {
  std::vector<pattern::Pattern> distinct;
  for (const pattern::Pattern &p : patterns)
    if (llvm::find(distinct, p) == distinct.end())
      distinct.push_back(p);
  if (distinct.size() == 1)
    return distinct.front();
  return pattern::Pattern::unionOf(std::move(distinct));
}

LogicalResult InitAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               InitKind kind, APFloat stdValue) {
  double std = stdValue.convertToDouble();
  if (kind == InitKind::Normal && !(std > 0))
    return emitError() << "#st.init<normal> needs std > 0 (got " << std << ")";
  if (kind != InitKind::Normal && std != 0)
    return emitError() << "#st.init<" << stringifyInitKind(kind)
                       << "> takes no std";
  return success();
}

// #st.init<normal, std = 0.02>, #st.init<zeros>
Attribute InitAttr::parse(AsmParser &parser, Type) {
  StringRef keyword;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseLess() || parser.parseKeyword(&keyword))
    return {};
  std::optional<InitKind> kind = symbolizeInitKind(keyword);
  if (!kind) {
    parser.emitError(loc) << "unknown init '" << keyword
                          << "'; valid: normal, zeros, ones";
    return {};
  }
  double std = 0;
  if (succeeded(parser.parseOptionalComma()) &&
      (parser.parseKeyword("std") || parser.parseEqual() ||
       parser.parseFloat(std)))
    return {};
  if (parser.parseGreater())
    return {};
  return parser.getChecked<InitAttr>(parser.getContext(), *kind, APFloat(std));
}

void InitAttr::print(AsmPrinter &printer) const {
  printer << "<" << stringifyInitKind(getKind());
  if (getKind() == InitKind::Normal)
    printer << ", std = " << getStd().convertToDouble();
  printer << ">";
}

//===----------------------------------------------------------------------===//
// Score modifications: #st.softcap<30.0>, #st.alibi<8.0>, #st.temperature<0.5>
//===----------------------------------------------------------------------===//

namespace {
LogicalResult verifyScoreMod(function_ref<InFlightDiagnostic()> emitError,
                             StringRef mnemonic, StringRef what,
                             const APFloat &value, double max) {
  double v = value.convertToDouble();
  if (!(v > 0 && v <= max)) {
    char got[32], hi[32];
    std::snprintf(got, sizeof got, "%g", v);
    std::snprintf(hi, sizeof hi, "%g", max);
    return emitError() << "#st." << mnemonic << " needs a " << what
                       << " in (0, " << hi << "] (got " << got << ")";
  }
  return success();
}

/// `<` float `>`, the one constant of a score modification.
FailureOr<APFloat> parseScoreModValue(AsmParser &parser) {
  double v = 0;
  if (parser.parseLess() || parser.parseFloat(v) || parser.parseGreater())
    return failure();
  return APFloat(v);
}
} // namespace

#define STC_SCORE_MOD(Class, Mnemonic, What, Max)                              \
  LogicalResult Class::verify(function_ref<InFlightDiagnostic()> emitError,    \
                              APFloat value) {                                 \
    return verifyScoreMod(emitError, Mnemonic, What, value, Max);              \
  }                                                                            \
  Attribute Class::parse(AsmParser &parser, Type) {                            \
    FailureOr<APFloat> v = parseScoreModValue(parser);                         \
    if (failed(v))                                                             \
      return {};                                                               \
    return parser.getChecked<Class>(parser.getContext(), *v);                  \
  }                                                                            \
  void Class::print(AsmPrinter &printer) const {                               \
    printer << "<";                                                            \
    printer.printFloat(getValue());                                            \
    printer << ">";                                                            \
  }
STC_SCORE_MOD(SoftcapAttr, "softcap", "cap", abi::kMaxScoreModValue)
STC_SCORE_MOD(AlibiAttr, "alibi", "base", abi::kMaxAlibiBase)
STC_SCORE_MOD(TemperatureAttr, "temperature", "temperature",
              abi::kMaxScoreModValue)
#undef STC_SCORE_MOD
