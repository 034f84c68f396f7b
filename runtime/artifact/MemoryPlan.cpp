//===- MemoryPlan.cpp - Buffers that share bytes are never live together --===//
//
// The memory plan: buffers that share bytes must never hold live values at
// the same time. Liveness is computed per entry from the op roles of
// abi/Ops.def: a value is live from the op that writes it (or the entry's
// start, for inputs) to its last read (or the entry's end, for outputs).
// Reading a non-persistent buffer nothing in this entry wrote is an error
// too: its bytes may hold another buffer's data. Session buffers (sampling
// caches) are live for the whole sample step, which may read what an
// earlier sample step wrote; no other entry may touch them.
//
//===----------------------------------------------------------------------===//

#include "runtime/artifact/ManifestJson.h"
#include "runtime/artifact/Validator.h"

#include <algorithm>
#include <climits>
#include <map>

namespace stc::rt::manifest {

Status checkMemoryPlan(const Artifact &a, const std::string &where,
                       const Entry &entry, bool session) {
  const int numOps = static_cast<int>(entry.ops.size());
  struct Live {
    std::vector<std::pair<int, int>> segments;
    int start = INT_MIN; // open segment start, INT_MIN if none
    int end = 0;
  };
  std::map<int, Live> live;
  for (const auto &in : entry.inputs) {
    Live &l = live[in.second];
    l.start = -1;
    l.end = -1;
  }
  for (int i = 0; i < numOps; ++i) {
    const Op &op = entry.ops[i];
    std::vector<abi::Arg> specs = abi::signature(op.kind, op.attrs);
    // Collect per buffer whether this op reads and/or writes it.
    std::map<int, std::pair<bool, bool>> use; // buffer -> (reads, writes)
    for (size_t j = 0; j < specs.size(); ++j) {
      auto &u = use[op.args[j]];
      u.first |= specs[j].role != Role::Out;
      u.second |= specs[j].role != Role::In;
    }
    for (const auto &[buf, rw] : use) {
      const Buffer &b = a.buffers[buf];
      if (b.persistent)
        continue;
      if (b.session) {
        if (!session)
          return Status::error(
              where + " op " + std::to_string(i) + " (" +
              opKindName(op.kind) + ") uses buffer " + quoted(b.name) +
              ", a sampling cache (session buffer); only sample_step may: "
              "its bytes are shared with the other steps' buffers");
        Live &l = live[buf]; // live from the entry's start to its end
        l.start = -1;
        l.end = numOps;
        continue;
      }
      Live &l = live[buf];
      if (rw.first) {
        if (l.start == INT_MIN) {
          std::string argName;
          for (size_t j = 0; j < specs.size(); ++j)
            if (op.args[j] == buf)
              argName = specs[j].name;
          return Status::error(
              where + " op " + std::to_string(i) + " (" +
              opKindName(op.kind) + "): reads buffer " + quoted(b.name) +
              " (arg " + argName + ") before anything in " + where +
              " wrote it; a non-persistent buffer holds nothing at the "
              "start of a step (zero it first if the op accumulates)");
        }
        l.end = i;
      } else { // a full overwrite starts a new value
        if (l.start != INT_MIN)
          l.segments.emplace_back(l.start, l.end);
        l.start = i;
        l.end = i;
      }
    }
  }
  for (const auto &out : entry.outputs) {
    const Buffer &b = a.buffers[out.second];
    if (b.persistent)
      continue;
    Live &l = live[out.second];
    if (l.start == INT_MIN)
      return Status::error(where + ": output " + quoted(out.first) +
                           " (buffer " + quoted(b.name) +
                           ") is never written by its ops");
    l.end = numOps;
  }
  for (auto &kv : live)
    if (kv.second.start != INT_MIN)
      kv.second.segments.emplace_back(kv.second.start, kv.second.end);

  std::vector<int> bufs;
  for (const auto &kv : live)
    bufs.push_back(kv.first);
  std::sort(bufs.begin(), bufs.end(), [&](int x, int y) {
    return a.buffers[x].offset < a.buffers[y].offset;
  });
  auto opName = [&](int i) {
    if (i < 0)
      return std::string("the entry's start (inputs)");
    if (i >= numOps)
      return std::string("the entry's end (outputs)");
    return "op " + std::to_string(i) + " (" + opKindName(entry.ops[i].kind) +
           ")";
  };
  for (size_t i = 0; i < bufs.size(); ++i) {
    const Buffer &x = a.buffers[bufs[i]];
    for (size_t j = i + 1; j < bufs.size(); ++j) {
      const Buffer &y = a.buffers[bufs[j]];
      if (y.offset >= x.offset + x.bytes)
        break;
      for (const auto &sx : live[bufs[i]].segments)
        for (const auto &sy : live[bufs[j]].segments) {
          int lo = std::max(sx.first, sy.first);
          int hi = std::min(sx.second, sy.second);
          if (lo <= hi)
            return Status::error(
                where + ": buffers " + quoted(x.name) + " [" +
                std::to_string(x.offset) + ", " +
                std::to_string(x.offset + x.bytes) + ") and " +
                quoted(y.name) + " [" + std::to_string(y.offset) + ", " +
                std::to_string(y.offset + y.bytes) +
                ") share bytes but are both live at " + opName(lo) +
                "; buffers may share bytes only when their lifetimes do "
                "not overlap");
        }
    }
  }
  return Status::ok();
}

} // namespace stc::rt::manifest
