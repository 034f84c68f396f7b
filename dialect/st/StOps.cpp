//===- StOps.cpp - st operations ------------------------------------------===//

#include "dialect/st/StOps.h"

#include "abi/Limits.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/StringSwitch.h"

#include <cmath>
#include <cstdlib>

using namespace mlir;
using namespace stc;
using namespace stc::st;

namespace {
/// score_mods have a kernel form (stc::st::kernelScoreMods).
LogicalResult verifyScoreMods(Operation *op, ArrayAttr mods);
} // namespace

#define GET_OP_CLASSES
#include "dialect/st/StOps.cpp.inc"

namespace {

std::string shapeStr(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

/// Shortest decimal that reads back as the same double, spelled as MLIR's
/// float literal: a '.' always, before any exponent ("2.0e+01", not
/// "2e+01", which the parser takes for an integer).
std::string formatDouble(double v) {
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v)
      break;
  }
  std::string s = buf;
  if (s.find_first_of(".n") == std::string::npos) { // not inf or nan
    size_t e = s.find_first_of("eE");
    s.insert(e == std::string::npos ? s.size() : e, ".0");
  }
  return s;
}

/// Integer value of a positive ratio times a width, if it is one in
/// [1, abi::kMaxDim].
std::optional<int64_t> scaledWidth(int64_t width, double ratio) {
  double v = static_cast<double>(width) * ratio;
  if (!(v >= 1 && v <= static_cast<double>(abi::kMaxDim)) ||
      std::fabs(v - std::round(v)) > 1e-9)
    return std::nullopt;
  return static_cast<int64_t>(std::round(v));
}

/// Verifies the patterns of an op whose heads are split among them.
LogicalResult verifyHeadSplit(Operation *op, ArrayAttr patterns,
                              int64_t heads) {
  if (patterns.empty())
    return op->emitOpError() << "needs at least one pattern";
  int64_t n = static_cast<int64_t>(patterns.size());
  if (heads < 1 || heads % n != 0)
    return op->emitOpError()
           << "splits " << heads << " heads among " << n
           << " patterns; the number of patterns must divide the heads";
  if (failed(resolvePatterns(patterns, op)))
    return failure();
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// ModelOp
//===----------------------------------------------------------------------===//

namespace {
enum class ModelKey { Vocab, Context, Width, Heads, FfnRatio, QkRatio, Dropout,
                      Dtype, Position };
constexpr const char *kModelKeys =
    "vocab, context, width, heads, ffn_ratio, qk_ratio, dropout, dtype, "
    "position";
} // namespace

// st.model @name {vocab = 256, context = 64, ...} { body }
ParseResult ModelOp::parse(OpAsmParser &parser, OperationState &result) {
  StringAttr name;
  if (parser.parseSymbolName(name, getSymNameAttrName(result.name),
                             result.attributes))
    return failure();
  Builder &b = parser.getBuilder();
  OperationName opName = result.name;
  llvm::StringMap<Attribute> values;
  auto parseEntry = [&]() -> ParseResult {
    StringRef key;
    SMLoc loc = parser.getCurrentLocation();
    if (parser.parseKeyword(&key) || parser.parseEqual())
      return failure();
    auto which = llvm::StringSwitch<std::optional<ModelKey>>(key)
                     .Case("vocab", ModelKey::Vocab)
                     .Case("context", ModelKey::Context)
                     .Case("width", ModelKey::Width)
                     .Case("heads", ModelKey::Heads)
                     .Case("ffn_ratio", ModelKey::FfnRatio)
                     .Case("qk_ratio", ModelKey::QkRatio)
                     .Case("dropout", ModelKey::Dropout)
                     .Case("dtype", ModelKey::Dtype)
                     .Case("position", ModelKey::Position)
                     .Default(std::nullopt);
    if (!which)
      return parser.emitError(loc) << "unknown st.model key '" << key
                                   << "'; valid keys: " << kModelKeys;
    if (values.count(key))
      return parser.emitError(loc) << "st.model key '" << key
                                   << "' given twice";
    Attribute value;
    switch (*which) {
    case ModelKey::Vocab:
    case ModelKey::Context:
    case ModelKey::Width:
    case ModelKey::Heads: {
      int64_t v = 0;
      if (parser.parseInteger(v))
        return failure();
      value = b.getI64IntegerAttr(v);
      break;
    }
    case ModelKey::FfnRatio:
    case ModelKey::QkRatio:
    case ModelKey::Dropout: {
      double v = 0;
      if (parser.parseFloat(v))
        return failure();
      value = b.getF64FloatAttr(v);
      break;
    }
    case ModelKey::Dtype: {
      Type t;
      if (parser.parseType(t))
        return failure();
      value = TypeAttr::get(t);
      break;
    }
    case ModelKey::Position: {
      PositionAttr pos;
      if (parser.parseAttribute(pos))
        return failure();
      value = pos;
      break;
    }
    }
    values[key] = value;
    return success();
  };
  SMLoc dictLoc = parser.getCurrentLocation();
  if (parser.parseCommaSeparatedList(OpAsmParser::Delimiter::Braces,
                                     parseEntry, " in st.model"))
    return failure();
  for (const char *required : {"vocab", "context", "width", "heads"})
    if (!values.count(required))
      return parser.emitError(dictLoc)
             << "st.model needs '" << required << "' (required keys: vocab, "
             << "context, width, heads)";
  auto orDefault = [&](StringRef key, Attribute dflt) {
    auto it = values.find(key);
    return it == values.end() ? dflt : it->second;
  };
  auto set = [&](StringAttr attrName, Attribute value) {
    result.addAttribute(attrName, value);
  };
  set(getVocabAttrName(opName), values["vocab"]);
  set(getContextSizeAttrName(opName), values["context"]);
  set(getWidthAttrName(opName), values["width"]);
  set(getHeadsAttrName(opName), values["heads"]);
  set(getFfnRatioAttrName(opName),
      orDefault("ffn_ratio", b.getF64FloatAttr(4.0)));
  set(getQkRatioAttrName(opName),
      orDefault("qk_ratio", b.getF64FloatAttr(1.0)));
  set(getDropoutAttrName(opName), orDefault("dropout", b.getF64FloatAttr(0)));
  set(getDtypeAttrName(opName), orDefault("dtype", TypeAttr::get(b.getF32Type())));
  set(getPositionAttrName(opName),
      orDefault("position",
                PositionAttr::get(b.getContext(), PositionKind::Learned, {})));
  // Discardable attributes (e.g. analysis results) follow the keys.
  if (parser.parseOptionalAttrDictWithKeyword(result.attributes))
    return failure();
  Region *body = result.addRegion();
  if (parser.parseRegion(*body))
    return failure();
  if (body->empty())
    body->emplaceBlock();
  return success();
}

void ModelOp::print(OpAsmPrinter &p) {
  p << " ";
  p.printSymbolName(getSymName());
  p << " {vocab = " << getVocab() << ", context = " << getContextSize()
    << ", width = " << getWidth() << ", heads = " << getHeads()
    << ", ffn_ratio = " << formatDouble(getFfnRatio().convertToDouble())
    << ", qk_ratio = " << formatDouble(getQkRatio().convertToDouble())
    << ", dropout = " << formatDouble(getDropout().convertToDouble())
    << ", dtype = " << getDtype() << ", position = ";
  p.printAttribute(getPosition());
  p << "}";
  p.printOptionalAttrDictWithKeyword((*this)->getAttrs(),
                                     getAttributeNames());
  p << " ";
  p.printRegion(getBody(), /*printEntryBlockArgs=*/false,
                /*printBlockTerminators=*/false);
}

LogicalResult ModelOp::verify() {
  // Signed views: a negative literal must be reported as written.
  int64_t vocab = getVocabAttr().getInt(), context = getContextSizeAttr().getInt(),
          width = getWidthAttr().getInt(), heads = getHeadsAttr().getInt();
  // The limits of abi/Limits.h, which the runtime applies too.
  if (vocab < 2 || vocab > abi::kMaxVocab)
    return emitOpError() << "vocab must be in [2, " << abi::kMaxVocab
                         << "] (got " << vocab << ")";
  if (context < 1 || context > abi::kMaxContext)
    return emitOpError() << "context must be in [1, " << abi::kMaxContext
                         << "] (got " << context << ")";
  if (width < 1 || width > abi::kMaxWidth)
    return emitOpError() << "width must be in [1, " << abi::kMaxWidth
                         << "] (got " << width << ")";
  if (heads < 1 || heads > abi::kMaxGridYZ)
    return emitOpError() << "heads must be in [1, " << abi::kMaxGridYZ
                         << "] (got " << heads << ")";
  if (width % heads != 0)
    return emitOpError() << "heads (" << heads << ") must divide width ("
                         << width << ")";
  double qk = getQkRatio().convertToDouble();
  std::optional<int64_t> qkWidth = scaledWidth(width, qk);
  if (!(qk > 0) || !qkWidth)
    return emitOpError() << "qk_ratio " << formatDouble(qk)
                         << " times width " << getWidth()
                         << " must be a whole number in [1, " << abi::kMaxDim
                         << "]";
  if (*qkWidth % heads != 0)
    return emitOpError() << "heads (" << heads
                         << ") must divide the q/k width (" << *qkWidth
                         << " = width x qk_ratio)";
  double ffn = getFfnRatio().convertToDouble();
  if (!(ffn > 0) || !scaledWidth(width, ffn))
    return emitOpError() << "ffn_ratio " << formatDouble(ffn)
                         << " times width " << getWidth()
                         << " must be a whole number in [1, " << abi::kMaxDim
                         << "]";
  double dropout = getDropout().convertToDouble();
  if (!(dropout >= 0 && dropout < 1))
    return emitOpError() << "dropout must be in [0, 1) (got "
                         << formatDouble(dropout) << ")";
  Type dtype = getDtype();
  if (!dtype.isF32() && !dtype.isBF16() && !dtype.isF16())
    return emitOpError() << "dtype " << dtype
                         << " is not supported; valid: f32, bf16, f16";
  PositionAttr pos = getPosition();
  if (pos.getKind() == PositionKind::DataAligned) {
    int64_t product = 1;
    for (int64_t d : pos.getDims())
      product *= d;
    if (product != context)
      return emitOpError() << "data-aligned position dims multiply to "
                           << product << ", but context is " << context
                           << "; their product must equal the context";
  }
  if (pos.getKind() == PositionKind::AttentionAligned &&
      context % pos.getDims()[0] != 0)
    return emitOpError() << "attention-aligned stride " << pos.getDims()[0]
                         << " must divide the context (" << context
                         << ")";
  return success();
}

/// Layers a block of st.block and st.repeat expands to, saturating (a
/// repeat count can be any 64-bit value; nothing is expanded to count).
static int64_t countLayers(Block &block) {
  int64_t total = 0;
  for (Operation &op : block) {
    int64_t n = 0;
    if (isa<BlockOp>(op))
      n = 1;
    else if (auto repeat = dyn_cast<RepeatOp>(op)) {
      int64_t inner = countLayers(repeat.getBody().front());
      int64_t count = repeat.getCountAttr().getInt();
      if (count > 0 && __builtin_mul_overflow(inner, count, &n))
        n = INT64_MAX;
    }
    if (__builtin_add_overflow(total, n, &total))
      return INT64_MAX;
  }
  return total;
}

LogicalResult ModelOp::verifyRegions() {
  for (Operation &op : getBody().front())
    if (!isa<BlockOp, RepeatOp>(op))
      return op.emitOpError()
             << "is not allowed in st.model; its body holds st.block and "
                "st.repeat only";
  int64_t count = countLayers(getBody().front());
  if (count == 0)
    return emitOpError() << "has no layers; add at least one st.block";
  if (count > abi::kMaxLayers)
    return emitOpError() << "has "
                         << (count == INT64_MAX ? std::string("more than 2^63")
                                                : std::to_string(count))
                         << " layers; stc takes at most " << abi::kMaxLayers;
  return success();
}

static void collectLayers(Block &block, SmallVectorImpl<BlockOp> &out) {
  for (Operation &op : block) {
    if (auto layer = dyn_cast<BlockOp>(op)) {
      out.push_back(layer);
    } else if (auto repeat = dyn_cast<RepeatOp>(op)) {
      for (int64_t i = 0; i < static_cast<int64_t>(repeat.getCount()); ++i)
        collectLayers(repeat.getBody().front(), out);
    }
  }
}

SmallVector<BlockOp> ModelOp::layers() {
  SmallVector<BlockOp> result;
  collectLayers(getBody().front(), result);
  return result;
}

int64_t ModelOp::qkWidth() {
  return scaledWidth(getWidth(), getQkRatio().convertToDouble()).value_or(0);
}

int64_t ModelOp::ffnWidth() {
  return scaledWidth(getWidth(), getFfnRatio().convertToDouble()).value_or(0);
}

int64_t ModelOp::numParameters() {
  int64_t v = getVocab(), d = getWidth(), dqk = qkWidth(), f = ffnWidth();
  int64_t positions = 0;
  for (auto [divisor, rows] : getPosition().components(getContextSize()))
    positions += rows * d;
  int64_t perBlock = 2 * (d * dqk + dqk)  // q, k
                     + 2 * (d * d + d)    // v, output projection
                     + (d * f + f) + (f * d + d) // feed-forward
                     + 2 * 2 * d;         // two layer norms
  int64_t blocks = static_cast<int64_t>(layers().size());
  return v * d + positions + blocks * perBlock + 2 * d + (d * v + v);
}

//===----------------------------------------------------------------------===//
// RepeatOp, BlockOp
//===----------------------------------------------------------------------===//

LogicalResult RepeatOp::verify() {
  if (getCountAttr().getInt() < 1)
    return emitOpError() << "count must be >= 1 (got "
                         << getCountAttr().getInt() << ")";
  for (Operation &op : getBody().front())
    if (!isa<BlockOp, RepeatOp>(op))
      return op.emitOpError()
             << "is not allowed in st.repeat; it holds st.block and st.repeat "
                "only";
  return success();
}

LogicalResult BlockOp::verify() {
  auto model = (*this)->getParentOfType<ModelOp>();
  int64_t heads = model ? model.getHeadsAttr().getInt() : 1;
  if (failed(verifyScoreMods(*this, getScoreModsAttr())))
    return failure();
  return verifyHeadSplit(*this, getPatterns(), heads);
}

//===----------------------------------------------------------------------===//
// Tensor ops
//===----------------------------------------------------------------------===//

LogicalResult EmbedOp::verify() {
  auto tokens = getTokens().getType();
  auto table = getTable().getType();
  auto result = getResult().getType();
  if (tokens.getRank() != 2)
    return emitOpError() << "tokens must be [batch, time], got "
                         << shapeStr(tokens);
  if (table.getRank() != 2)
    return emitOpError() << "table must be [vocab, width], got "
                         << shapeStr(table);
  int64_t b = tokens.getDimSize(0), t = tokens.getDimSize(1),
          d = table.getDimSize(1);
  if (result.getRank() != 3 || result.getDimSize(0) != b ||
      result.getDimSize(1) != t || result.getDimSize(2) != d)
    return emitOpError() << "result must be [" << b << ", " << t << ", " << d
                         << "] (tokens' batch and time, the table's width), "
                            "got "
                         << shapeStr(result);
  if (result.getElementType() != table.getElementType())
    return emitOpError() << "result element type must match the table's";
  PositionAttr pos = getPosition();
  if (getDecode()) {
    // One position of each of `b` longer sequences: the tables span the
    // context.
    if (t != 1)
      return emitOpError() << "decodes one position of each sequence, so "
                              "tokens must be [sequences, 1], got "
                           << shapeStr(tokens);
    t = 0;
    auto rows = [&](unsigned i) {
      return i < getPositions().size()
                 ? cast<RankedTensorType>(getPositions()[i].getType()).getDimSize(0)
                 : 0;
    };
    switch (pos.getKind()) {
    case PositionKind::None:
      break;
    case PositionKind::Learned:
      t = rows(0);
      break;
    case PositionKind::DataAligned:
      t = 1;
      for (int64_t dim : pos.getDims())
        t *= dim;
      break;
    case PositionKind::AttentionAligned:
      t = pos.getDims()[0] * rows(1);
      break;
    }
  }
  if (pos.getKind() == PositionKind::DataAligned) {
    int64_t product = 1;
    for (int64_t dim : pos.getDims())
      product *= dim;
    if (product != t)
      return emitOpError() << "data-aligned dims multiply to " << product
                           << ", but the sequence length is " << t;
  }
  if (pos.getKind() == PositionKind::AttentionAligned &&
      t % pos.getDims()[0] != 0)
    return emitOpError() << "attention-aligned stride " << pos.getDims()[0]
                         << " must divide the sequence length " << t;
  auto components = pos.components(t);
  if (getPositions().size() != components.size())
    return emitOpError() << "position " << pos << " needs "
                         << components.size() << " tables, got "
                         << getPositions().size();
  for (auto [i, value] : llvm::enumerate(getPositions())) {
    auto type = cast<RankedTensorType>(value.getType());
    int64_t rows = components[i].second;
    if (type.getRank() != 2 || type.getDimSize(0) != rows ||
        type.getDimSize(1) != d || type.getElementType() != table.getElementType())
      return emitOpError() << "position table " << i << " must be [" << rows
                           << ", " << d << "] of " << table.getElementType()
                           << ", got " << shapeStr(type);
  }
  return success();
}

LogicalResult LayerNormOp::verify() {
  auto x = getX().getType();
  auto gamma = getGamma().getType();
  int64_t c = x.getDimSize(x.getRank() - 1);
  if (x.getRank() < 1 || gamma.getRank() != 1 || gamma.getDimSize(0) != c)
    return emitOpError() << "gamma and beta must be [" << c
                         << "] (the last dim of x), got " << shapeStr(gamma);
  if (gamma.getElementType() != x.getElementType())
    return emitOpError() << "gamma's element type must match x's";
  if (!(getEpsilon().convertToDouble() > 0))
    return emitOpError() << "epsilon must be > 0";
  return success();
}

LogicalResult LayerNormGradOp::verify() {
  auto gamma = getGamma().getType();
  for (auto grad : {getDgamma().getType(), getDbeta().getType()})
    if (grad.getShape() != gamma.getShape() ||
        (grad.getElementType() != gamma.getElementType() &&
         !grad.getElementType().isF32()))
      return emitOpError() << "dgamma and dbeta must have the shape of gamma ("
                           << shapeStr(gamma)
                           << "), each in its element type or f32, got " << grad;
  return success();
}

LogicalResult LinearOp::verify() {
  auto x = getX().getType();
  auto w = getWeight().getType();
  auto result = getResult().getType();
  if (x.getRank() < 2)
    return emitOpError() << "x must have rank >= 2, got " << shapeStr(x);
  int64_t k = x.getDimSize(x.getRank() - 1);
  if (w.getRank() != 2 || w.getDimSize(0) != k)
    return emitOpError() << "weight must be [" << k
                         << ", N] (x's last dim first), got " << shapeStr(w);
  int64_t n = w.getDimSize(1);
  SmallVector<int64_t> expected(x.getShape());
  expected.back() = n;
  if (result.getShape() != ArrayRef<int64_t>(expected))
    return emitOpError() << "result must have x's shape with the last dim "
                         << n << ", got " << shapeStr(result);
  if (Value bias = getBias()) {
    auto b = cast<RankedTensorType>(bias.getType());
    if (b.getRank() != 1 || b.getDimSize(0) != n)
      return emitOpError() << "bias must be [" << n << "], got "
                           << shapeStr(b);
  }
  for (Value v : getOperands())
    if (cast<RankedTensorType>(v.getType()).getElementType() !=
        result.getElementType())
      return emitOpError() << "operands and result must share one element "
                              "type";
  return success();
}

LogicalResult DropoutOp::verify() {
  double rate = getRate().convertToDouble();
  if (!(rate >= 0 && rate < 1))
    return emitOpError() << "rate must be in [0, 1) (got " << formatDouble(rate)
                         << ")";
  return success();
}

LogicalResult StridePermuteOp::verify() {
  auto type = cast<RankedTensorType>(getX().getType());
  if (type.getRank() != 3)
    return emitOpError() << "x must be [batch, time, width], got "
                         << shapeStr(type);
  int64_t t = type.getDimSize(1), width = type.getDimSize(2);
  int64_t stride = static_cast<int64_t>(getStride());
  int64_t heads = static_cast<int64_t>(getHeads());
  int64_t begin = static_cast<int64_t>(getHeadBegin());
  int64_t end = static_cast<int64_t>(getHeadEnd());
  if (stride < 1 || t % stride != 0)
    return emitOpError() << "stride (" << stride
                         << ") must be >= 1 and divide the sequence length ("
                         << t << ")";
  if (heads < 1 || width % heads != 0)
    return emitOpError() << "heads (" << heads << ") must divide the width ("
                         << width << ")";
  if (begin < 0 || begin >= end || end > heads)
    return emitOpError() << "head range " << begin << " to " << end
                         << " must be non-empty within [0, "
                         << heads << "]";
  return success();
}

OpFoldResult StridePermuteOp::fold(FoldAdaptor) {
  // A permutation followed by its inverse over the same heads is the input.
  auto prev = getX().getDefiningOp<StridePermuteOp>();
  if (prev && prev.getInverse() != getInverse() &&
      prev.getStride() == getStride() &&
      prev.getHeadBegin() == getHeadBegin() &&
      prev.getHeadEnd() == getHeadEnd() && prev.getHeads() == getHeads())
    return prev.getX();
  return {};
}

namespace {
/// q, k: [B, T, Dqk]; heads divides Dqk. Returns (B, T).
LogicalResult verifyQK(Operation *op, RankedTensorType q, RankedTensorType k,
                       int64_t heads) {
  if (q.getRank() != 3)
    return op->emitOpError() << "q must be [batch, time, width], got "
                             << shapeStr(q);
  if (k.getShape() != q.getShape())
    return op->emitOpError() << "k must have q's shape " << shapeStr(q)
                             << ", got " << shapeStr(k);
  if (heads < 1 || q.getDimSize(2) % heads != 0)
    return op->emitOpError() << "heads (" << heads
                             << ") must divide the q/k width ("
                             << q.getDimSize(2) << ")";
  return success();
}
} // namespace

LogicalResult AttentionOp::verify() {
  auto q = getQ().getType(), k = getK().getType(), v = getV().getType(),
       result = getResult().getType();
  if (failed(verifyQK(*this, q, k, getHeadsAttr().getInt())))
    return failure();
  if (v.getRank() != 3 || v.getDimSize(0) != q.getDimSize(0) ||
      v.getDimSize(1) != q.getDimSize(1))
    return emitOpError() << "v must be [" << q.getDimSize(0) << ", "
                         << q.getDimSize(1) << ", Dv], got " << shapeStr(v);
  int64_t heads = getHeadsAttr().getInt();
  if (v.getDimSize(2) % heads != 0)
    return emitOpError() << "heads (" << heads
                         << ") must divide the value width ("
                         << v.getDimSize(2) << ")";
  if (result != v)
    return emitOpError() << "result must have v's type " << shapeStr(v)
                         << ", got " << shapeStr(result);
  if (getScale() && !(getScale()->convertToDouble() > 0))
    return emitOpError() << "scale must be > 0";
  if (failed(verifyScoreMods(*this, getScoreModsAttr())))
    return failure();
  return verifyHeadSplit(*this, getPatterns(), heads);
}

LogicalResult DecodeAttentionOp::verify() {
  auto q = getQ().getType(), k = getK().getType(), v = getV().getType();
  int64_t heads = getHeadsAttr().getInt();
  if (failed(verifyQK(*this, q, k, heads)))
    return failure();
  if (q.getDimSize(1) != 1)
    return emitOpError() << "decodes one position of each sequence, so q must "
                            "be [sequences, 1, Dqk], got "
                         << shapeStr(q);
  if (v.getRank() != 3 || v.getDimSize(0) != q.getDimSize(0) ||
      v.getDimSize(1) != 1 || v.getDimSize(2) % heads != 0)
    return emitOpError() << "v must be [" << q.getDimSize(0)
                         << ", 1, Dv] with heads (" << heads
                         << ") dividing Dv, got " << shapeStr(v);
  if (getScale() && !(getScale()->convertToDouble() > 0))
    return emitOpError() << "scale must be > 0";
  if (failed(verifyScoreMods(*this, getScoreModsAttr())))
    return failure();
  // Each cache holds every sequence's keys (values) over the context.
  for (auto [ref, row, what] :
       {std::tuple{getKcacheAttr(), k, "kcache"},
        std::tuple{getVcacheAttr(), v, "vcache"}}) {
    auto cache = SymbolTable::lookupNearestSymbolFrom<KvCacheOp>(*this, ref);
    if (!cache)
      continue; // stc-tile-attention names a missing cache
    auto t = dyn_cast<RankedTensorType>(cache.getType());
    if (!t || t.getRank() != 3 || t.getDimSize(0) != row.getDimSize(0) ||
        t.getDimSize(2) != row.getDimSize(2) ||
        t.getElementType() != row.getElementType())
      return emitOpError() << what << " " << ref << " must be ["
                           << row.getDimSize(0) << ", context, "
                           << row.getDimSize(2) << "] of "
                           << row.getElementType() << ", got "
                           << cache.getType();
  }
  return verifyHeadSplit(*this, getPatterns(), heads);
}

namespace {
LogicalResult verifySummaryOp(Operation *op, Type type, int64_t block,
                              int64_t summary) {
  auto t = cast<RankedTensorType>(type);
  if (t.getRank() != 3)
    return op->emitOpError() << "x must be [batch, time, width], got "
                             << shapeStr(t);
  if (block < 2 || summary < 1 || summary >= block)
    return op->emitOpError() << "needs 1 <= summary < block (got block "
                             << block << ", summary " << summary << ")";
  return success();
}
} // namespace

LogicalResult GatherSummariesOp::verify() {
  return verifySummaryOp(*this, getType(), static_cast<int64_t>(getBlock()),
                         static_cast<int64_t>(getSummary()));
}

LogicalResult ScatterSummariesOp::verify() {
  return verifySummaryOp(*this, getType(), static_cast<int64_t>(getBlock()),
                         static_cast<int64_t>(getSummary()));
}

/// An st.attention_split (or its gradient) with `stride`: the second source
/// is the keys themselves, attended in the stride-permuted order, so the
/// stride must divide T (pattern/Normalize.h StridePermutation).
static LogicalResult verifySplitStride(Operation *op,
                                       std::optional<uint64_t> stride,
                                       RankedTensorType q, Value k, Value ks,
                                       Value v, Value vs) {
  if (!stride)
    return success();
  int64_t t = q.getDimSize(1), l = static_cast<int64_t>(*stride);
  if (l < 2 || t % l != 0)
    return op->emitOpError() << "stride(" << l << ") must be >= 2 and divide "
                             << "the sequence length " << t;
  if (ks != k || vs != v)
    return op->emitOpError()
           << "with stride, ks and vs must be k and v (the second source is "
              "the same keys, attended in the permuted order)";
  return success();
}

LogicalResult AttentionSplitOp::verify() {
  auto q = getQ().getType(), k = getK().getType(), v = getV().getType();
  if (failed(verifyQK(*this, q, k, getHeadsAttr().getInt())))
    return failure();
  if (getKs().getType() != k)
    return emitOpError() << "ks must have k's type " << shapeStr(k)
                         << ", got " << shapeStr(getKs().getType());
  if (getVs().getType() != v || getResult().getType() != v)
    return emitOpError() << "vs and the result must have v's type "
                         << shapeStr(v);
  int64_t heads = getHeadsAttr().getInt();
  if (v.getRank() != 3 || v.getDimSize(0) != q.getDimSize(0) ||
      v.getDimSize(1) != q.getDimSize(1) || v.getDimSize(2) % heads != 0)
    return emitOpError() << "v must be [" << q.getDimSize(0) << ", "
                         << q.getDimSize(1) << ", a multiple of " << heads
                         << "], got " << shapeStr(v);
  if (getScale() && !(getScale()->convertToDouble() > 0))
    return emitOpError() << "scale must be > 0";
  if (failed(verifyScoreMods(*this, getScoreModsAttr())))
    return failure();
  if (getSecond().size() != getPatterns().size())
    return emitOpError() << "needs one second entry per patterns entry (got "
                         << getSecond().size() << " and "
                         << getPatterns().size() << ")";
  if (failed(verifyHeadSplit(*this, getPatterns(), heads)))
    return failure();
  if (failed(verifyHeadSplit(*this, getSecond(), heads)))
    return failure();
  return verifySplitStride(*this, getStride(), q, getK(), getKs(), getV(),
                           getVs());
}

LogicalResult AttentionSplitGradOp::verify() {
  return verifySplitStride(*this, getStride(), getQ().getType(), getK(),
                           getKs(), getV(), getVs());
}

//===----------------------------------------------------------------------===//
// Score modifications
//===----------------------------------------------------------------------===//

std::optional<KernelScoreMods> stc::st::kernelScoreMods(ArrayAttr mods,
                                                        std::string *why) {
  KernelScoreMods k;
  if (!mods)
    return k;
  bool leading = true;
  for (Attribute m : mods) {
    if (auto t = dyn_cast<TemperatureAttr>(m)) {
      if (!leading) {
        *why = "a #st.temperature comes after a #st.softcap or #st.alibi; the "
               "fused kernels take temperatures first (write it first)";
        return std::nullopt;
      }
      k.temperature *= t.getValue().convertToDouble();
      continue;
    }
    leading = false;
    if (auto c = dyn_cast<SoftcapAttr>(m)) {
      if (k.softcap != 0.0) {
        *why = "has two #st.softcap; the fused kernels take at most one";
        return std::nullopt;
      }
      k.softcap = c.getValue().convertToDouble();
    } else if (auto a = dyn_cast<AlibiAttr>(m)) {
      if (k.alibi != 0.0) {
        *why = "has two #st.alibi; the fused kernels take at most one";
        return std::nullopt;
      }
      k.alibi = a.getValue().convertToDouble();
      k.alibiFirst = k.softcap == 0.0;
    }
  }
  return k;
}

ArrayAttr stc::st::AttentionChain::scoreMods() const {
  if (mods.empty())
    return {};
  SmallVector<Attribute> list;
  for (ScoreModOp m : mods)
    list.push_back(m.getMod());
  return ArrayAttr::get(mods.front()->getContext(), list);
}

std::optional<AttentionChain>
stc::st::attentionChain(AttentionWeightedSumOp sum, std::string *why) {
  AttentionChain c;
  c.softmax = sum.getProbs().getDefiningOp<MaskedSoftmaxOp>();
  if (!c.softmax) {
    *why = "its probabilities do not come from st.masked_softmax";
    return std::nullopt;
  }
  if (!c.softmax->hasOneUse()) {
    *why = "its probabilities are used by another op as well";
    return std::nullopt;
  }
  Value s = c.softmax.getScores();
  while (auto mod = s.getDefiningOp<ScoreModOp>()) {
    if (!mod->hasOneUse()) {
      *why = "a st.score_mod result is used by another op as well";
      return std::nullopt;
    }
    c.mods.insert(c.mods.begin(), mod);
    s = mod.getScores();
  }
  c.scores = s.getDefiningOp<AttentionScoresOp>();
  if (!c.scores) {
    *why = "its softmax's scores do not come from st.attention_scores";
    return std::nullopt;
  }
  if (!c.scores->hasOneUse()) {
    *why = "its scores are used by another op as well";
    return std::nullopt;
  }
  if (c.softmax.getPatterns() != c.scores.getPatterns()) {
    *why = "its softmax masks other patterns than its scores were computed "
           "for";
    return std::nullopt;
  }
  return c;
}

namespace {
LogicalResult verifyScoreMods(Operation *op, ArrayAttr mods) {
  std::string why;
  if (!kernelScoreMods(mods, &why))
    return op->emitOpError() << "score_mods " << why;
  return success();
}
} // namespace

LogicalResult ScoreModOp::verify() {
  auto s = getScores().getType();
  if (s.getRank() != 4 || s.getDimSize(2) != s.getDimSize(3))
    return emitOpError() << "scores must be [batch, heads, time, time], got "
                         << shapeStr(s);
  return success();
}

LogicalResult AttentionScoresOp::verify() {
  auto q = getQ().getType(), k = getK().getType(),
       result = getResult().getType();
  if (failed(verifyQK(*this, q, k, getHeadsAttr().getInt())))
    return failure();
  int64_t b = q.getDimSize(0), t = q.getDimSize(1);
  int64_t heads = getHeadsAttr().getInt();
  SmallVector<int64_t> expected = {b, heads, t, t};
  if (result.getShape() != ArrayRef<int64_t>(expected))
    return emitOpError() << "result must be [" << b << ", " << heads
                         << ", " << t << ", " << t << "], got "
                         << shapeStr(result);
  return verifyHeadSplit(*this, getPatterns(), heads);
}

LogicalResult MaskedSoftmaxOp::verify() {
  auto s = getScores().getType();
  if (s.getRank() != 4 || s.getDimSize(2) != s.getDimSize(3))
    return emitOpError() << "scores must be [batch, heads, time, time], got "
                         << shapeStr(s);
  return verifyHeadSplit(*this, getPatterns(), s.getDimSize(1));
}

LogicalResult AttentionWeightedSumOp::verify() {
  auto p = getProbs().getType(), v = getV().getType(),
       result = getResult().getType();
  if (p.getRank() != 4 || p.getDimSize(2) != p.getDimSize(3))
    return emitOpError() << "probs must be [batch, heads, time, time], got "
                         << shapeStr(p);
  int64_t b = p.getDimSize(0), h = p.getDimSize(1), t = p.getDimSize(2);
  if (v.getRank() != 3 || v.getDimSize(0) != b || v.getDimSize(1) != t ||
      v.getDimSize(2) % h != 0)
    return emitOpError() << "v must be [" << b << ", " << t
                         << ", Dv] with Dv divisible by " << h << " heads, got "
                         << shapeStr(v);
  if (result != v)
    return emitOpError() << "result must have v's type " << shapeStr(v);
  return success();
}

LogicalResult CrossEntropyOp::verify() {
  auto logits = getLogits().getType(), targets = getTargets().getType();
  if (logits.getRank() < 2)
    return emitOpError() << "logits must be [..., vocab], got "
                         << shapeStr(logits);
  if (targets.getShape() != logits.getShape().drop_back())
    return emitOpError() << "targets must have the logits' shape without the "
                            "vocab dim, got "
                         << shapeStr(targets) << " for logits "
                         << shapeStr(logits);
  return success();
}

//===----------------------------------------------------------------------===//
// Head patterns
//===----------------------------------------------------------------------===//

FailureOr<SmallVector<pattern::Pattern>> AttentionOp::headPatterns() {
  return resolveHeadPatterns(getPatterns(), getHeads(), *this);
}
FailureOr<SmallVector<pattern::Pattern>> AttentionGradOp::headPatterns() {
  return resolveHeadPatterns(getPatterns(), getHeads(), *this);
}
FailureOr<SmallVector<pattern::Pattern>> AttentionSplitOp::headPatterns() {
  return resolveHeadPatterns(getPatterns(), getHeads(), *this);
}
FailureOr<SmallVector<pattern::Pattern>> AttentionSplitGradOp::headPatterns() {
  return resolveHeadPatterns(getPatterns(), getHeads(), *this);
}
FailureOr<SmallVector<pattern::Pattern>> AttentionScoresOp::headPatterns() {
  return resolveHeadPatterns(getPatterns(), getHeads(), *this);
}
FailureOr<SmallVector<pattern::Pattern>> MaskedSoftmaxOp::headPatterns() {
  return resolveHeadPatterns(getPatterns(), getScores().getType().getDimSize(1),
                             *this);
}
FailureOr<SmallVector<pattern::Pattern>> AttentionScoresGradOp::headPatterns() {
  return resolveHeadPatterns(getPatterns(), getHeads(), *this);
}
FailureOr<SmallVector<pattern::Pattern>> MaskedSoftmaxGradOp::headPatterns() {
  return resolveHeadPatterns(getPatterns(), getDy().getType().getDimSize(1),
                             *this);
}
