//===- Profile.cpp - Where an entry's time goes, op by op -----------------===//

#include "runtime/Profile.h"

#include "abi/OpSpec.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <numeric>

namespace stc::rt {

namespace {

/// The buffer an op writes last in its argument list (its main output), for
/// naming an op in a table.
std::string outName(const Artifact &a, const Op &op) {
  return op.args.empty() ? std::string("-")
                         : a.buffers[static_cast<size_t>(op.args.back())].name;
}

} // namespace

Expected<EntryProfile> profileEntry(Executor &exec, EntryKind kind,
                                    int repeats) {
  const Artifact &a = exec.artifact();
  const Entry &entry = a.entry(kind);
  if (!entry.present || entry.ops.empty())
    return Status::error(std::string("the artifact has no ") +
                         entryKindName(kind) + " ops to profile");
  EntryProfile p;
  p.kind = kind;
  p.entry = entryKindName(kind);
  p.executor = exec.name();
  p.repeats = repeats;
  auto times = exec.profileOps(kind, repeats);
  if (!times)
    return times.status().withContext("profiling " + p.entry);
  p.opMs = std::move(times->opMs);
  p.wholeMs = times->wholeMs;
  p.opSumMs = std::accumulate(p.opMs.begin(), p.opMs.end(), 0.0);

  std::map<std::string, KindTime> kinds;
  for (size_t i = 0; i < entry.ops.size(); ++i) {
    const Op &op = entry.ops[i];
    (op.kernel >= 0 ? p.launches : p.libraryCalls) += 1;
    KindTime &k = kinds[opKindName(op.kind)];
    k.kind = opKindName(op.kind);
    k.ops += 1;
    k.ms += p.opMs[i];
  }
  for (auto &[name, k] : kinds)
    p.byKind.push_back(k);
  std::sort(p.byKind.begin(), p.byKind.end(),
            [](const KindTime &x, const KindTime &y) {
              return x.ms != y.ms ? x.ms > y.ms : x.kind < y.kind;
            });
  return p;
}

std::string formatProfile(const EntryProfile &p, const Artifact &a,
                          int top) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line,
                "profile of %s on %s (median of %d runs): %lld kernel "
                "launches + %lld library calls; whole step %.3f ms, ops one "
                "by one %.3f ms\n",
                p.entry.c_str(), p.executor.c_str(), p.repeats,
                static_cast<long long>(p.launches),
                static_cast<long long>(p.libraryCalls), p.wholeMs, p.opSumMs);
  out += line;
  out += "  kind                      ops        ms   share\n";
  for (const KindTime &k : p.byKind) {
    std::snprintf(line, sizeof line, "  %-22s %6lld %9.3f  %5.1f%%\n",
                  k.kind.c_str(), static_cast<long long>(k.ops), k.ms,
                  p.opSumMs > 0 ? 100.0 * k.ms / p.opSumMs : 0.0);
    out += line;
  }
  std::vector<size_t> order(p.opMs.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return p.opMs[x] != p.opMs[y] ? p.opMs[x] > p.opMs[y] : x < y;
  });
  const Entry &entry = a.entry(p.kind);
  if (top > 0 && !order.empty()) {
    out += "  slowest ops:\n";
    for (size_t j = 0; j < order.size() && j < static_cast<size_t>(top); ++j) {
      const Op &op = entry.ops[order[j]];
      std::snprintf(line, sizeof line, "    op %5zu %-18s -> %-28s %9.3f ms\n",
                    order[j], opKindName(op.kind), outName(a, op).c_str(),
                    p.opMs[order[j]]);
      out += line;
    }
  }
  return out;
}

json::Value profileJson(const EntryProfile &p, const Artifact &a) {
  json::Value v = json::Value::object();
  v.set("entry", p.entry);
  v.set("executor", p.executor);
  v.set("repeats", p.repeats);
  v.set("whole_ms", p.wholeMs);
  v.set("op_sum_ms", p.opSumMs);
  v.set("launches", p.launches);
  v.set("library_calls", p.libraryCalls);
  json::Value kinds = json::Value::array();
  for (const KindTime &k : p.byKind) {
    json::Value kv = json::Value::object();
    kv.set("kind", k.kind);
    kv.set("ops", k.ops);
    kv.set("ms", k.ms);
    kinds.push(std::move(kv));
  }
  v.set("by_kind", std::move(kinds));
  const Entry &entry = a.entry(p.kind);
  json::Value ops = json::Value::array();
  for (size_t i = 0; i < p.opMs.size(); ++i) {
    json::Value ov = json::Value::object();
    ov.set("index", static_cast<int64_t>(i));
    ov.set("kind", opKindName(entry.ops[i].kind));
    ov.set("out", outName(a, entry.ops[i]));
    ov.set("ms", p.opMs[i]);
    ops.push(std::move(ov));
  }
  v.set("ops", std::move(ops));
  return v;
}

} // namespace stc::rt
