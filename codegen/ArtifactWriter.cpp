//===- ArtifactWriter.cpp - stk program -> artifact directory -------------===//

#include "codegen/ArtifactWriter.h"

#include "codegen/KernelEmitter.h"
#include "dialect/st/StOps.h"
#include "dialect/stk/StkOps.h"
#include "runtime/support/Hash.h"

#include "llvm/ADT/StringMap.h"
#include <map>
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace stc;
using namespace stc::codegen;
namespace json = llvm::json;

namespace {

json::Value attrToJson(Attribute attr) {
  if (auto b = dyn_cast<BoolAttr>(attr))
    return b.getValue();
  if (auto i = dyn_cast<IntegerAttr>(attr))
    return i.getInt();
  if (auto f = dyn_cast<FloatAttr>(attr))
    return f.getValueAsDouble();
  if (auto s = dyn_cast<StringAttr>(attr))
    return s.getValue().str();
  if (auto a = dyn_cast<ArrayAttr>(attr)) {
    json::Array out;
    for (Attribute e : a)
      out.push_back(attrToJson(e));
    return out;
  }
  return nullptr;
}

/// The kernel emitter's view of an op attribute.
std::optional<AttrValue> attrToValue(Attribute attr) {
  if (auto b = dyn_cast<BoolAttr>(attr))
    return AttrValue(b.getValue());
  if (auto i = dyn_cast<IntegerAttr>(attr))
    return AttrValue(i.getInt());
  if (auto f = dyn_cast<FloatAttr>(attr))
    return AttrValue(f.getValueAsDouble());
  if (auto a = dyn_cast<ArrayAttr>(attr)) {
    if (a.empty() || isa<StringAttr>(a[0])) {
      std::vector<std::string> strings;
      for (Attribute e : a)
        strings.push_back(cast<StringAttr>(e).getValue().str());
      return AttrValue(strings);
    }
    std::vector<std::pair<int64_t, int64_t>> pairs;
    for (Attribute e : a) {
      auto pair = cast<ArrayAttr>(e);
      pairs.push_back({cast<IntegerAttr>(pair[0]).getInt(),
                       cast<IntegerAttr>(pair[1]).getInt()});
    }
    return AttrValue(pairs);
  }
  return std::nullopt;
}

json::Array toJsonArray(ArrayRef<int32_t> values) {
  json::Array out;
  for (int32_t v : values)
    out.push_back(v);
  return out;
}

/// Column-major view of a row-major block layout.
struct ColumnLayout {
  std::vector<int32_t> colPtr, rowIdx, classes;
};

ColumnLayout transpose(st::LayoutOp layout) {
  ArrayRef<int32_t> rowPtr = layout.getRowPtr(), colIdx = layout.getColIdx(),
                    classes = layout.getClasses();
  int64_t rows = static_cast<int64_t>(rowPtr.size()) - 1;
  ColumnLayout out;
  out.colPtr.assign(rows + 1, 0);
  for (int32_t c : colIdx)
    ++out.colPtr[c + 1];
  for (int64_t c = 0; c < rows; ++c)
    out.colPtr[c + 1] += out.colPtr[c];
  out.rowIdx.resize(colIdx.size());
  out.classes.resize(colIdx.size());
  std::vector<int32_t> next(out.colPtr.begin(), out.colPtr.end() - 1);
  for (int64_t r = 0; r < rows; ++r) // rows ascending within each column
    for (int32_t i = rowPtr[r]; i < rowPtr[r + 1]; ++i) {
      int32_t slot = next[colIdx[i]]++;
      out.rowIdx[slot] = static_cast<int32_t>(r);
      out.classes[slot] = classes[i];
    }
  return out;
}

LogicalResult writeFile(ModuleOp module, const std::string &path,
                        StringRef contents) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return module.emitError() << "cannot write " << path << ": "
                              << ec.message();
  os << contents;
  return success();
}

} // namespace

LogicalResult stc::codegen::writeArtifact(ModuleOp module,
                                          const ArtifactOptions &options) {
  auto arena = module->getAttrOfType<IntegerAttr>("stk.arena_bytes");
  if (!arena)
    return module.emitError() << "the module has no memory plan; run "
                                 "stc-plan-memory before writing an artifact";
  auto models = module.getOps<st::ModelOp>();
  if (models.empty())
    return module.emitError() << "the module has no st.model to describe";
  st::ModelOp model = *models.begin();

  // Buffers.
  llvm::StringMap<stk::BufferOp> buffers;
  json::Array bufferJson;
  int64_t paramCount = 0;
  for (auto buffer : module.getOps<stk::BufferOp>()) {
    auto type = cast<RankedTensorType>(buffer.getType());
    if (!buffer.getOffset())
      return buffer.emitOpError() << "has no offset; run stc-plan-memory";
    buffers[buffer.getSymName()] = buffer;
    json::Array shape;
    for (int64_t d : type.getShape())
      shape.push_back(d);
    bufferJson.push_back(json::Object{
        {"name", buffer.getSymName()},
        {"dtype", stk::dtypeName(type.getElementType())},
        {"shape", std::move(shape)},
        {"offset", *buffer.getOffset()},
        {"bytes", buffer.sizeInBytes()},
        {"persistent", buffer.isPersistent()},
    });
    if (buffer.getRole() == "param")
      paramCount += type.getNumElements();
  }
  auto elementTypeOf = [&](Attribute ref) {
    auto buffer = buffers.lookup(cast<FlatSymbolRefAttr>(ref).getValue());
    return cast<RankedTensorType>(buffer.getType()).getElementType();
  };

  // Parameters.
  json::Array params;
  for (auto param : module.getOps<stk::ParameterOp>()) {
    auto init = cast<st::InitAttr>(param.getInit());
    json::Object initJson{{"dist", st::stringifyInitKind(init.getKind())}};
    if (init.getKind() == st::InitKind::Normal)
      initJson["std"] = init.getStd().convertToDouble();
    params.push_back(json::Object{
        {"name", param.getSymName().drop_front(strlen("param."))},
        {"buffer", param.getValue()},
        {"grad", param.getGrad()},
        {"adam_m", param.getAdamM()},
        {"adam_v", param.getAdamV()},
        {"init", std::move(initJson)},
        {"decay", param.getDecay()},
    });
  }

  // Layouts.
  json::Array layoutJson;
  std::map<std::string, LayoutDesc> layoutDescs;
  for (auto layout : module.getOps<st::LayoutOp>()) {
    FailureOr<pattern::Pattern> p =
        cast<st::PatternAttrInterface>(layout.getPattern()).toPattern(layout);
    if (failed(p))
      return failure();
    ColumnLayout columns = transpose(layout);
    layoutDescs.emplace(
        layout.getSymName().str(),
        LayoutDesc{layout.getSymName().str(), *p, layout.getNAttr().getInt(),
                   layout.getBlockAttr().getInt()});
    layoutJson.push_back(json::Object{
        {"name", layout.getSymName()},
        {"pattern", p->str()},
        {"n", layout.getNAttr().getInt()},
        {"block", layout.getBlockAttr().getInt()},
        {"row_ptr", toJsonArray(layout.getRowPtr())},
        {"col_idx", toJsonArray(layout.getColIdx())},
        {"classes", toJsonArray(layout.getClasses())},
        {"col_ptr", toJsonArray(columns.colPtr)},
        {"row_idx", toJsonArray(columns.rowIdx)},
        {"col_classes", toJsonArray(columns.classes)},
    });
  }

  // Entry points and kernels. Ops that would compile to the same source
  // (same kind, attributes, dtypes and layouts) share one kernel.
  std::error_code ec = llvm::sys::fs::create_directories(options.outDir + "/kernels");
  if (ec)
    return module.emitError() << "cannot create " << options.outDir
                              << "/kernels: " << ec.message();
  if (!options.emitCudaDir.empty())
    if ((ec = llvm::sys::fs::create_directories(options.emitCudaDir)))
      return module.emitError() << "cannot create " << options.emitCudaDir
                                << ": " << ec.message();
  llvm::StringMap<KernelSource> kernelsByKey;
  json::Array kernelJson;
  json::Object entries;
  int64_t batch = 0;
  for (auto program : module.getOps<stk::ProgramOp>()) {
    json::Array ops;
    for (auto [index, op] : llvm::enumerate(program.getBody().front())) {
      auto launch = cast<stk::LaunchOp>(op);
      std::string kind = launch.getKind().str();
      json::Array args;
      for (Attribute arg : launch.getArgs())
        args.push_back(cast<FlatSymbolRefAttr>(arg).getValue());
      json::Object attrs;
      for (NamedAttribute a : launch.getParams())
        attrs[a.getName().getValue()] = attrToJson(a.getValue());
      json::Object opJson{{"op", kind}, {"args", std::move(args)},
                          {"attrs", std::move(attrs)}};
      if (isKernelKind(kind)) {
        OpDesc desc;
        desc.kind = kind;
        std::string key = kind;
        for (Attribute arg : launch.getArgs()) {
          desc.argDtypes.push_back(stk::dtypeName(elementTypeOf(arg)));
          key += "|" + desc.argDtypes.back();
        }
        for (NamedAttribute a : launch.getParams()) {
          std::optional<AttrValue> value = attrToValue(a.getValue());
          if (!value)
            return launch.emitOpError() << "attribute " << a.getName()
                                        << " has no kernel form";
          desc.attrs[a.getName().str()] = *value;
        }
        if (auto names = launch.getParams().getAs<ArrayAttr>("layouts"))
          for (Attribute n : names) {
            auto it = layoutDescs.find(cast<StringAttr>(n).getValue().str());
            if (it == layoutDescs.end())
              return launch.emitOpError() << "names layout " << n
                                          << ", which the module lacks";
            desc.layouts.push_back(it->second);
            key += "|" + it->second.pattern.str() + "@" +
                   std::to_string(it->second.n) + "/" +
                   std::to_string(it->second.block);
          }
        std::string attrText;
        llvm::raw_string_ostream(attrText) << launch.getParams();
        key += "|" + attrText;
        desc.kernelName =
            kind + "_" + rt::hex64(rt::fnv1a64(key)).substr(0, 10);
        auto it = kernelsByKey.find(key);
        if (it == kernelsByKey.end()) {
          std::string error;
          std::optional<KernelSource> source = emitKernel(desc, &error);
          if (!source)
            return launch.emitOpError() << "cannot generate its kernel: "
                                        << error;
          std::string file = "kernels/" + desc.kernelName + ".cu";
          if (failed(writeFile(module, options.outDir + "/" + file,
                               source->source)))
            return failure();
          if (!options.emitCudaDir.empty() &&
              failed(writeFile(module,
                               options.emitCudaDir + "/" + desc.kernelName + ".cu",
                               source->source)))
            return failure();
          kernelJson.push_back(json::Object{
              {"name", desc.kernelName},
              {"source", file},
              {"bytes", static_cast<int64_t>(source->source.size())},
              {"fnv1a64", rt::hex64(rt::fnv1a64(source->source))},
          });
          it = kernelsByKey.insert({key, std::move(*source)}).first;
        }
        const KernelSource &k = it->second;
        opJson["kernel"] = k.entry;
        opJson["grid"] = json::Array{k.grid[0], k.grid[1], k.grid[2]};
        opJson["block"] = json::Array{k.block[0], k.block[1], k.block[2]};
        opJson["smem"] = k.smem;
      }
      ops.push_back(std::move(opJson));
    }
    json::Object inputs, outputs;
    for (NamedAttribute in : program.getInputs()) {
      inputs[in.getName().getValue()] =
          cast<FlatSymbolRefAttr>(in.getValue()).getValue();
      if (program.getSymName() == "train_step" && in.getName() == "tokens")
        batch = cast<RankedTensorType>(
                    buffers.lookup(cast<FlatSymbolRefAttr>(in.getValue()).getValue())
                        .getType())
                    .getDimSize(0);
    }
    for (NamedAttribute out : program.getOutputs())
      outputs[out.getName().getValue()] =
          cast<FlatSymbolRefAttr>(out.getValue()).getValue();
    entries[program.getSymName()] = json::Object{
        {"ops", std::move(ops)},
        {"inputs", std::move(inputs)},
        {"outputs", std::move(outputs)},
    };
  }

  std::string dtype;
  llvm::raw_string_ostream(dtype) << model.getDtype();
  json::Object manifest{
      {"format", "stc-artifact"},
      {"version", 1},
      {"producer", options.producer},
      {"model",
       json::Object{{"name", model.getSymName()},
                    {"vocab", static_cast<int64_t>(model.getVocab())},
                    {"context", static_cast<int64_t>(model.getContextSize())},
                    {"width", static_cast<int64_t>(model.getWidth())},
                    {"heads", static_cast<int64_t>(model.getHeads())},
                    {"layers", static_cast<int64_t>(model.layers().size())},
                    {"batch", batch},
                    {"dtype", dtype},
                    {"param_count", paramCount}}},
      {"arena_bytes", arena.getInt()},
      {"buffers", std::move(bufferJson)},
      {"params", std::move(params)},
      {"layouts", std::move(layoutJson)},
      {"kernels", std::move(kernelJson)},
      {"entries", std::move(entries)},
  };
  std::string text;
  llvm::raw_string_ostream(text) << llvm::formatv("{0:2}", json::Value(std::move(manifest)));
  return writeFile(module, options.outDir + "/manifest.json", text + "\n");
}
