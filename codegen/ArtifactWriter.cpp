//===- ArtifactWriter.cpp - stk program -> artifact directory -------------===//

#include "codegen/ArtifactWriter.h"

#include "abi/Hash.h"
#include "abi/Limits.h"
#include "codegen/KernelEmitter.h"
#include "dialect/st/StOps.h"
#include "dialect/stk/StkOps.h"

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

/// One line per element: the manifest stays small (no indentation) and
/// still reads and diffs line by line.
void writeLines(llvm::raw_ostream &os, const json::Array &items) {
  os << "[";
  for (size_t i = 0; i < items.size(); ++i)
    os << (i ? ",\n  " : "\n  ") << items[i];
  os << (items.empty() ? "]" : "\n]");
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

  // Buffers, referenced everywhere else by their index in this table.
  llvm::StringMap<int64_t> bufferIndex;
  llvm::StringMap<stk::BufferOp> buffers;
  json::Array bufferJson;
  int64_t paramCount = 0;
  for (auto buffer : module.getOps<stk::BufferOp>()) {
    auto type = cast<RankedTensorType>(buffer.getType());
    if (!buffer.getOffset())
      return buffer.emitOpError() << "has no offset; run stc-plan-memory";
    bufferIndex[buffer.getSymName()] = static_cast<int64_t>(bufferJson.size());
    buffers[buffer.getSymName()] = buffer;
    json::Array shape;
    for (int64_t d : type.getShape())
      shape.push_back(d);
    json::Object entry{
        {"name", buffer.getSymName()},
        {"dtype", abi::dtypeName(*stk::dtypeOf(type.getElementType()))},
        {"shape", std::move(shape)},
        {"offset", *buffer.getOffset()},
        {"persistent", buffer.isPersistent()},
    };
    if (buffer.isSession())
      entry["session"] = true;
    bufferJson.push_back(std::move(entry));
    if (buffer.getRole() == "param")
      paramCount += type.getNumElements();
  }
  auto indexOf = [&](Attribute ref) {
    return bufferIndex.lookup(cast<FlatSymbolRefAttr>(ref).getValue());
  };

  // Parameters.
  json::Array params;
  for (auto param : module.getOps<stk::ParameterOp>()) {
    auto init = cast<st::InitAttr>(param.getInit());
    json::Object initJson{{"dist", st::stringifyInitKind(init.getKind())}};
    if (init.getKind() == st::InitKind::Normal)
      initJson["std"] = init.getStd().convertToDouble();
    json::Object entry{
        {"name", param.getSymName().drop_front(strlen("param."))},
        {"buffer", indexOf(param.getValueAttr())},
        {"grad", indexOf(param.getGradAttr())},
        {"adam_m", indexOf(param.getAdamMAttr())},
        {"adam_v", indexOf(param.getAdamVAttr())},
        {"init", std::move(initJson)},
        {"decay", param.getDecay()},
    };
    if (param.getMasterAttr())
      entry["master"] = indexOf(param.getMasterAttr());
    params.push_back(std::move(entry));
  }

  // Layouts: named by pattern, n, block and fingerprint; the runtime
  // rebuilds the tables.
  json::Array layoutJson;
  std::map<std::string, LayoutDesc> layoutDescs;
  for (auto layout : module.getOps<st::LayoutOp>()) {
    if (failed(layout.requireEliminated()))
      return failure();
    FailureOr<pattern::Pattern> p =
        cast<st::PatternAttrInterface>(layout.getPattern()).toPattern(layout);
    if (failed(p))
      return failure();
    layoutDescs.emplace(
        layout.getSymName().str(),
        LayoutDesc{layout.getSymName().str(), *p, layout.getNAttr().getInt(),
                   layout.getBlockAttr().getInt()});
    layoutJson.push_back(json::Object{
        {"name", layout.getSymName()},
        {"pattern", p->str()},
        {"n", layout.getNAttr().getInt()},
        {"block", layout.getBlockAttr().getInt()},
        {"blocks", layout.getBlocksAttr().getInt()},
        {"fnv1a64", *layout.getFnv1a64()},
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
  llvm::StringMap<int64_t> kernelsByKey;
  json::Array kernelJson;
  std::vector<std::pair<std::string, json::Object>> entries;
  int64_t batch = 0, sampleBatch = 0;
  for (auto program : module.getOps<stk::ProgramOp>()) {
    json::Array ops;
    for (Operation &op : program.getBody().front()) {
      auto launch = cast<stk::LaunchOp>(op);
      std::string kind = launch.getKind().str();
      json::Array args;
      std::vector<abi::BufferRef> refs;
      for (Attribute arg : launch.getArgs()) {
        int64_t index = indexOf(arg);
        args.push_back(index);
        auto type = cast<RankedTensorType>(
            buffers.lookup(cast<FlatSymbolRefAttr>(arg).getValue()).getType());
        refs.push_back({cast<FlatSymbolRefAttr>(arg).getValue().str(),
                        static_cast<int>(index),
                        *stk::dtypeOf(type.getElementType()),
                        type.getNumElements()});
      }
      json::Object attrs;
      for (NamedAttribute a : launch.getParams())
        attrs[a.getName().getValue()] = attrToJson(a.getValue());
      json::Object opJson{{"op", kind}, {"args", std::move(args)},
                          {"attrs", std::move(attrs)}};
      abi::Problem problem;
      std::optional<abi::CheckedOp> checked = abi::checkOp(
          kind, stk::launchAttrs(launch.getParams()), refs, &problem);
      if (!checked)
        return launch.emitOpError() << problem.str();
      if (checked->spec->hasKernel()) {
        EmitRequest request{&*checked, "", {}};
        std::string key = kind;
        for (abi::DType d : checked->argDtypes)
          key += std::string("|") + abi::dtypeName(d);
        for (const std::string &name : checked->decoded.layouts) {
          auto it = layoutDescs.find(name);
          if (it == layoutDescs.end())
            return launch.emitOpError() << "names layout '" << name
                                        << "', which the module lacks";
          request.layouts.push_back(it->second);
          key += "|" + it->second.pattern.str() + "@" +
                 std::to_string(it->second.n) + "/" +
                 std::to_string(it->second.block);
        }
        for (const auto &[name, value] : checked->attrs)
          key += "|" + name + "=" + abi::attrText(value);
        request.kernelName =
            kind + "_" + abi::hex64(abi::fnv1a64(key)).substr(0, 10);
        auto it = kernelsByKey.find(key);
        if (it == kernelsByKey.end()) {
          std::string error;
          std::optional<KernelSource> source = emitKernel(request, &error);
          if (!source)
            return launch.emitOpError() << "cannot generate its kernel: "
                                        << error;
          std::string file = "kernels/" + request.kernelName + ".cu";
          if (failed(writeFile(module, options.outDir + "/" + file,
                               source->source)))
            return failure();
          if (!options.emitCudaDir.empty() &&
              failed(writeFile(module,
                               options.emitCudaDir + "/" + request.kernelName +
                                   ".cu",
                               source->source)))
            return failure();
          kernelJson.push_back(json::Object{
              {"name", request.kernelName},
              {"source", file},
              {"bytes", static_cast<int64_t>(source->source.size())},
              {"fnv1a64", abi::hex64(abi::fnv1a64(source->source))},
              {"grid",
               json::Array{source->grid[0], source->grid[1], source->grid[2]}},
              {"block", json::Array{source->block[0], source->block[1],
                                    source->block[2]}},
              {"smem", source->smem},
          });
          it = kernelsByKey
                   .insert({key, static_cast<int64_t>(kernelJson.size()) - 1})
                   .first;
        }
        opJson["kernel"] = it->second;
      }
      ops.push_back(std::move(opJson));
    }
    json::Object inputs, outputs;
    for (NamedAttribute in : program.getInputs()) {
      inputs[in.getName().getValue()] = indexOf(in.getValue());
      auto rows = [&] {
        return cast<RankedTensorType>(
                   buffers
                       .lookup(cast<FlatSymbolRefAttr>(in.getValue()).getValue())
                       .getType())
            .getDimSize(0);
      };
      if (program.getSymName() == "train_step" && in.getName() == "tokens")
        batch = rows();
      if (program.getSymName() == "sample_step" && in.getName() == "token")
        sampleBatch = rows();
    }
    for (NamedAttribute out : program.getOutputs())
      outputs[out.getName().getValue()] = indexOf(out.getValue());
    entries.push_back({program.getSymName().str(),
                       json::Object{{"inputs", std::move(inputs)},
                                    {"outputs", std::move(outputs)},
                                    {"ops", std::move(ops)}}});
  }

  std::string dtype;
  llvm::raw_string_ostream(dtype) << model.getDtype();
  json::Object modelJson{
      {"name", model.getSymName()},
      {"vocab", static_cast<int64_t>(model.getVocab())},
      {"context", static_cast<int64_t>(model.getContextSize())},
      {"width", static_cast<int64_t>(model.getWidth())},
      {"heads", static_cast<int64_t>(model.getHeads())},
      {"layers", static_cast<int64_t>(model.layers().size())},
      {"batch", batch},
      {"sample_batch", sampleBatch ? sampleBatch : batch},
      {"dtype", dtype},
      {"param_count", paramCount}};
  // A model of data-aligned positions over [height, width(, channels)] is an
  // image model: stc sample --png draws its samples.
  st::PositionAttr position = model.getPosition();
  if (position.getKind() == st::PositionKind::DataAligned) {
    ArrayRef<int64_t> dims = position.getDims();
    int64_t channels = dims.size() == 3 ? dims[2] : 1;
    if ((dims.size() == 2 || dims.size() == 3) &&
        (channels == 1 || channels == 3 || channels == 4))
      modelJson["image"] = json::Array{dims[0], dims[1], channels};
  }

  std::string text;
  llvm::raw_string_ostream os(text);
  os << "{\n\"format\": \"stc-artifact\",\n\"version\": "
     << abi::kArtifactVersion << ",\n\"producer\": "
     << json::Value(options.producer) << ",\n\"model\": "
     << json::Value(std::move(modelJson))
     << ",\n\"arena_bytes\": " << arena.getInt() << ",\n\"buffers\": ";
  writeLines(os, bufferJson);
  os << ",\n\"params\": ";
  writeLines(os, params);
  if (bufferIndex.count("loss_scale"))
    os << ",\n\"loss_scale\": "
       << json::Value(json::Object{{"buffer", bufferIndex.lookup("loss_scale")},
                                   {"init", abi::kLossScaleInit}});
  os << ",\n\"layouts\": ";
  writeLines(os, layoutJson);
  os << ",\n\"kernels\": ";
  writeLines(os, kernelJson);
  os << ",\n\"entries\": {";
  for (size_t i = 0; i < entries.size(); ++i) {
    json::Object &e = entries[i].second;
    os << (i ? ",\n" : "\n") << json::Value(entries[i].first)
       << ": {\"inputs\": " << json::Value(std::move(*e.get("inputs")))
       << ", \"outputs\": " << json::Value(std::move(*e.get("outputs")))
       << ", \"ops\": ";
    writeLines(os, *e.get("ops")->getAsArray());
    os << "}";
  }
  os << "\n}\n}\n";
  return writeFile(module, options.outDir + "/manifest.json", text);
}
