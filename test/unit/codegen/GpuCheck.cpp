//===- GpuCheck.cpp - Run every generated kernel against the CPU reference ===//
//
// Needs a GPU, so it is not part of the unit tests (CI has none): build the
// optional target codegen-gpu-check and run it on a machine with one:
//   codegen-gpu-check [CUDA include dir] [time]
// For every op kind, in f32 and bf16, with the tiny model's and larger shapes
// (attention: several patterns, layouts, ragged T, head dims 8 .. 256), it
// emits the kernel, compiles it with NVRTC, runs it through the driver API
// and compares the outputs with runtime/cpu/CpuOps.h (the reference executor's
// ops) on the same inputs; dropout, add, accumulate, zero and kv_store must
// match exactly, attention_bwd must be bitwise deterministic. `time` adds
// timings of the attention kernels at T = 12288.
//
//===----------------------------------------------------------------------===//
#include "abi/NvrtcOptions.h"
#include "codegen/KernelEmitter.h"
#include "pattern/Pattern.h"
#include "abi/DType.h"
#include "abi/Limits.h"
#include "runtime/cpu/CpuOps.h"

#include <cuda.h>
#include <nvrtc.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace stc;
using codegen::AttrValue;
using codegen::LayoutDesc;
using codegen::OpDesc;
using pattern::Pattern;

static std::string gInclude = "/usr/local/cuda/include";
static int gFailures = 0, gChecks = 0;

#define CU(x)                                                                  \
  do {                                                                         \
    CUresult r_ = (x);                                                         \
    if (r_ != CUDA_SUCCESS) {                                                  \
      const char *s_;                                                          \
      cuGetErrorString(r_, &s_);                                               \
      std::fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #x, s_);   \
      std::exit(1);                                                            \
    }                                                                          \
  } while (0)

struct Arg {
  std::string dtype; // f32 | bf16 | i32
  std::vector<float> f;
  std::vector<int32_t> i;
  size_t size() const { return dtype == "i32" ? i.size() : f.size(); }
};

static std::mt19937 rng(1234);
static std::vector<float> randn(size_t n, float s = 1.f) {
  std::normal_distribution<float> d(0.f, s);
  std::vector<float> v(n);
  for (auto &x : v)
    x = d(rng);
  return v;
}
static Arg F(const std::string &dt, std::vector<float> v) {
  Arg a{dt, std::move(v), {}};
  if (dt == "bf16")
    for (auto &x : a.f)
      x = stc::abi::bf16ToFloat(stc::abi::floatToBf16(x));
  return a;
}
static Arg I(std::vector<int32_t> v) { return Arg{"i32", {}, std::move(v)}; }

struct LayoutArrays {
  std::vector<int32_t> a[6];
};
static LayoutArrays arrays(const pattern::BlockLayout &l) {
  LayoutArrays r;
  for (auto x : l.rowPtr)
    r.a[0].push_back((int32_t)x);
  for (auto x : l.colIdx)
    r.a[1].push_back((int32_t)x);
  for (auto x : l.classes)
    r.a[2].push_back((int32_t)x);
  int64_t nb = l.numBlockRows;
  std::vector<std::vector<std::pair<int, int>>> cols(nb);
  for (int64_t row = 0; row < nb; ++row)
    for (int64_t e = l.rowPtr[row]; e < l.rowPtr[row + 1]; ++e)
      cols[l.colIdx[e]].push_back({(int)row, (int)l.classes[e]});
  r.a[3].push_back(0);
  for (int64_t c = 0; c < nb; ++c) {
    for (auto &p : cols[c]) {
      r.a[4].push_back(p.first);
      r.a[5].push_back(p.second);
    }
    r.a[3].push_back((int32_t)r.a[4].size());
  }
  for (auto &v : r.a)
    if (v.empty())
      v.push_back(0);
  return r;
}

static CUcontext gCtx;

struct Scal {
  float lr = 1e-3f;
  int32_t step = 1;
  uint32_t seed = 77;
  int32_t pos = 0;
};

// Emits, compiles and runs op on args (in place: outputs are read back).
// Returns average ms per launch over `reps` timed launches (after one).
static double runGpu(const OpDesc &op, std::vector<Arg> &args, const Scal &sc,
                     int reps = 0, bool readBack = true) {
  std::string err;
  auto ks = codegen::emitKernel(op, &err);
  if (!ks) {
    std::printf("EMIT FAIL %s: %s\n", op.kernelName.c_str(), err.c_str());
    std::exit(1);
  }
  nvrtcProgram prog;
  nvrtcCreateProgram(&prog, ks->source.c_str(), "k.cu", 0, nullptr, nullptr);
  std::vector<std::string> opts = codegen::defaultNvrtcOptions();
  opts.push_back(abi::nvrtcArchOption(90));
  opts.push_back("--include-path=" + gInclude);
  std::vector<const char *> co;
  for (auto &o : opts)
    co.push_back(o.c_str());
  if (nvrtcCompileProgram(prog, (int)co.size(), co.data()) != NVRTC_SUCCESS) {
    size_t n;
    nvrtcGetProgramLogSize(prog, &n);
    std::string log(n, 0);
    nvrtcGetProgramLog(prog, &log[0]);
    std::printf("NVRTC FAIL %s:\n%s\n", op.kernelName.c_str(), log.c_str());
    std::exit(1);
  }
  size_t cubinSize;
  nvrtcGetCUBINSize(prog, &cubinSize);
  std::string cubin(cubinSize, 0);
  nvrtcGetCUBIN(prog, &cubin[0]);
  nvrtcDestroyProgram(&prog);
  CUmodule mod;
  CU(cuModuleLoadData(&mod, cubin.data()));
  CUfunction fn;
  CU(cuModuleGetFunction(&fn, mod, ks->entry.c_str()));

  std::vector<CUdeviceptr> ptrs;
  for (auto &a : args) {
    size_t es = a.dtype == "bf16" ? 2 : 4;
    size_t bytes = std::max<size_t>(a.size() * es, 4);
    CUdeviceptr p;
    CU(cuMemAlloc(&p, bytes));
    if (a.dtype == "i32")
      CU(cuMemcpyHtoD(p, a.i.data(), a.i.size() * 4));
    else if (a.dtype == "f32")
      CU(cuMemcpyHtoD(p, a.f.data(), a.f.size() * 4));
    else {
      std::vector<uint16_t> h(a.f.size());
      for (size_t i = 0; i < h.size(); ++i)
        h[i] = stc::abi::floatToBf16(a.f[i]);
      CU(cuMemcpyHtoD(p, h.data(), h.size() * 2));
    }
    ptrs.push_back(p);
  }
  std::vector<CUdeviceptr> lptrs;
  for (const auto &l : op.layouts) {
    auto bl = pattern::buildBlockLayout(l.pattern, l.n, l.block);
    LayoutArrays la = arrays(bl);
    for (auto &v : la.a) {
      CUdeviceptr p;
      CU(cuMemAlloc(&p, v.size() * 4));
      CU(cuMemcpyHtoD(p, v.data(), v.size() * 4));
      lptrs.push_back(p);
    }
  }
  uint8_t sbytes[64] = {0};
  std::memcpy(sbytes + 0, &sc.lr, 4);
  std::memcpy(sbytes + 4, &sc.step, 4);
  std::memcpy(sbytes + 8, &sc.seed, 4);
  std::memcpy(sbytes + 12, &sc.pos, 4);
  CUdeviceptr sp;
  CU(cuMemAlloc(&sp, 64));
  CU(cuMemcpyHtoD(sp, sbytes, 64));
  std::vector<void *> params;
  for (auto &p : ptrs)
    params.push_back(&p);
  for (auto &p : lptrs)
    params.push_back(&p);
  params.push_back(&sp);
  if (ks->smem > 48 * 1024)
    CU(cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                          (int)ks->smem));
  auto launch = [&] {
    CU(cuLaunchKernel(fn, (unsigned)ks->grid[0], (unsigned)ks->grid[1],
                      (unsigned)ks->grid[2], (unsigned)ks->block[0],
                      (unsigned)ks->block[1], (unsigned)ks->block[2],
                      (unsigned)ks->smem, 0, params.data(), nullptr));
  };
  launch();
  CU(cuCtxSynchronize());
  double ms = 0;
  if (readBack)
    for (size_t i = 0; i < args.size(); ++i) {
      auto &a = args[i];
      if (a.dtype == "i32")
        CU(cuMemcpyDtoH(a.i.data(), ptrs[i], a.i.size() * 4));
      else if (a.dtype == "f32")
        CU(cuMemcpyDtoH(a.f.data(), ptrs[i], a.f.size() * 4));
      else {
        std::vector<uint16_t> h(a.f.size());
        CU(cuMemcpyDtoH(h.data(), ptrs[i], h.size() * 2));
        for (size_t j = 0; j < h.size(); ++j)
          a.f[j] = stc::abi::bf16ToFloat(h[j]);
      }
    }
  if (reps > 0) {
    CUevent e0, e1;
    CU(cuEventCreate(&e0, 0));
    CU(cuEventCreate(&e1, 0));
    CU(cuEventRecord(e0, 0));
    for (int r = 0; r < reps; ++r)
      launch();
    CU(cuEventRecord(e1, 0));
    CU(cuEventSynchronize(e1));
    float t;
    CU(cuEventElapsedTime(&t, e0, e1));
    ms = t / reps;
  }
  for (auto p : ptrs)
    cuMemFree(p);
  for (auto p : lptrs)
    cuMemFree(p);
  cuMemFree(sp);
  cuModuleUnload(mod);
  return ms;
}

static void check(const std::string &name, const std::vector<float> &got,
                  const std::vector<float> &want, double tol) {
  ++gChecks;
  double maxErr = 0, maxRef = 0;
  size_t worst = 0;
  bool nan = false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(got[i]) != std::isnan(want[i]) ||
        (std::isinf(want[i]) && got[i] != want[i])) {
      nan = true;
      worst = i;
      continue;
    }
    if (std::isnan(want[i]) || std::isinf(want[i]))
      continue;
    double e = std::fabs((double)got[i] - want[i]);
    if (e > maxErr) {
      maxErr = e;
      worst = i;
    }
    maxRef = std::max(maxRef, (double)std::fabs(want[i]));
  }
  double rel = maxErr / std::max(maxRef, 1e-30);
  bool ok = !nan && (rel <= tol || maxErr <= 1e-6);
  if (!ok)
    ++gFailures;
  std::printf("%s %-48s maxerr %.3g  max|ref| %.3g  rel %.3g%s",
              ok ? "ok  " : "FAIL", name.c_str(), maxErr, maxRef, rel,
              nan ? "  NaN/inf mismatch" : "");
  if (!ok)
    std::printf("  [i=%zu got %.6g want %.6g]", worst, got[worst], want[worst]);
  std::printf("\n");
}

static void checkExact(const std::string &name, const std::vector<float> &got,
                       const std::vector<float> &want) {
  ++gChecks;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (std::memcmp(&got[i], &want[i], 4) != 0 &&
        !(got[i] == 0 && want[i] == 0)) {
      if (!bad)
        first = i;
      ++bad;
    }
  if (bad)
    ++gFailures;
  std::printf("%s %-48s %zu / %zu differ", bad ? "FAIL" : "ok  ", name.c_str(),
              bad, want.size());
  if (bad)
    std::printf("  [i=%zu got %.9g want %.9g]", first, got[first], want[first]);
  std::printf("\n");
}

static OpDesc mk(const std::string &kind, const std::string &name,
                 std::vector<std::string> dts,
                 std::map<std::string, AttrValue> attrs,
                 std::vector<LayoutDesc> ls = {}) {
  OpDesc op;
  op.kind = kind;
  op.kernelName = name;
  op.argDtypes = std::move(dts);
  op.attrs = std::move(attrs);
  op.layouts = std::move(ls);
  return op;
}
static std::vector<std::string> dtsOf(const std::vector<Arg> &a) {
  std::vector<std::string> d;
  for (auto &x : a)
    d.push_back(x.dtype);
  return d;
}
static double tolFor(const std::string &dt, double f32tol = 2e-5) {
  return dt == "bf16" ? 1.2e-2 : f32tol;
}

// ---- attention --------------------------------------------------------------

struct AttnCase {
  std::string name;
  int64_t B, T, H, dk, dv;
  std::vector<LayoutDesc> layouts;
};

static void attention(const AttnCase &c, const std::string &dt) {
  const int64_t B = c.B, T = c.T, H = c.H, dk = c.dk, dv = c.dv;
  const int64_t hpl = H / (int64_t)c.layouts.size();
  const double scale = 1.0 / std::sqrt((double)dk);
  std::vector<std::string> names;
  std::vector<rt::cpu::AttentionMask> masks;
  for (auto &l : c.layouts) {
    names.push_back(l.name);
    masks.emplace_back(l.pattern, T);
  }
  std::vector<const rt::cpu::AttentionMask *> mp;
  for (auto &m : masks)
    mp.push_back(&m);
  std::map<std::string, AttrValue> at = {
      {"B", B},           {"T", T},
      {"H", H},           {"dk", dk},
      {"dv", dv},         {"scale", scale},
      {"layouts", names}, {"heads_per_layout", hpl}};
  rt::cpu::AttentionShape s{B, T, H, dk, dv, scale, hpl};
  const size_t nq = B * T * H * dk, nv = B * T * H * dv, nl = B * H * T;
  Arg q = F(dt, randn(nq)), k = F(dt, randn(nq)), v = F(dt, randn(nv));
  std::string n = c.name + "_" + dt;

  // forward
  std::vector<Arg> a = {q, k, v, F(dt, std::vector<float>(nv, 7.f)),
                        F("f32", std::vector<float>(nl, 7.f))};
  runGpu(mk("attention_fwd", "fwd", dtsOf(a), at, c.layouts), a, Scal{});
  std::vector<float> o(nv), lse(nl);
  rt::cpu::attentionFwd(q.f.data(), k.f.data(), v.f.data(), o.data(),
                        lse.data(), s, mp);
  check(n + " fwd o", a[3].f, o, tolFor(dt, 1e-5));
  check(n + " fwd lse", a[4].f, lse, 1e-5);

  // backward, on the reference forward's o and lse (rounded like the GPU's)
  Arg oa = F(dt, o), la = F("f32", lse), dO = F(dt, randn(nv));
  std::vector<Arg> b = {q,
                        k,
                        v,
                        oa,
                        la,
                        dO,
                        F(dt, std::vector<float>(nq, 7.f)),
                        F(dt, std::vector<float>(nq, 7.f)),
                        F(dt, std::vector<float>(nv, 7.f))};
  runGpu(mk("attention_bwd", "bwd", dtsOf(b), at, c.layouts), b, Scal{});
  std::vector<float> gq(nq), gk(nq), gv(nv);
  rt::cpu::attentionBwd(q.f.data(), k.f.data(), v.f.data(), oa.f.data(),
                        la.f.data(), dO.f.data(), gq.data(), gk.data(),
                        gv.data(), s, mp);
  check(n + " bwd dq", b[6].f, gq, tolFor(dt, 1e-4));
  check(n + " bwd dk", b[7].f, gk, tolFor(dt, 1e-4));
  check(n + " bwd dv", b[8].f, gv, tolFor(dt, 1e-4));
  // determinism
  std::vector<Arg> b2 = b;
  for (int i = 6; i < 9; ++i)
    std::fill(b2[i].f.begin(), b2[i].f.end(), -3.f);
  runGpu(mk("attention_bwd", "bwd", dtsOf(b2), at, c.layouts), b2, Scal{});
  checkExact(n + " bwd deterministic", b2[7].f, b[7].f);

  // The fast backward where the tensor-core kernels run it:
  // attention_bwd_prep (delta, dq_acc zeroed), attention_bwd_atomic twice
  // into one dq_acc (as for a split fixed layer's two key sets), cast.
  std::vector<int64_t> blocks;
  for (auto &l : c.layouts)
    blocks.push_back(l.block);
  if (dt == "bf16" &&
      abi::attentionOnTensorCores(dk, dv, blocks.data(), blocks.size())) {
    std::vector<Arg> p = {oa, dO, F("f32", std::vector<float>(nl, 7.f)),
                          F("f32", std::vector<float>(nq, 7.f))};
    runGpu(mk("attention_bwd_prep", "prep", dtsOf(p),
              {{"B", B}, {"T", T}, {"H", H}, {"dk", dk}, {"dv", dv}}),
           p, Scal{});
    std::vector<float> delta(nl), zeros(nq, 7.f);
    rt::cpu::attentionBwdPrep(oa.f.data(), dO.f.data(), delta.data(),
                              zeros.data(), s);
    check(n + " bwd_prep delta", p[2].f, delta, 1e-5);
    checkExact(n + " bwd_prep dq_acc zeroed", p[3].f, zeros);
    std::vector<Arg> x = {q,    k,    v,
                          la,   dO,   p[2],
                          p[3], F(dt, std::vector<float>(nq, 7.f)),
                          F(dt, std::vector<float>(nv, 7.f))};
    runGpu(mk("attention_bwd_atomic", "atomic", dtsOf(x), at, c.layouts), x,
           Scal{});
    check(n + " bwd_atomic dq", x[6].f, gq, tolFor(dt, 1e-4));
    check(n + " bwd_atomic dk", x[7].f, gk, tolFor(dt, 1e-4));
    check(n + " bwd_atomic dv", x[8].f, gv, tolFor(dt, 1e-4));
    std::vector<Arg> x2 = x;
    runGpu(mk("attention_bwd_atomic", "atomic", dtsOf(x2), at, c.layouts), x2,
           Scal{});
    std::vector<float> gq2(gq);
    for (float &g : gq2)
      g *= 2;
    check(n + " bwd_atomic dq accumulates", x2[6].f, gq2, tolFor(dt, 1e-4));
    std::vector<Arg> cs = {F("f32", x[6].f), F(dt, std::vector<float>(nq, 7.f))};
    runGpu(mk("cast", "cast", dtsOf(cs), {{"count", static_cast<int64_t>(nq)}}),
           cs, Scal{});
    checkExact(n + " cast", cs[1].f, F(dt, x[6].f).f);
  }

  // decode: every sequence's keys/values as its caches, a few positions,
  // all B sequences at once
  for (int64_t pos : {int64_t(0), T / 2 + 1, T - 1}) {
    std::vector<float> qq;
    for (int64_t b = 0; b < B; ++b)
      qq.insert(qq.end(), q.f.begin() + (b * T + pos) * H * dk,
                q.f.begin() + (b * T + pos + 1) * H * dk);
    std::vector<Arg> d = {F(dt, qq), F(dt, k.f), F(dt, v.f),
                          F(dt, std::vector<float>(B * H * dv, 7.f))};
    Scal sc;
    sc.pos = (int32_t)pos;
    runGpu(mk("attention_decode", "dec", dtsOf(d), at, c.layouts), d, sc);
    std::vector<float> od(B * H * dv);
    (void)rt::cpu::attentionDecode(d[0].f.data(), d[1].f.data(), d[2].f.data(),
                                   od.data(), B, T, H, dk, dv, scale, hpl, mp,
                                   pos);
    check(n + " decode pos " + std::to_string(pos), d[3].f, od,
          tolFor(dt, 1e-5));
    // The same keys split over 5 CTAs, then merged: the parts against the
    // CPU's parts, the merged rows against the whole decode's.
    const int64_t splits = 5;
    std::map<std::string, AttrValue> sat = at;
    sat["splits"] = splits;
    std::vector<Arg> sd = {d[0], d[1], d[2],
                           F("f32", std::vector<float>(B * H * splits * 2, 7.f)),
                           F("f32", std::vector<float>(B * H * splits * dv, 7.f))};
    runGpu(mk("attention_decode_split", "decs", dtsOf(sd), sat, c.layouts), sd,
           sc);
    std::vector<float> cs(B * H * splits * 2), ca(B * H * splits * dv);
    (void)rt::cpu::attentionDecodeSplit(sd[0].f.data(), sd[1].f.data(),
                                        sd[2].f.data(), cs.data(), ca.data(), B,
                                        T, H, dk, dv, scale, hpl, mp, pos,
                                        splits);
    check(n + " decode split stats pos " + std::to_string(pos), sd[3].f, cs,
          1e-5);
    check(n + " decode split acc pos " + std::to_string(pos), sd[4].f, ca,
          1e-5);
    std::vector<Arg> cd = {sd[3], sd[4], F(dt, std::vector<float>(B * H * dv, 7.f))};
    runGpu(mk("attention_decode_combine", "decc", dtsOf(cd),
              {{"B", B}, {"H", H}, {"dv", dv}, {"splits", splits}}),
           cd, Scal{});
    check(n + " decode split+combine pos " + std::to_string(pos), cd[2].f, od,
          tolFor(dt, 1e-5));
  }
}

static Pattern pred(const std::string &name, const std::string &s) {
  auto p = pattern::Predicate::parse(s, nullptr);
  if (!p) {
    std::printf("bad predicate %s\n", s.c_str());
    std::exit(1);
  }
  return Pattern::predicate(name, *p);
}

// ---- other ops
// ------------------------------------------------------------------

static void otherOps(const std::string &dt, int64_t rows, int64_t T, int64_t D,
                     int64_t V, int64_t ffn,
                     std::vector<std::pair<int64_t, int64_t>> pos,
                     const std::string &tag) {
  std::string n = tag + "_" + dt;
  std::uniform_int_distribution<int32_t> tokd(0, (int32_t)V - 1);
  std::vector<int32_t> tokens(rows);
  for (auto &t : tokens)
    t = tokd(rng);
  const size_t P = pos.size();
  // embed_fwd
  {
    std::vector<Arg> a = {I(tokens), F(dt, randn(V * D))};
    for (auto &p : pos)
      a.push_back(F(dt, randn(p.second * D)));
    a.push_back(F(dt, std::vector<float>(rows * D, 7.f)));
    runGpu(mk("embed_fwd", "ef", dtsOf(a),
              {{"rows", rows}, {"T", T}, {"D", D}, {"V", V}, {"pos", pos}}),
           a, Scal{});
    std::vector<const float *> pp;
    for (size_t p = 0; p < P; ++p)
      pp.push_back(a[2 + p].f.data());
    std::vector<float> out(rows * D);
    (void)rt::cpu::embedFwd(a[0].i.data(), a[1].f.data(), pp, pos, out.data(),
                            rows, T, D, V);
    check(n + " embed_fwd", a[2 + P].f, out, tolFor(dt, 1e-6));
    // decode: 3 sequences' rows, all at position 5
    std::vector<Arg> d = {I({tokens[0], tokens[1], tokens[2]}), a[1]};
    for (size_t p = 0; p < P; ++p)
      d.push_back(a[2 + p]);
    d.push_back(F(dt, std::vector<float>(3 * D, 7.f)));
    Scal sc;
    sc.pos = 5;
    runGpu(mk("embed_fwd", "efd", dtsOf(d),
              {{"rows", int64_t(3)},
               {"T", T},
               {"D", D},
               {"V", V},
               {"pos", pos},
               {"decode", true}}),
           d, sc);
    std::vector<float> od(3 * D);
    (void)rt::cpu::embedFwd(d[0].i.data(), d[1].f.data(), pp, pos, od.data(), 3,
                            T, D, V, 5);
    check(n + " embed_fwd decode", d[2 + P].f, od, tolFor(dt, 1e-6));
  }
  // embed_bwd (+= into nonzero gradients)
  {
    std::vector<Arg> a = {I(tokens), F(dt, randn(rows * D)),
                          F(dt, randn(V * D, 0.1f))};
    for (auto &p : pos)
      a.push_back(F(dt, randn(p.second * D, 0.1f)));
    std::vector<Arg> ref = a;
    runGpu(mk("embed_bwd", "eb", dtsOf(a),
              {{"rows", rows}, {"T", T}, {"D", D}, {"V", V}, {"pos", pos}}),
           a, Scal{});
    std::vector<float *> dp;
    for (size_t p = 0; p < P; ++p)
      dp.push_back(ref[3 + p].f.data());
    (void)rt::cpu::embedBwd(ref[0].i.data(), ref[1].f.data(), ref[2].f.data(),
                            dp, pos, rows, T, D, V);
    check(n + " embed_bwd dtable", a[2].f, ref[2].f, tolFor(dt, 1e-5));
    for (size_t p = 0; p < P; ++p)
      check(n + " embed_bwd dpos" + std::to_string(p), a[3 + p].f, ref[3 + p].f,
            tolFor(dt, 1e-5));
  }
  // layer norm
  {
    std::vector<float> xs = randn(rows * D);
    for (auto &x : xs)
      x = 3.f + 2.f * x; // far from zero
    std::vector<Arg> a = {F(dt, xs),
                          F(dt, randn(D)),
                          F(dt, randn(D)),
                          F(dt, std::vector<float>(rows * D)),
                          F("f32", std::vector<float>(rows)),
                          F("f32", std::vector<float>(rows))};
    runGpu(mk("layer_norm_fwd", "lnf", dtsOf(a),
              {{"M", rows}, {"C", D}, {"eps", 1e-5}}),
           a, Scal{});
    std::vector<float> y(rows * D), mu(rows), rs(rows);
    rt::cpu::layerNormFwd(a[0].f.data(), a[1].f.data(), a[2].f.data(), y.data(),
                          mu.data(), rs.data(), rows, D, 1e-5);
    check(n + " layer_norm_fwd y", a[3].f, y, tolFor(dt, 1e-5));
    check(n + " layer_norm_fwd mean", a[4].f, mu, 1e-6);
    check(n + " layer_norm_fwd rstd", a[5].f, rs, 1e-5);
    for (bool acc : {false, true}) {
      std::vector<Arg> b = {
          F(dt, randn(rows * D)), a[0],           F("f32", mu),
          F("f32", rs),           a[1],           F(dt, randn(rows * D)),
          F(dt, randn(D)),        F(dt, randn(D))};
      std::vector<Arg> r = b;
      runGpu(mk("layer_norm_bwd", "lnb", dtsOf(b),
                {{"M", rows}, {"C", D}, {"accumulate", acc}}),
             b, Scal{});
      rt::cpu::layerNormBwd(r[0].f.data(), r[1].f.data(), r[2].f.data(),
                            r[3].f.data(), r[4].f.data(), r[5].f.data(),
                            r[6].f.data(), r[7].f.data(), rows, D, acc);
      std::string s = acc ? " acc" : "";
      check(n + " layer_norm_bwd dx" + s, b[5].f, r[5].f, tolFor(dt, 1e-5));
      check(n + " layer_norm_bwd dgamma" + s, b[6].f, r[6].f, tolFor(dt, 1e-4));
      check(n + " layer_norm_bwd dbeta" + s, b[7].f, r[7].f, tolFor(dt, 1e-4));
    }
  }
  // dropout_layer_norm_fwd and layer_norm_bwd with dropout (the fused
  // pairs of stc-fuse-layer-norm-dropout) against the CPU's two steps, the
  // intermediate rounded to the buffer's type as the unfused program stores
  // it
  {
    auto rounded = [&](std::vector<float> v) {
      if (dt == "bf16")
        for (auto &x : v)
          x = stc::abi::bf16ToFloat(stc::abi::floatToBf16(x));
      return v;
    };
    Scal sc;
    sc.seed = 0x5eed;
    std::vector<float> xs = randn(rows * D), res = randn(rows * D);
    for (auto &x : res)
      x = 3.f + 2.f * x;
    std::vector<Arg> a = {F(dt, xs),
                          F(dt, res),
                          F(dt, std::vector<float>(rows * D)),
                          F(dt, randn(D)),
                          F(dt, randn(D)),
                          F(dt, std::vector<float>(rows * D)),
                          F("f32", std::vector<float>(rows)),
                          F("f32", std::vector<float>(rows))};
    runGpu(mk("dropout_layer_norm_fwd", "dlnf", dtsOf(a),
              {{"M", rows},
               {"C", D},
               {"eps", 1e-5},
               {"rate", 0.25},
               {"salt", int64_t(77)}}),
           a, sc);
    std::vector<float> sum(rows * D), y(rows * D), mu(rows), rs(rows);
    rt::cpu::dropoutFwd(a[0].f.data(), sum.data(), rows * D, 0.25, 77u, sc.seed,
                        a[1].f.data());
    sum = rounded(sum);
    rt::cpu::layerNormFwd(sum.data(), a[3].f.data(), a[4].f.data(), y.data(),
                          mu.data(), rs.data(), rows, D, 1e-5);
    // (the GPU may fuse residual + x scale into one FMA: a rounding apart)
    check(n + " dropout_layer_norm_fwd sum", a[2].f, sum, tolFor(dt, 1e-6));
    check(n + " dropout_layer_norm_fwd y", a[5].f, y, tolFor(dt, 1e-5));
    check(n + " dropout_layer_norm_fwd rstd", a[7].f, rs, 1e-5);
    std::vector<Arg> b = {F(dt, randn(rows * D)), a[2],
                          F("f32", mu),           F("f32", rs),
                          a[3],                   F(dt, randn(rows * D)),
                          F(dt, randn(D)),        F(dt, randn(D)),
                          F(dt, std::vector<float>(rows * D))};
    std::vector<Arg> r = b;
    runGpu(mk("layer_norm_bwd", "lnbd", dtsOf(b),
              {{"M", rows},
               {"C", D},
               {"accumulate", true},
               {"dropout", true},
               {"rate", 0.25},
               {"salt", int64_t(78)}}),
           b, sc);
    rt::cpu::layerNormBwd(r[0].f.data(), r[1].f.data(), r[2].f.data(),
                          r[3].f.data(), r[4].f.data(), r[5].f.data(),
                          r[6].f.data(), r[7].f.data(), rows, D, true);
    check(n + " layer_norm_bwd dropout dx", b[5].f, r[5].f, tolFor(dt, 1e-5));
    // dbranch masks dx as the GPU stored it: compare the mask exactly.
    std::vector<float> dbr(rows * D);
    rt::cpu::dropoutBwd(b[5].f.data(), dbr.data(), rows * D, 0.25, 78u,
                        sc.seed);
    checkExact(n + " layer_norm_bwd dropout dbranch", b[8].f, rounded(dbr));
  }
  // bias_grad
  for (int64_t N : {ffn, int64_t(37)}) {
    std::vector<Arg> a = {F(dt, randn(rows * N)), F(dt, randn(N))};
    std::vector<Arg> r = a;
    runGpu(mk("bias_grad", "bg", dtsOf(a), {{"M", rows}, {"N", N}}), a, Scal{});
    rt::cpu::biasGrad(r[0].f.data(), r[1].f.data(), rows, N);
    check(n + " bias_grad N=" + std::to_string(N), a[1].f, r[1].f,
          tolFor(dt, 1e-4));
  }
  // gelu, add, accumulate, zero
  {
    const int64_t cnt = rows * ffn;
    std::vector<Arg> a = {F(dt, randn(cnt, 2.f)),
                          F(dt, std::vector<float>(cnt))};
    runGpu(mk("gelu_fwd", "gf", dtsOf(a), {{"count", cnt}}), a, Scal{});
    std::vector<float> y(cnt);
    rt::cpu::geluFwd(a[0].f.data(), y.data(), cnt);
    check(n + " gelu_fwd", a[1].f, y, tolFor(dt, 1e-6));
    for (bool acc : {false, true}) {
      std::vector<Arg> b = {a[0], F(dt, randn(cnt)), F(dt, randn(cnt))};
      std::vector<Arg> r = b;
      runGpu(
          mk("gelu_bwd", "gb", dtsOf(b), {{"count", cnt}, {"accumulate", acc}}),
          b, Scal{});
      rt::cpu::geluBwd(r[0].f.data(), r[1].f.data(), r[2].f.data(), cnt, acc);
      check(n + " gelu_bwd" + std::string(acc ? " acc" : ""), b[2].f, r[2].f,
            tolFor(dt, 1e-6));
    }
    std::vector<Arg> c = {F(dt, randn(cnt)), F(dt, randn(cnt)),
                          F(dt, std::vector<float>(cnt))};
    runGpu(mk("add", "ad", dtsOf(c), {{"count", cnt}}), c, Scal{});
    std::vector<float> s(cnt);
    rt::cpu::add(c[0].f.data(), c[1].f.data(), s.data(), cnt);
    if (dt == "f32")
      checkExact(n + " add", c[2].f, s);
    else
      check(n + " add", c[2].f, s, tolFor(dt));
    std::vector<Arg> e = {F(dt, randn(cnt)), F(dt, randn(cnt))};
    std::vector<Arg> er = e;
    runGpu(mk("accumulate", "ac", dtsOf(e), {{"count", cnt}}), e, Scal{});
    rt::cpu::accumulate(er[0].f.data(), er[1].f.data(), cnt);
    if (dt == "f32")
      checkExact(n + " accumulate", e[0].f, er[0].f);
    else
      check(n + " accumulate", e[0].f, er[0].f, tolFor(dt));
    for (int64_t zc : {cnt, int64_t(7)}) {
      std::vector<Arg> z = {F(dt, randn(zc))};
      runGpu(mk("zero", "z", dtsOf(z), {{"count", zc}}), z, Scal{});
      checkExact(n + " zero " + std::to_string(zc), z[0].f,
                 std::vector<float>(zc, 0.f));
    }
  }
  // dropout: the mask must match the CPU bit for bit
  for (double rate : {0.1, 0.5}) {
    const int64_t cnt = rows * D + 3;
    Scal sc;
    sc.seed = 0xdeadbeef;
    std::vector<Arg> a = {F(dt, randn(cnt)),
                          F(dt, std::vector<float>(cnt, 7.f))};
    runGpu(mk("dropout_fwd", "df", dtsOf(a),
              {{"count", cnt}, {"rate", rate}, {"salt", int64_t(12345)}}),
           a, sc);
    std::vector<float> y(cnt);
    rt::cpu::dropoutFwd(a[0].f.data(), y.data(), cnt, rate, 12345u, sc.seed);
    if (dt == "bf16")
      for (auto &x : y)
        x = stc::abi::bf16ToFloat(stc::abi::floatToBf16(x));
    checkExact(n + " dropout_fwd rate " + std::to_string(rate), a[1].f, y);
    std::vector<Arg> b = {F(dt, randn(cnt)),
                          F(dt, std::vector<float>(cnt, 7.f))};
    runGpu(mk("dropout_bwd", "db", dtsOf(b),
              {{"count", cnt}, {"rate", rate}, {"salt", int64_t(12345)}}),
           b, sc);
    std::vector<float> dx(cnt);
    rt::cpu::dropoutBwd(b[0].f.data(), dx.data(), cnt, rate, 12345u, sc.seed);
    if (dt == "bf16")
      for (auto &x : dx)
        x = stc::abi::bf16ToFloat(stc::abi::floatToBf16(x));
    checkExact(n + " dropout_bwd rate " + std::to_string(rate), b[1].f, dx);
  }
  // xent
  {
    const int64_t M = std::min<int64_t>(rows, 512);
    std::vector<int32_t> tg(M);
    for (auto &t : tg)
      t = tokd(rng);
    std::vector<Arg> a = {F(dt, randn(M * V, 3.f)), I(tg),
                          F("f32", std::vector<float>(M)),
                          F(dt, std::vector<float>(M * V))};
    const double scale = 1.0 / M;
    runGpu(mk("xent_fwd_bwd", "xe", dtsOf(a),
              {{"M", M}, {"V", V}, {"scale", scale}}),
           a, Scal{});
    std::vector<float> l(M), dl(M * V);
    (void)rt::cpu::xent(a[0].f.data(), a[1].i.data(), l.data(), dl.data(), M, V,
                        scale);
    check(n + " xent_fwd_bwd losses", a[2].f, l, 1e-5);
    check(n + " xent_fwd_bwd dlogits", a[3].f, dl, tolFor(dt, 1e-5));
    std::vector<Arg> b = {a[0], a[1], F("f32", std::vector<float>(M))};
    runGpu(mk("xent_fwd", "xf", dtsOf(b), {{"M", M}, {"V", V}}), b, Scal{});
    check(n + " xent_fwd losses", b[2].f, l, 1e-5);
  }
  // sumsq over a group of tensors of different sizes (a tile boundary, a
  // tensor smaller than a tile, one element)
  const abi::Ints groupCounts = {V * D, 4096 + 37, 1};
  for (bool acc : {false, true}) {
    std::vector<Arg> a;
    for (int64_t c : groupCounts)
      a.push_back(F(dt, randn(c)));
    a.push_back(F("f32", {2.5f}));
    std::vector<Arg> r = a;
    const std::map<std::string, AttrValue> at = {{"counts", groupCounts},
                                                 {"accumulate", acc}};
    runGpu(mk("sumsq", "ss", dtsOf(a), at), a, Scal{});
    std::vector<const float *> xs;
    for (size_t i = 0; i < groupCounts.size(); ++i)
      xs.push_back(r[i].f.data());
    rt::cpu::sumsq(xs, groupCounts, r.back().f.data(), acc);
    std::string s = acc ? " acc" : "";
    check(n + " sumsq" + s, a.back().f, r.back().f, 1e-5);
    // again: the ticket must have been reset
    std::vector<Arg> a2 = a;
    a2.back().f[0] = 2.5f;
    runGpu(mk("sumsq", "ss", dtsOf(a2), at), a2, Scal{});
    check(n + " sumsq again" + s, a2.back().f, r.back().f, 1e-5);
  }
  // adamw over the same group, the middle tensor not decayed
  for (double clip : {0.0, 1.0}) {
    const size_t k = groupCounts.size();
    const abi::Ints decay = {1, 0, 1};
    std::vector<Arg> a;
    for (int64_t c : groupCounts)
      a.push_back(F(dt, randn(c)));
    for (int64_t c : groupCounts)
      a.push_back(F(dt, randn(c, 0.1f)));
    for (int64_t c : groupCounts)
      a.push_back(F("f32", randn(c, 0.01f)));
    for (int64_t c : groupCounts) {
      std::vector<float> vv = randn(c, 0.01f);
      for (auto &x : vv)
        x = x * x;
      a.push_back(F("f32", vv));
    }
    a.push_back(F("f32", {4.0f}));
    std::vector<Arg> r = a;
    Scal sc;
    sc.lr = 3e-4f;
    sc.step = 7;
    std::map<std::string, AttrValue> at = {
        {"counts", groupCounts}, {"decay", decay},
        {"beta1", 0.9},          {"beta2", 0.95},
        {"eps", 1e-8},           {"weight_decay", 0.1},
        {"clip", clip}};
    runGpu(mk("adamw", "aw", dtsOf(a), at), a, sc);
    rt::cpu::AdamWConfig cfg;
    cfg.beta1 = 0.9;
    cfg.beta2 = 0.95;
    cfg.eps = 1e-8;
    cfg.clip = clip;
    for (size_t i = 0; i < k; ++i) {
      cfg.weightDecay = decay[i] ? 0.1 : 0.0;
      (void)rt::cpu::adamw(r[i].f.data(), r[k + i].f.data(),
                           r[2 * k + i].f.data(), r[3 * k + i].f.data(),
                           r.back().f.data(), groupCounts[i], cfg, sc.lr,
                           sc.step);
      std::string s = " clip " + std::to_string(clip) + " tensor " +
                      std::to_string(i);
      check(n + " adamw m" + s, a[2 * k + i].f, r[2 * k + i].f, 1e-5);
      check(n + " adamw v" + s, a[3 * k + i].f, r[3 * k + i].f, 1e-5);
      check(n + " adamw param" + s, a[i].f, r[i].f, tolFor(dt, 1e-6));
    }
  }
  // kv_store
  {
    const int64_t Dk = D, Bs = 3;
    std::vector<Arg> a = {F(dt, randn(Bs * Dk)), F(dt, randn(Bs * T * Dk))};
    std::vector<Arg> r = a;
    Scal sc;
    sc.pos = (int32_t)(T - 2);
    runGpu(mk("kv_store", "kv", dtsOf(a), {{"B", Bs}, {"D", Dk}, {"T", T}}), a,
           sc);
    (void)rt::cpu::kvStore(r[0].f.data(), r[1].f.data(), Bs, Dk, T, sc.pos);
    checkExact(n + " kv_store", a[1].f, r[1].f);
  }
}

int main(int argc, char **argv) {
  if (argc > 1)
    gInclude = argv[1];
  bool timing = argc > 2 && std::string(argv[2]) == "time";
  CU(cuInit(0));
  CUdevice dev;
  CU(cuDeviceGet(&dev, 0));
  char name[256];
  cuDeviceGetName(name, 256, dev);
  std::printf("device: %s\n", name);
  CU(cuDevicePrimaryCtxRetain(&gCtx, dev));
  CU(cuCtxSetCurrent(gCtx));
  auto t0 = std::chrono::steady_clock::now();

  for (std::string dt : {"f32", "bf16"}) {
    otherOps(dt, 256, 64, 64, 256, 256, {{1, 64}}, "tiny");
    otherOps(dt, 1536, 768, 512, 50257, 2048, {{1, 128}, {128, 6}}, "large");
  }

  std::vector<AttnCase> cases;
  for (int64_t block : {64, 16})
    cases.push_back({"tiny_b" + std::to_string(block),
                     4,
                     64,
                     4,
                     16,
                     16,
                     {LayoutDesc{"l", Pattern::local(8), 64, block},
                      LayoutDesc{"s", Pattern::strided(8), 64, block}}});
  cases.push_back(
      {"ragged_u48_s20",
       2,
       1000,
       4,
       24,
       40,
       {LayoutDesc{
            "u", Pattern::unionOf({Pattern::local(50), Pattern::fixed(48, 8)}),
            1000, 48},
        LayoutDesc{"s", Pattern::strided(20), 1000, 20}}});
  cases.push_back({"fixed128",
                   1,
                   2048,
                   2,
                   64,
                   64,
                   {LayoutDesc{"f", Pattern::fixed(128, 32), 2048, 128}}});
  cases.push_back(
      {"pred_emptyrows",
       1,
       777,
       2,
       128,
       128,
       {LayoutDesc{"p",
                   pred("p", "(and (eq (rems q 3) 0) (slt (sub q k) 100))"),
                   777, 64}}});
  {
    std::vector<std::pair<int64_t, int64_t>> blocks;
    for (int64_t r = 0; r < 8; ++r) {
      blocks.push_back({r, r});
      blocks.push_back({r, 0});
      if (r >= 3)
        blocks.push_back({r, r - 3});
    }
    cases.push_back(
        {"blocks256_at128",
         1,
         2000,
         2,
         32,
         32,
         {LayoutDesc{"b", Pattern::blockLayout(256, blocks), 2000, 128}}});
  }
  cases.push_back({"causal_d256_b7",
                   1,
                   300,
                   2,
                   256,
                   256,
                   {LayoutDesc{"c", Pattern::causal(), 300, 7}}});
  cases.push_back({"d8_block_gt_T",
                   2,
                   50,
                   2,
                   8,
                   8,
                   {LayoutDesc{"c", Pattern::local(10), 50, 128}}});
  cases.push_back(
      {"d256x64_union",
       1,
       513,
       4,
       256,
       64,
       {LayoutDesc{"a",
                   Pattern::unionOf(
                       {Pattern::local(40), pred("z", "(eq (rems k 64) 63)")}),
                   513, 32},
        LayoutDesc{"b", Pattern::fixed(64, 16), 513, 64}}});
  for (std::string dt : {"f32", "bf16"})
    for (auto &c : cases)
      attention(c, dt);

  auto t1 = std::chrono::steady_clock::now();
  std::printf("\n%d checks, %d failures (%.1f s)\n", gChecks, gFailures,
              std::chrono::duration<double>(t1 - t0).count());

  if (timing) {
    // The large model's attention: B 4, T 12288, 8 heads of 64.
    const int64_t B = 4, T = 12288, H = 8, d = 64;
    struct TP {
      const char *name;
      Pattern p;
      int64_t block;
    };
    std::vector<TP> tps = {
        {"fixed(128,32)@128", Pattern::fixed(128, 32), 128},
        {"union(local(128),strided(128))@128",
         Pattern::unionOf({Pattern::local(128), Pattern::strided(128)}), 128},
        {"local(512)@64", Pattern::local(512), 64},
    };
    for (auto &tp : tps)
      for (std::string dt : {"bf16", "f32"}) {
        std::vector<LayoutDesc> ls = {LayoutDesc{"f", tp.p, T, tp.block}};
        std::map<std::string, AttrValue> at = {
            {"B", B},
            {"T", T},
            {"H", H},
            {"dk", d},
            {"dv", d},
            {"scale", 0.125},
            {"layouts", std::vector<std::string>{"f"}},
            {"heads_per_layout", H}};
        const size_t nq = B * T * H * d;
        std::vector<Arg> a = {F(dt, randn(nq)), F(dt, randn(nq)),
                              F(dt, randn(nq)), F(dt, std::vector<float>(nq)),
                              F("f32", std::vector<float>(B * H * T))};
        double fwd = runGpu(mk("attention_fwd", "tf", dtsOf(a), at, ls), a,
                            Scal{}, 5, true);
        std::vector<Arg> b = {a[0],
                              a[1],
                              a[2],
                              a[3],
                              a[4],
                              F(dt, randn(nq)),
                              F(dt, std::vector<float>(nq)),
                              F(dt, std::vector<float>(nq)),
                              F(dt, std::vector<float>(nq))};
        double bwd = runGpu(mk("attention_bwd", "tb", dtsOf(b), at, ls), b,
                            Scal{}, 3, false);
        auto cost = pattern::attentionCost(tp.p, T, tp.block, d);
        double useful = cost.usefulFlops * B * H;
        std::printf("timing %s %s B%ld T%ld H%ld d%ld: fwd %.3f ms (%.2f "
                    "TFLOP/s useful), "
                    "bwd %.3f ms (%.2f TFLOP/s useful at 2.5x fwd flops); "
                    "density %.4f\n",
                    dt.c_str(), tp.name, B, T, H, d, fwd, useful / fwd / 1e9,
                    bwd, 2.5 * useful / bwd / 1e9, tp.p.density(T));
      }
  }
  return gFailures ? 1 : 0;
}
