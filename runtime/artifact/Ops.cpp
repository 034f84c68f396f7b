//===- Ops.cpp - Entries and their ops, against abi/Ops.def ---------------===//
//
// Every op is checked by abi::checkOp, the same check the stk.launch
// verifier runs at compile time: its kind, attributes (names, types, ranges,
// cross-attribute rules) and arguments (count, dtypes, element counts,
// aliasing). What remains here is what ties an op to the rest of the
// manifest: buffer and kernel indices, layout names, the optimizer's
// parameter, and the memory plan.
//
//===----------------------------------------------------------------------===//

#include "runtime/artifact/ManifestJson.h"
#include "runtime/artifact/Validator.h"

namespace stc::rt::manifest {

namespace {

const char *const kEntryKeys[kNumEntryKinds] = {"train_step", "eval_step",
                                                "sample_step"};

struct RoleSpec {
  const char *role;
  DType dtype;
  int64_t elements;
  const char *shape;
};

Status readRoles(const Artifact &a, const json::Value &entry, const char *key,
                 const std::string &where, const std::vector<RoleSpec> &specs,
                 std::vector<std::pair<std::string, int>> &out) {
  const json::Value *m;
  STC_RETURN_IF_ERROR(getMember(entry, key, where, m));
  std::string w = where + "." + key;
  if (!m->isObject())
    return fail(w,
                "must be an object mapping roles to buffer indices, got " +
                    show(*m),
                m);
  std::string valid;
  for (const auto &s : specs)
    valid += (valid.empty() ? "" : ", ") + std::string(s.role);
  for (const auto &kv : m->asObject()) {
    bool known = false;
    for (const auto &s : specs)
      known |= kv.first == s.role;
    if (!known)
      return fail(
          w, "unknown role " + quoted(kv.first) + " (valid: " + valid + ")",
          &kv.second);
  }
  for (const auto &s : specs) {
    const json::Value *v;
    STC_RETURN_IF_ERROR(getMember(*m, s.role, w, v));
    int idx;
    STC_RETURN_IF_ERROR(getIndex(*v, w + "." + s.role,
                                 static_cast<int64_t>(a.buffers.size()),
                                 "buffers", idx));
    const Buffer &b = a.buffers[idx];
    if (b.dtype != s.dtype || b.elements() != s.elements)
      return fail(w + "." + s.role,
                  "buffer " + quoted(b.name) + " is " + dtypeName(b.dtype) +
                      " with " + std::to_string(b.elements()) +
                      " elements; expected " + dtypeName(s.dtype) + " " +
                      s.shape + " = " + std::to_string(s.elements) +
                      " elements",
                  v);
    out.emplace_back(s.role, idx);
  }
  return Status::ok();
}

/// The optimizer must update each parameter of its group with its own
/// gradient, moments and master weights (exactly the parameters that have
/// them), and decay it exactly where the parameter table says so.
Status checkAdamW(const Artifact &a, const Op &op, const std::string &where,
                  const json::Value &oj) {
  const json::Value *args = oj.find("args");
  const size_t n = op.attrs.counts.size();
  for (size_t i = 0; i < n; ++i) {
    const int param = op.args[i];
    const Param *p = nullptr;
    for (const Param &q : a.params)
      if (q.buffer == param)
        p = &q;
    if (!p)
      return fail(where + ": arg " + std::to_string(i) + " (param_" +
                      std::to_string(i) + ")",
                  "buffer " + quoted(a.buffers[param].name) +
                      " is not the value buffer of any entry of params",
                  args);
    if (op.attrs.master != (p->master >= 0))
      return fail(where + ": attrs.master",
                  std::string("is ") + (op.attrs.master ? "true" : "false") +
                      " but parameter " + quoted(p->name) +
                      (p->master >= 0 ? " has master weights (buffer " +
                                            quoted(a.buffers[p->master].name) +
                                            ")"
                                      : " has none"),
                  oj.find("attrs"));
    struct Part {
      const char *name;
      size_t at;
      int want;
    };
    std::vector<Part> parts = {{"grad", n + i, p->grad},
                               {"m", 2 * n + i, p->adamM},
                               {"v", 3 * n + i, p->adamV}};
    if (op.attrs.master)
      parts.push_back({"master", 4 * n + i, p->master});
    for (const Part &part : parts)
      if (op.args[part.at] != part.want)
        return fail(where + ": arg " + std::to_string(part.at) + " (" +
                        part.name + "_" + std::to_string(i) + ")",
                    "is buffer " + quoted(a.buffers[op.args[part.at]].name) +
                        " but parameter " + quoted(p->name) + " lists " +
                        quoted(a.buffers[part.want].name),
                    args);
    if ((op.attrs.decay[i] != 0) != p->decay)
      return fail(where + ": attrs.decay",
                  "element " + std::to_string(i) + " is " +
                      std::to_string(op.attrs.decay[i]) + " but parameter " +
                      quoted(p->name) + " has decay " +
                      (p->decay ? "true (must be 1)" : "false (must be 0)"),
                  oj.find("attrs")->find("decay"));
  }
  return Status::ok();
}

Status readOp(const Artifact &a, const NameIndex &names,
              const std::string &entryName, size_t index, const json::Value &oj,
              Op &op) {
  std::string where = entryName + " op " + std::to_string(index);
  STC_RETURN_IF_ERROR(checkKeys(oj, where, {"op", "args", "attrs", "kernel"}));
  std::string name;
  STC_RETURN_IF_ERROR(getString(oj, "op", where, name));
  const abi::OpSpec *spec = abi::findOpSpec(name);
  if (!spec)
    return fail(where + ".op",
                "unknown op kind " + quoted(name) +
                    " (valid: " + abi::validOpKinds() + ")",
                oj.find("op"));
  where += " (" + name + ")";

  const json::Value *attrs, *args;
  STC_RETURN_IF_ERROR(getMember(oj, "attrs", where, attrs));
  if (!attrs->isObject())
    return fail(where + ": attrs", "must be an object, got " + show(*attrs),
                attrs);
  STC_RETURN_IF_ERROR(getMember(oj, "args", where, args));
  if (!args->isArray())
    return fail(where + ": args",
                "must be an array of buffer indices, got " + show(*args), args);

  abi::Attrs values;
  for (const auto &[key, v] : attrs->asObject())
    values[key] = toAttrValue(v);
  std::vector<abi::BufferRef> refs;
  for (size_t i = 0; i < args->size(); ++i) {
    const json::Value &aj = args->asArray()[i];
    int idx;
    STC_RETURN_IF_ERROR(getIndex(aj, where + ": arg " + std::to_string(i),
                                 static_cast<int64_t>(a.buffers.size()),
                                 "buffers", idx));
    const Buffer &b = a.buffers[idx];
    refs.push_back({b.name, idx, b.dtype, b.elements()});
    op.args.push_back(idx);
  }

  abi::Problem problem;
  auto checked = abi::checkOp(name, std::move(values), refs, &problem);
  if (!checked) {
    const json::Value *at = attrs;
    if (!problem.attr.empty() && attrs->find(problem.attr))
      at = attrs->find(problem.attr);
    else if (problem.arg >= 0)
      at = &args->asArray()[problem.arg];
    else if (problem.attr.empty())
      at = args;
    return fail(where, problem.str(), at);
  }
  op.kind = checked->kind();
  op.attrs = std::move(checked->decoded);

  // Attention ops name their layouts; each must tile the op's sequence.
  for (const std::string &ln : op.attrs.layouts) {
    auto it = names.layouts.find(ln);
    if (it == names.layouts.end()) {
      std::string valid;
      for (const auto &l : a.layouts)
        valid += (valid.empty() ? "" : ", ") + l.name;
      return fail(where + ": attrs.layouts",
                  "names unknown layout " + quoted(ln) + " (layouts: " +
                      (valid.empty() ? "none" : valid) + ")",
                  attrs->find("layouts"));
    }
    const Layout &l = a.layouts[it->second];
    if (l.blocks.n != op.attrs.T)
      return fail(where + ": attrs.layouts",
                  "layout " + quoted(ln) + " has n=" +
                      std::to_string(l.blocks.n) + " but the op has T=" +
                      std::to_string(op.attrs.T) + " (they must be equal)",
                  attrs->find("layouts"));
    op.layouts.push_back(it->second);
  }
  if (op.kind == OpKind::AdamW)
    STC_RETURN_IF_ERROR(checkAdamW(a, op, where, oj));

  // A kernel for generated ops; none for library calls.
  const json::Value *kj = oj.find("kernel");
  if (!spec->hasKernel()) {
    if (kj)
      return fail(where + ".kernel",
                  name + " has no kernel (executors run it as a library "
                         "call); remove the key",
                  kj);
    return Status::ok();
  }
  if (!kj)
    return fail(where, "missing required key 'kernel'", &oj);
  return getIndex(*kj, where + ".kernel",
                  static_cast<int64_t>(a.kernels.size()), "kernels", op.kernel);
}

Status readEntry(Artifact &a, const NameIndex &names, EntryKind kind,
                 const json::Value &ej) {
  std::string where = kEntryKeys[static_cast<int>(kind)];
  STC_RETURN_IF_ERROR(checkKeys(ej, where, {"ops", "inputs", "outputs"}));
  Entry &entry = a.entries[static_cast<int>(kind)];
  entry.present = true;
  const ModelInfo &m = a.model;
  int64_t bt = m.batch * m.context; // both <= kMaxDim: no overflow
  if (kind == EntryKind::Sample) {
    STC_RETURN_IF_ERROR(readRoles(a, ej, "inputs", where,
                                  {{"token", DType::I32, m.sampleBatch,
                                    "[sample_batch]"}},
                                  entry.inputs));
    STC_RETURN_IF_ERROR(readRoles(
        a, ej, "outputs", where,
        {{"logits", DType::F32, m.sampleBatch * m.vocab,
          "[sample_batch, vocab]"}},
        entry.outputs));
  } else {
    STC_RETURN_IF_ERROR(
        readRoles(a, ej, "inputs", where,
                  {{"tokens", DType::I32, bt, "[batch, context]"},
                   {"targets", DType::I32, bt, "[batch, context]"}},
                  entry.inputs));
    STC_RETURN_IF_ERROR(
        readRoles(a, ej, "outputs", where,
                  {{"losses", DType::F32, bt, "[batch * context]"}},
                  entry.outputs));
  }
  const json::Value *ops;
  STC_RETURN_IF_ERROR(getMember(ej, "ops", where, ops));
  if (!ops->isArray())
    return fail(where + ".ops", "must be an array, got " + show(*ops), ops);
  entry.ops.reserve(ops->size());
  for (size_t i = 0; i < ops->size(); ++i) {
    Op op;
    STC_RETURN_IF_ERROR(readOp(a, names, where, i, ops->asArray()[i], op));
    entry.ops.push_back(std::move(op));
  }
  return checkMemoryPlan(a, where, entry, kind == EntryKind::Sample);
}

} // namespace

Status readEntries(const json::Value &root, Artifact &a,
                   const NameIndex &names) {
  const json::Value *es;
  STC_RETURN_IF_ERROR(getMember(root, "entries", "manifest", es));
  STC_RETURN_IF_ERROR(
      checkKeys(*es, "entries", {"train_step", "eval_step", "sample_step"}));
  if (es->size() == 0)
    return fail("entries",
                "must hold at least one of train_step, eval_step, sample_step",
                es);
  for (int e = 0; e < kNumEntryKinds; ++e)
    if (const json::Value *ej = es->find(kEntryKeys[e]))
      STC_RETURN_IF_ERROR(readEntry(a, names, static_cast<EntryKind>(e), *ej));
  return Status::ok();
}

} // namespace stc::rt::manifest
