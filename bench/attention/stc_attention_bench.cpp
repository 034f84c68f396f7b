//===- stc_attention_bench.cpp - Time stc's attention ops on the GPU ------===//
//
//   stc-bench-attention [--repeats N] [--dump DIR] [--device cuda|cpu]
//                       --out FILE ARTIFACT...
//
// For each artifact (a single-layer model from bench/attention/prepare): fill
// q, k, v and the output gradient with random values, time the train step's
// attention_fwd op and its backward (attention_bwd, or attention_bwd_prep,
// attention_bwd_atomic and cast) on the CUDA executor (device
// events, repeats back to back, median), each with the stride_permute ops
// around it where stc-normalize-patterns put some, and write one JSON line. With
// --dump, also write the inputs and outputs (raw bf16, (B, T, H, D)) so that
// peers.py can time PyTorch on the same inputs and check stc's results
// against a float32 reference.
//
//===----------------------------------------------------------------------===//

#include "bench/common/AttentionRange.h"
#include "runtime/Executor.h"
#include "runtime/support/Random.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <vector>

using namespace stc::rt;

namespace {

int fail(const std::string &msg) {
  std::fprintf(stderr, "stc-bench-attention: %s\n", msg.c_str());
  return 1;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::string baseName(std::string path) {
  while (!path.empty() && path.back() == '/')
    path.pop_back();
  size_t s = path.find_last_of('/');
  return s == std::string::npos ? path : path.substr(s + 1);
}

/// Uniform values with unit variance, reproducible from the seed.
std::vector<float> randomValues(size_t n, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<float> v(n);
  const double a = std::sqrt(3.0);
  for (auto &x : v)
    x = static_cast<float>((2.0 * rng.uniform() - 1.0) * a);
  return v;
}

Status dump(Executor &e, const Buffer &b, const std::string &path) {
  std::vector<uint8_t> bytes(static_cast<size_t>(b.bytes));
  STC_RETURN_IF_ERROR(e.download(b.name, bytes.data(), bytes.size()));
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char *>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  return out ? Status::ok() : Status::error("cannot write " + path);
}

Status benchOne(const std::string &dir, const std::string &device, int repeats,
                const std::string &dumpDir, std::ofstream &out) {
  auto loaded = Artifact::load(dir);
  if (!loaded)
    return loaded.status();
  auto art = std::make_shared<const Artifact>(std::move(*loaded));
  auto exec = createExecutor(device);
  if (!exec)
    return exec.status();
  Executor &e = **exec;
  STC_RETURN_IF_ERROR(e.allocate(art));

  const Entry &train = art->entry(EntryKind::Train);
  int fwd = -1, bwd = -1;
  for (size_t i = 0; i < train.ops.size(); ++i) {
    if (train.ops[i].kind == OpKind::AttentionFwd && fwd < 0)
      fwd = static_cast<int>(i);
    if ((train.ops[i].kind == OpKind::AttentionBwd ||
         train.ops[i].kind == OpKind::AttentionBwdAtomic) &&
        bwd < 0)
      bwd = static_cast<int>(i);
  }
  if (fwd < 0 || bwd < 0)
    return Status::error(
        "no attention_fwd / attention_bwd(_atomic) op in train_step");
  const Op &f = train.ops[fwd], &g = train.ops[bwd];
  const OpAttrs &at = f.attrs;
  // The attention ops with the ops stc-normalize-patterns put around them:
  // time the whole ranges, read and write the tensors in their original
  // order.
  const stc::bench::AttentionRange fr(train, static_cast<size_t>(fwd));
  const stc::bench::AttentionRange br(train, static_cast<size_t>(bwd));
  // Inputs: q, k, v of the forward, dout of the backward. Both backward
  // ops have dq (attention_bwd_atomic: dq_acc, cast to dq), dk, dv at 6, 7,
  // 8.
  const int doutArg = g.kind == OpKind::AttentionBwdAtomic ? 4 : 5;
  const int inputs[] = {fr.original(f.args[0]), fr.original(f.args[1]),
                        fr.original(f.args[2]), br.original(g.args[doutArg])};
  auto upload = [&](int i) {
    const Buffer &b = art->buffers[inputs[i]];
    return e.uploadFloats(
        b.name, randomValues(static_cast<size_t>(b.elements()), 1000 + i));
  };
  for (int i = 0; i < 4; ++i)
    STC_RETURN_IF_ERROR(upload(i));
  // The permutations of the forward's inputs run once; the backward range
  // reads the permuted q, k, v and o they leave.
  auto tf = e.timeOps(EntryKind::Train, fr.begin, fr.end, repeats);
  if (!tf)
    return tf.status();
  auto tb = e.timeOps(EntryKind::Train, br.begin, br.end, repeats);
  if (!tb)
    return tb.status();
  const double fwdMs = median(*tf), bwdMs = median(*tb);

  const std::string name = baseName(dir);
  std::string kernels;
  for (const Op *op : {&f, &g})
    kernels += std::string(kernels.empty() ? "" : ", ") + "\"" +
               art->kernels[op->kernel].name + "\"";
  char line[1024];
  std::snprintf(line, sizeof line,
                "{\"case\": \"%s\", \"n\": %lld, \"batch\": %lld, \"heads\": "
                "%lld, \"head_dim\": %lld, \"pattern\": \"%s\", \"fwd_ms\": "
                "%.4f, \"bwd_ms\": %.4f, \"fwd_bwd_ms\": %.4f, \"repeats\": "
                "%d, \"normalization_ops\": %zu, \"kernels\": [%s]}",
                name.c_str(), static_cast<long long>(at.T),
                static_cast<long long>(at.B), static_cast<long long>(at.H),
                static_cast<long long>(at.dk),
                art->layouts[f.layouts[0]].patternText.c_str(), fwdMs, bwdMs,
                fwdMs + bwdMs, repeats, fr.extraOps() + br.extraOps(),
                kernels.c_str());
  out << line << "\n";
  out.flush();
  std::printf("%-32s fwd %8.3f ms  bwd %8.3f ms\n", name.c_str(), fwdMs,
              bwdMs);
  std::fflush(stdout);

  if (!dumpDir.empty()) {
    std::string d = dumpDir + "/" + name;
    ::mkdir(dumpDir.c_str(), 0755);
    ::mkdir(d.c_str(), 0755);
    // The timing loops repeat ranges whose later ops may reuse the bytes of
    // earlier inputs (the memory plan knows they are dead by then): run the
    // step's attention once, in order, on fresh inputs, and dump that.
    const char *inNames[] = {"q", "k", "v", "dout"};
    for (int i = 0; i < 3; ++i) {
      STC_RETURN_IF_ERROR(upload(i));
      STC_RETURN_IF_ERROR(dump(e, art->buffers[inputs[i]],
                               d + "/" + inNames[i] + ".bin"));
    }
    STC_RETURN_IF_ERROR(e.runOps(EntryKind::Train, fr.begin, fr.end));
    // lse stays in the order the kernel ran (peers.py does not read it).
    STC_RETURN_IF_ERROR(
        dump(e, art->buffers[fr.final(f.args[3])], d + "/o.bin"));
    STC_RETURN_IF_ERROR(dump(e, art->buffers[f.args[4]], d + "/lse.bin"));
    STC_RETURN_IF_ERROR(upload(3));
    STC_RETURN_IF_ERROR(
        dump(e, art->buffers[inputs[3]], d + "/dout.bin"));
    STC_RETURN_IF_ERROR(e.runOps(EntryKind::Train, br.begin, br.end));
    const char *names[] = {"dq", "dk", "dv"};
    const int bufs[] = {br.final(g.args[6]), br.final(g.args[7]),
                        br.final(g.args[8])};
    for (int i = 0; i < 3; ++i)
      STC_RETURN_IF_ERROR(
          dump(e, art->buffers[bufs[i]], d + "/" + names[i] + ".bin"));
    std::ofstream meta(d + "/meta.json");
    meta << line << "\n";
  }
  return Status::ok();
}

} // namespace

int main(int argc, char **argv) {
  int repeats = 20;
  std::string outPath, dumpDir, device = "cuda";
  std::vector<std::string> dirs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--repeats" && i + 1 < argc)
      repeats = std::atoi(argv[++i]);
    else if (a == "--out" && i + 1 < argc)
      outPath = argv[++i];
    else if (a == "--dump" && i + 1 < argc)
      dumpDir = argv[++i];
    else if (a == "--device" && i + 1 < argc)
      device = argv[++i];
    else if (a == "--help") {
      std::printf("usage: stc-bench-attention [--repeats N] [--dump DIR] "
                  "[--device cuda|cpu] --out FILE ARTIFACT...\n"
                  "  (--device cpu: a smoke test of small artifacts)\n");
      return 0;
    } else if (!a.empty() && a[0] == '-')
      return fail("unknown flag " + a + "; valid: --repeats N, --dump DIR, "
                  "--device NAME, --out FILE, --help");
    else
      dirs.push_back(a);
  }
  if (outPath.empty() || dirs.empty() || repeats < 1)
    return fail("expected --out FILE and at least one artifact directory");
  std::ofstream out(outPath, std::ios::app);
  if (!out)
    return fail("cannot write " + outPath);
  int failures = 0;
  for (const std::string &d : dirs) {
    Status s = benchOne(d, device, repeats, dumpDir, out);
    if (!s) {
      std::fprintf(stderr, "stc-bench-attention: %s: %s\n", d.c_str(),
                   s.message().c_str());
      ++failures;
    }
  }
  return failures ? 1 : 0;
}
