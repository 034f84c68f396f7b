//===- StkOps.cpp - The stk kernel-program dialect ------------------------===//

#include "dialect/stk/StkOps.h"
#include "abi/Limits.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace stc;
using namespace stc::stk;

#include "dialect/stk/StkDialect.cpp.inc"

void StkDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialect/stk/StkOps.cpp.inc"
      >();
}

#define GET_OP_CLASSES
#include "dialect/stk/StkOps.cpp.inc"

std::optional<abi::DType> stc::stk::dtypeOf(Type t) {
  if (t.isF32())
    return abi::DType::F32;
  if (t.isBF16())
    return abi::DType::BF16;
  if (t.isF16())
    return abi::DType::F16;
  if (t.isInteger(32))
    return abi::DType::I32;
  return std::nullopt;
}

namespace {
std::string printed(Attribute attr) {
  std::string text;
  llvm::raw_string_ostream(text) << attr;
  return text;
}

abi::AttrValue toAttrValue(Attribute attr) {
  if (auto b = dyn_cast<BoolAttr>(attr))
    return b.getValue();
  if (auto i = dyn_cast<IntegerAttr>(attr))
    return i.getInt();
  if (auto f = dyn_cast<FloatAttr>(attr))
    return f.getValueAsDouble();
  if (auto a = dyn_cast<ArrayAttr>(attr)) {
    if (a.empty())
      return abi::Pairs{};
    if (llvm::all_of(a, [](Attribute e) { return isa<StringAttr>(e); })) {
      abi::Names names;
      for (Attribute e : a)
        names.push_back(cast<StringAttr>(e).getValue().str());
      return names;
    }
    if (llvm::all_of(a, [](Attribute e) { return isa<IntegerAttr>(e); })) {
      abi::Ints ints;
      for (Attribute e : a)
        ints.push_back(cast<IntegerAttr>(e).getInt());
      return ints;
    }
    auto isPair = [](Attribute e) {
      auto p = dyn_cast<ArrayAttr>(e);
      return p && p.size() == 2 && isa<IntegerAttr>(p[0]) &&
             isa<IntegerAttr>(p[1]);
    };
    if (llvm::all_of(a, isPair)) {
      abi::Pairs pairs;
      for (Attribute e : a) {
        auto p = cast<ArrayAttr>(e);
        pairs.emplace_back(cast<IntegerAttr>(p[0]).getInt(),
                           cast<IntegerAttr>(p[1]).getInt());
      }
      return pairs;
    }
  }
  return abi::Unsupported{printed(attr)};
}

constexpr const char *kRoles =
    "param, grad, moment, activation, input, output, scalars, cache";
} // namespace

abi::Attrs stc::stk::launchAttrs(DictionaryAttr params) {
  abi::Attrs attrs;
  for (NamedAttribute a : params)
    attrs[a.getName().str()] = toAttrValue(a.getValue());
  return attrs;
}

bool BufferOp::isPersistent() {
  StringRef role = getRole();
  return role == "param" || role == "moment" || role == "scalars";
}

bool BufferOp::isSession() { return getRole() == "cache"; }

int64_t BufferOp::sizeInBytes() {
  auto type = cast<RankedTensorType>(getType());
  return type.getNumElements() * abi::dtypeSize(*dtypeOf(type.getElementType()));
}

LogicalResult BufferOp::verify() {
  auto type = dyn_cast<RankedTensorType>(getType());
  if (!type || !type.hasStaticShape() || !dtypeOf(type.getElementType()))
    return emitOpError() << "type must be a static tensor of f32, bf16, f16 "
                            "or i32 (the artifact's dtypes), got "
                         << getType();
  bool known = llvm::StringSwitch<bool>(getRole())
                   .Cases({"param", "grad", "moment", "activation", "input"}, true)
                   .Cases({"output", "scalars", "cache"}, true)
                   .Default(false);
  if (!known)
    return emitOpError() << "unknown role '" << getRole()
                         << "'; valid: " << kRoles;
  if (getOffset() &&
      (*getOffset() < 0 || *getOffset() % abi::kBufferAlignment != 0))
    return emitOpError() << "offset " << *getOffset()
                         << " must be a non-negative multiple of "
                         << abi::kBufferAlignment;
  return success();
}

LogicalResult LaunchOp::verify() {
  if (!abi::findOpSpec(getKind()))
    return emitOpError() << "unknown op kind '" << getKind()
                         << "'; valid: " << abi::validOpKinds();
  return success();
}

LogicalResult
LaunchOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  // The full signature of abi/Ops.def: attributes (names, types, ranges),
  // then the buffers' count, dtypes and element counts.
  std::vector<abi::BufferRef> refs;
  for (auto [i, arg] : llvm::enumerate(getArgs())) {
    auto ref = cast<SymbolRefAttr>(arg);
    auto buffer = symbolTable.lookupNearestSymbolFrom<BufferOp>(*this, ref);
    if (!buffer)
      return emitOpError() << "argument " << i << " (" << ref
                           << ") is not an stk.buffer";
    auto type = dyn_cast<RankedTensorType>(buffer.getType());
    std::optional<abi::DType> dtype =
        type ? dtypeOf(type.getElementType()) : std::nullopt;
    if (!dtype || !type.hasStaticShape())
      return emitOpError() << "argument " << i << " (" << ref
                           << ") is not a static f32, bf16, f16 or i32 buffer";
    refs.push_back({buffer.getSymName().str(), static_cast<int>(i), *dtype,
                    type.getNumElements()});
    // Buffers are identified by name for the aliasing rule.
    for (size_t j = 0; j < i; ++j)
      if (refs[j].name == refs[i].name)
        refs[i].id = refs[j].id;
  }
  abi::Problem problem;
  if (!abi::checkOp(getKind(), launchAttrs(getParams()), refs, &problem))
    return emitOpError() << "'" << getKind() << "': " << problem.str();
  return success();
}
