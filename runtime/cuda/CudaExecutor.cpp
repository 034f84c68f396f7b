//===- CudaExecutor.cpp - Runs an artifact on an NVIDIA GPU ---------------===//

#include "runtime/cuda/CudaExecutor.h"

#include "runtime/cuda/Gemm.h"
#include "abi/Hash.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

namespace stc::rt {

// Declared in runtime/Executor.h.
Expected<std::unique_ptr<Executor>> createCudaExecutor() {
  auto e = cuda::CudaExecutor::create();
  if (!e)
    return e.status();
  return std::unique_ptr<Executor>(std::move(*e));
}

namespace cuda {

namespace {

constexpr size_t kAlign = 256;
size_t alignUp(size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

std::string bytesText(double b) {
  char buf[64];
  if (b >= double(1ull << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(1ull << 30));
  else if (b >= double(1ull << 20))
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / double(1ull << 20));
  else if (b >= 1024)
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%.0f bytes", b);
  return buf;
}

bool envFlag(const char *name) {
  const char *v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

bool overlaps(const Buffer &a, const Buffer &b) {
  return a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
}

/// Whether op writes bytes of buffer `buf`.
bool writesOverlapping(const Artifact &a, const Op &op, int buf) {
  std::vector<abi::Arg> specs = abi::signature(op.kind, op.attrs);
  for (size_t j = 0; j < specs.size() && j < op.args.size(); ++j)
    if (specs[j].role != Role::In &&
        overlaps(a.buffers[op.args[j]], a.buffers[buf]))
      return true;
  return false;
}

} // namespace

//===----------------------------------------------------------------------===//
// The device
//===----------------------------------------------------------------------===//

std::string CudaDeviceInfo::describe() const {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s (device %d, sm_%d, %d SMs, %s, driver CUDA %s)",
                name.c_str(), ordinal, arch, multiprocessors,
                bytesText(double(totalMemory)).c_str(),
                cudaVersionString(driverVersion).c_str());
  return buf;
}

namespace {

Expected<CudaDeviceInfo> queryDevice(const DriverApi &drv, CUdevice &devOut) {
  CudaDeviceInfo info;
  info.driverVersion = drv.driverVersion;
  if (const char *env = std::getenv("STC_CUDA_DEVICE"); env && *env) {
    char *end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (*end || v < 0 || v > INT_MAX)
      return Status::error("STC_CUDA_DEVICE is '" + std::string(env) +
                           "'; expected a device ordinal (0, 1, ...)");
    info.ordinal = static_cast<int>(v);
  }
  int count = 0;
  STC_RETURN_IF_ERROR(drv.check(drv.cuDeviceGetCount(&count),
                                "cuDeviceGetCount", ""));
  if (info.ordinal >= count)
    return Status::error("no CUDA device: STC_CUDA_DEVICE is " +
                         std::to_string(info.ordinal) + " but there are only " +
                         std::to_string(count) + " device(s) (0 .. " +
                         std::to_string(count - 1) + ")");
  CUdevice dev = 0;
  STC_RETURN_IF_ERROR(drv.check(drv.cuDeviceGet(&dev, info.ordinal),
                                "cuDeviceGet", std::to_string(info.ordinal)));
  char name[256] = {0};
  STC_RETURN_IF_ERROR(drv.check(drv.cuDeviceGetName(name, sizeof name - 1, dev),
                                "cuDeviceGetName", ""));
  info.name = name;
  size_t total = 0;
  STC_RETURN_IF_ERROR(
      drv.check(drv.cuDeviceTotalMem(&total, dev), "cuDeviceTotalMem", ""));
  info.totalMemory = total;
  struct {
    CUdevice_attribute attr;
    int *out;
    const char *what;
  } attrs[] = {
      {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, &info.ccMajor, "cc major"},
      {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, &info.ccMinor, "cc minor"},
      {CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, &info.multiprocessors, "SMs"},
      {CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, &info.maxThreadsPerBlock,
       "max threads per block"},
      {CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X, &info.maxBlock[0], "max block x"},
      {CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y, &info.maxBlock[1], "max block y"},
      {CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z, &info.maxBlock[2], "max block z"},
      {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, &info.maxGrid[0], "max grid x"},
      {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y, &info.maxGrid[1], "max grid y"},
      {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z, &info.maxGrid[2], "max grid z"},
      {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, &info.maxSmemPerBlock,
       "max shared memory per block"},
      {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
       &info.maxSmemPerBlockOptin, "max shared memory per block (opt-in)"},
  };
  for (auto &a : attrs)
    STC_RETURN_IF_ERROR(drv.check(drv.cuDeviceGetAttribute(a.out, a.attr, dev),
                                  "cuDeviceGetAttribute", a.what));
  info.arch = info.ccMajor * 10 + info.ccMinor;
  devOut = dev;
  return info;
}

/// Compute capability >= 7.0 and an architecture NVRTC compiles for.
Status checkUsable(const CudaDeviceInfo &info) {
  auto nv = nvrtcInfo();
  if (!nv)
    return nv.status();
  std::string cc =
      std::to_string(info.ccMajor) + "." + std::to_string(info.ccMinor);
  if (info.ccMajor < 7)
    return Status::error("no usable CUDA device: " + info.name +
                         " has compute capability " + cc + "; stc needs 7.0 or newer (Volta and later), and "
                         "this NVRTC (" +
                         nv->version() + ") compiles for " + nv->archList());
  if (std::find(nv->archs.begin(), nv->archs.end(), info.arch) ==
      nv->archs.end())
    return Status::error("no usable CUDA device: " + info.name +
                         " has compute capability " + cc + " (sm_" + std::to_string(info.arch) +
                         "), which this NVRTC (" + nv->version() +
                         ") cannot compile for; it supports " +
                         nv->archList());
  return Status::ok();
}

} // namespace

Expected<CudaDeviceInfo> probeCudaDevice() {
  auto drv = loadDriver();
  if (!drv)
    return drv.status();
  CUdevice dev = 0;
  auto info = queryDevice(**drv, dev);
  if (!info)
    return info.status();
  STC_RETURN_IF_ERROR(checkUsable(*info));
  return info;
}

//===----------------------------------------------------------------------===//
// Creation and teardown
//===----------------------------------------------------------------------===//

/// One op, ready to launch.
struct CudaExecutor::OpPlan {
  OpKind kind = OpKind::Zero;
  std::string label; ///< "train_step op 17 (attention_fwd)"
  // Kernels.
  int kernel = -1;
  CUfunction fn = nullptr;
  unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
  unsigned smem = 0;
  std::vector<CUdeviceptr> params; ///< ABI order (see the header)
  // gemm.
  std::vector<int> gemmPlans;    ///< GemmEngine plans, run in order
  std::vector<GemmPtrs> gemmPtrs; ///< one per plan
  // Host checks.
  struct IdCheck {
    int buffer;
    int64_t V;
    const char *what;
    int lastWriter; ///< last earlier op writing its bytes, or -1
  };
  std::vector<IdCheck> ids;
  int gnorm = -1;              ///< adamw: the gnorm_sq buffer
  int gnormNextWriter = INT_MAX; ///< first later op writing its bytes
  bool needsPosition = false;  ///< kv_store, attention_decode
  int64_t T = 0;
};

CudaExecutor::CudaExecutor(const DriverApi &drv, CudaDeviceInfo dev,
                           CUdevice device, CUcontext ctx)
    : drv_(drv), dev_(std::move(dev)), device_(device), ctx_(ctx) {
  syncEachOp_ = envFlag("STC_CUDA_SYNC");
  const char *g = std::getenv("STC_CUDA_GRAPHS");
  graphsEnabled_ = !(g && std::strcmp(g, "0") == 0);
}

Expected<std::unique_ptr<CudaExecutor>> CudaExecutor::create() {
  auto drv = loadDriver();
  if (!drv)
    return drv.status();
  const DriverApi &d = **drv;
  CUdevice dev = 0;
  auto info = queryDevice(d, dev);
  if (!info)
    return info.status();
  STC_RETURN_IF_ERROR(checkUsable(*info));
  CUcontext ctx = nullptr;
  STC_RETURN_IF_ERROR(d.check(d.cuDevicePrimaryCtxRetain(&ctx, dev),
                              "cuDevicePrimaryCtxRetain", info->name));
  CUresult r = d.cuCtxSetCurrent(ctx);
  if (r != CUDA_SUCCESS) {
    d.cuDevicePrimaryCtxRelease(dev);
    return d.check(r, "cuCtxSetCurrent", info->name);
  }
  // A blocking stream: the synchronous copies and memsets of the legacy
  // stream stay ordered with its launches.
  CUstream stream = nullptr;
  r = d.cuStreamCreate(&stream, CU_STREAM_DEFAULT);
  if (r != CUDA_SUCCESS) {
    d.cuDevicePrimaryCtxRelease(dev);
    return d.check(r, "cuStreamCreate", info->name);
  }
  auto e = std::unique_ptr<CudaExecutor>(
      new CudaExecutor(d, std::move(*info), dev, ctx));
  e->stream_ = stream;
  return e;
}

CudaExecutor::~CudaExecutor() {
  release();
  if (ctx_) {
    if (stream_)
      drv_.cuStreamDestroy(stream_);
    drv_.cuDevicePrimaryCtxRelease(device_);
  }
}

void CudaExecutor::destroyGraphs() {
  for (CUgraphExec &g : graphs_)
    if (g) {
      drv_.cuGraphExecDestroy(g);
      g = nullptr;
    }
}

void CudaExecutor::release() {
  if (!ctx_)
    return;
  drv_.cuCtxSetCurrent(ctx_);
  drv_.cuCtxSynchronize();
  destroyGraphs();
  gemm_.reset();
  for (CUmodule m : modules_)
    if (m)
      drv_.cuModuleUnload(m);
  modules_.clear();
  functions_.clear();
  if (helperModule_)
    drv_.cuModuleUnload(helperModule_);
  helperModule_ = nullptr;
  for (CUdeviceptr *p : {&arena_, &tables_, &aux_, &gradientSum_})
    if (*p) {
      drv_.cuMemFree(*p);
      *p = 0;
    }
  layoutPtrs_.clear();
  for (auto &v : plans_)
    v.clear();
  for (auto &v : gemmPlans_)
    v.clear();
}

Status CudaExecutor::makeCurrent() const {
  return drv_.check(drv_.cuCtxSetCurrent(ctx_), "cuCtxSetCurrent", dev_.name);
}

//===----------------------------------------------------------------------===//
// allocate
//===----------------------------------------------------------------------===//

Status CudaExecutor::checkLaunchShapes() const {
  for (const KernelRef &k : artifact().kernels) {
    std::string where = "kernel '" + k.name + "'";
    int64_t threads = 1;
    static const char *axes[3] = {"x", "y", "z"};
    for (int d = 0; d < 3; ++d) {
      if (k.block[d] < 1 || k.block[d] > dev_.maxBlock[d])
        return Status::error(where + ": block." + axes[d] + " is " +
                             std::to_string(k.block[d]) + "; " + dev_.name +
                             " allows 1 .. " + std::to_string(dev_.maxBlock[d]));
      if (k.grid[d] < 1 || k.grid[d] > dev_.maxGrid[d])
        return Status::error(where + ": grid." + axes[d] + " is " +
                             std::to_string(k.grid[d]) + "; " + dev_.name +
                             " allows 1 .. " + std::to_string(dev_.maxGrid[d]));
      threads *= k.block[d];
    }
    if (threads > dev_.maxThreadsPerBlock)
      return Status::error(where + ": a block of " + std::to_string(threads) +
                           " threads; " + dev_.name + " allows at most " +
                           std::to_string(dev_.maxThreadsPerBlock));
    if (k.smem > dev_.maxSmemPerBlockOptin)
      return Status::error(
          where + ": " + std::to_string(k.smem) +
          " bytes of dynamic shared memory; " + dev_.name + " (sm_" +
          std::to_string(dev_.arch) + ") allows at most " +
          std::to_string(dev_.maxSmemPerBlockOptin) +
          " per block (CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)");
  }
  return Status::ok();
}

Status CudaExecutor::checkMemory(size_t tablesBytes, size_t auxBytes) const {
  size_t freeB = 0, totalB = 0;
  STC_RETURN_IF_ERROR(drv_.check(drv_.cuMemGetInfo(&freeB, &totalB),
                                 "cuMemGetInfo", dev_.name));
  const size_t arena = static_cast<size_t>(artifact().arenaBytes);
  const size_t need = arena + tablesBytes + auxBytes;
  if (need > freeB)
    return Status::error(
        "the artifact needs " + bytesText(double(need)) +
        " of device memory (arena " + bytesText(double(arena)) +
        ", layout tables " + bytesText(double(tablesBytes)) +
        ", cuBLASLt workspace and GEMM scratch " + bytesText(double(auxBytes)) +
        ") but " + dev_.name + " has " + bytesText(double(freeB)) +
        " free of " + bytesText(double(totalB)) +
        " (compile with a smaller --batch or context, or free the GPU)");
  return Status::ok();
}

Status CudaExecutor::buildLayoutTables(
    std::vector<uint8_t> &staging,
    std::vector<std::array<size_t, 6>> &offsets) const {
  const Artifact &a = artifact();
  // Six int32 arrays per layout, each at a 256-byte aligned offset of one
  // allocation (an empty array still gets a valid, aligned address).
  std::vector<std::array<std::vector<int32_t>, 6>> host(a.layouts.size());
  size_t total = 0;
  offsets.assign(a.layouts.size(), {});
  for (size_t l = 0; l < a.layouts.size(); ++l) {
    const Layout &L = a.layouts[l];
    auto conv = [&](const auto &v, std::vector<int32_t> &out,
                    const char *what) -> Status {
      out.resize(v.size());
      for (size_t i = 0; i < v.size(); ++i) {
        int64_t x = static_cast<int64_t>(v[i]);
        if (x < INT32_MIN || x > INT32_MAX)
          return Status::error("layout '" + L.name + "': " + what + "[" +
                               std::to_string(i) + "] = " + std::to_string(x) +
                               " does not fit the kernels' int32 tables");
        out[i] = static_cast<int32_t>(x);
      }
      return Status::ok();
    };
    STC_RETURN_IF_ERROR(conv(L.blocks.rowPtr, host[l][0], "row_ptr"));
    STC_RETURN_IF_ERROR(conv(L.blocks.colIdx, host[l][1], "col_idx"));
    STC_RETURN_IF_ERROR(conv(L.blocks.classes, host[l][2], "classes"));
    STC_RETURN_IF_ERROR(conv(L.colPtr, host[l][3], "col_ptr"));
    STC_RETURN_IF_ERROR(conv(L.rowIdx, host[l][4], "row_idx"));
    STC_RETURN_IF_ERROR(conv(L.colClasses, host[l][5], "col_classes"));
    for (int t = 0; t < 6; ++t) {
      offsets[l][t] = total;
      total += alignUp(std::max<size_t>(host[l][t].size() * 4, 4));
    }
  }
  staging.assign(std::max<size_t>(total, kAlign), 0);
  for (size_t l = 0; l < a.layouts.size(); ++l)
    for (int t = 0; t < 6; ++t)
      if (!host[l][t].empty())
        std::memcpy(staging.data() + offsets[l][t], host[l][t].data(),
                    host[l][t].size() * 4);
  return Status::ok();
}

namespace {

/// A gemm op's (or a gemm_group member's) device pointers, from the
/// arguments in abi/Ops.def's order.
struct GemmArgs {
  int A = -1, B = -1, C = -1, bias = -1, pre = -1, geluX = -1, db = -1;
};

/// Member `m` of a gemm or gemm_group op (a gemm has one member), by
/// abi/Ops.def's argument names (a group's carry the suffix "_m").
GemmArgs gemmArgs(const Op &op, size_t m) {
  const std::vector<abi::Arg> sig = abi::signature(op.kind, op.attrs);
  auto buf = [&](std::string name) {
    if (op.kind == OpKind::GemmGroup && name != "A")
      name += "_" + std::to_string(m);
    int k = abi::argIndex(sig, name);
    return k < 0 ? -1 : op.args[static_cast<size_t>(k)];
  };
  return {buf("A"),   buf("B"),      buf("C"), buf("bias"),
          buf("pre"), buf("gelu_x"), buf("db")};
}

GemmProblem gemmProblem(const Artifact &a, const Op &op, size_t m) {
  const OpAttrs &at = op.attrs;
  GemmArgs g = gemmArgs(op, m);
  auto dtype = [&](int buf) { return a.buffers[buf].dtype; };
  GemmProblem p;
  p.M = at.M;
  p.N = op.kind == OpKind::GemmGroup ? at.widths[m] : at.N;
  p.K = at.K;
  p.transA = at.transA;
  p.transB = at.transB;
  p.alpha = at.alpha;
  p.beta = at.beta;
  p.a = dtype(g.A);
  p.b = dtype(g.B);
  p.c = dtype(g.C);
  p.hasBias = at.bias;
  if (at.bias)
    p.bias = dtype(g.bias);
  p.gelu = at.gelu;
  p.geluPre = at.geluPre;
  if (at.geluPre)
    p.pre = dtype(g.pre);
  p.dgelu = at.dgelu;
  if (at.dgelu)
    p.geluX = dtype(g.geluX);
  p.biasGrad = at.biasGrad;
  if (at.biasGrad)
    p.db = dtype(g.db);
  return p;
}

/// The distance in elements between consecutive members' buffers of one
/// argument row, if every member's lies that far after the previous one's
/// and all have the first one's dtype; nullopt otherwise.
std::optional<int64_t> equalStride(const Artifact &a, const Op &op,
                                   int GemmArgs::*row) {
  const size_t n = op.attrs.widths.size();
  const Buffer &b0 = a.buffers[gemmArgs(op, 0).*row];
  const Buffer &b1 = a.buffers[gemmArgs(op, 1).*row];
  const int64_t step = b1.offset - b0.offset;
  const int64_t size = abi::dtypeSize(b0.dtype);
  if (step <= 0 || step % size != 0)
    return std::nullopt;
  for (size_t m = 1; m < n; ++m) {
    const Buffer &bm = a.buffers[gemmArgs(op, m).*row];
    if (bm.dtype != b0.dtype || bm.offset - b0.offset != step * int64_t(m))
      return std::nullopt;
  }
  return step / size;
}

} // namespace

std::string CudaExecutor::gemmSummary() const {
  if (!gemm_)
    return "no gemm plans";
  int plans = 0;
  for (const auto &entry : gemmPlans_)
    for (const auto &op : entry)
      plans += static_cast<int>(op.size());
  return std::to_string(plans) + " gemm plans (" +
         std::to_string(gemm_->batchedPlans()) + " strided-batched groups, " +
         std::to_string(gemm_->widenedPlans()) + " widened, " +
         std::to_string(gemm_->helperEpiloguePlans()) +
         " with epilogues in helper kernels)";
}

Status CudaExecutor::planGemms() {
  const Artifact &a = artifact();
  auto engine = GemmEngine::create(drv_);
  if (!engine)
    return engine.status();
  gemm_ = std::move(*engine);
  for (int e = 0; e < kNumEntryKinds; ++e) {
    const Entry &entry = a.entries[e];
    gemmPlans_[e].assign(entry.ops.size(), {});
    for (size_t i = 0; i < entry.ops.size(); ++i) {
      const Op &op = entry.ops[i];
      if (op.kind != OpKind::Gemm && op.kind != OpKind::GemmGroup)
        continue;
      const std::string label = std::string(entryKindName(EntryKind(e))) +
                                " op " + std::to_string(i) + " (" +
                                opKindName(op.kind) + ")";
      const OpAttrs &at = op.attrs;
      const size_t members =
          op.kind == OpKind::GemmGroup ? at.widths.size() : 1;
      if (op.kind == OpKind::GemmGroup &&
          std::all_of(at.widths.begin(), at.widths.end(),
                      [&](int64_t w) { return w == at.widths[0]; })) {
        // One strided-batched call where the lists lie at equal distances.
        GemmBatch batch;
        batch.count = static_cast<int>(members);
        bool equal = true;
        auto strideOf = [&](int GemmArgs::*row, int64_t &out) {
          auto s = equalStride(a, op, row);
          equal = equal && s.has_value();
          out = s.value_or(0);
        };
        strideOf(&GemmArgs::B, batch.strideB);
        strideOf(&GemmArgs::C, batch.strideC);
        if (at.bias)
          strideOf(&GemmArgs::bias, batch.strideBias);
        if (at.biasGrad)
          strideOf(&GemmArgs::db, batch.strideBias);
        if (equal) {
          auto plan = gemm_->planBatched(gemmProblem(a, op, 0), batch, label);
          if (!plan)
            return plan.status();
          if (*plan >= 0) {
            gemmPlans_[e][i] = {*plan};
            continue;
          }
        }
      }
      for (size_t m = 0; m < members; ++m) {
        auto plan = gemm_->plan(gemmProblem(a, op, m), label);
        if (!plan)
          return plan.status();
        gemmPlans_[e][i].push_back(*plan);
      }
    }
  }
  return Status::ok();
}

Status CudaExecutor::compileAndLoad() {
  const Artifact &a = artifact();
  std::vector<CompileRequest> reqs;
  reqs.reserve(a.kernels.size() + 1);
  for (const KernelRef &k : a.kernels) {
    auto src = readFile(k.path, "kernel source");
    if (!src)
      return src.status().withContext("kernel '" + k.name + "'");
    // The loader checks hashes unless told not to; a GPU run always does.
    uint64_t h = abi::fnv1a64(*src);
    if (h != k.fnv1a64 || static_cast<int64_t>(src->size()) != k.bytes)
      return Status::error("kernel '" + k.name + "': " + k.path + " has " +
                           std::to_string(src->size()) + " bytes hashing to " +
                           abi::hex64(h) + " but the manifest lists " +
                           std::to_string(k.bytes) + " bytes, " +
                           abi::hex64(k.fnv1a64) +
                           " (the source was changed or damaged)");
    reqs.push_back({k.name, std::move(*src)});
  }
  reqs.push_back({GemmEngine::kHelperName, GemmEngine::helperSource()});

  auto cubins = compileKernels(reqs, dev_.arch, &compileStats_);
  if (!cubins)
    return cubins.status();

  auto loadModule = [&](size_t i, CUmodule &mod) -> Status {
    CUresult r = drv_.cuModuleLoadData(&mod, (*cubins)[i].data());
    if (r == CUDA_SUCCESS)
      return Status::ok();
    Status s = drv_.check(r, "cuModuleLoadData", "kernel " + reqs[i].name);
    auto nv = nvrtcInfo();
    int nvVersion = nv ? nv->major * 1000 + nv->minor * 10 : 0;
    if (nvVersion > dev_.driverVersion)
      s = Status::error(s.message() + "; the driver supports CUDA " +
                        cudaVersionString(dev_.driverVersion) +
                        " but the kernels were compiled by NVRTC " +
                        (nv ? nv->version() : std::string("?")) +
                        " (update the driver or build with an older toolkit)");
    return s;
  };

  modules_.assign(a.kernels.size(), nullptr);
  functions_.assign(a.kernels.size(), nullptr);
  for (size_t i = 0; i < a.kernels.size(); ++i) {
    STC_RETURN_IF_ERROR(loadModule(i, modules_[i]));
    STC_RETURN_IF_ERROR(drv_.check(
        drv_.cuModuleGetFunction(&functions_[i], modules_[i],
                                 a.kernels[i].name.c_str()),
        "cuModuleGetFunction",
        a.kernels[i].name + " (the kernel's extern \"C\" entry must be named "
                            "like the kernel)"));
  }
  STC_RETURN_IF_ERROR(loadModule(a.kernels.size(), helperModule_));
  GemmHelpers helpers;
  for (auto [fn, entry] :
       {std::pair{&helpers.widen, GemmEngine::kWidenEntry},
        {&helpers.finish, GemmEngine::kFinishEntry},
        {&helpers.gelu, GemmEngine::kGeluEntry},
        {&helpers.dgelu, GemmEngine::kDgeluEntry},
        {&helpers.colsum, GemmEngine::kColsumEntry}})
    STC_RETURN_IF_ERROR(
        drv_.check(drv_.cuModuleGetFunction(fn, helperModule_, entry),
                   "cuModuleGetFunction", entry));
  STC_RETURN_IF_ERROR(drv_.check(
      drv_.cuModuleGetFunction(&gradAccumulate_, helperModule_,
                               GemmEngine::kGradAccumulateEntry),
      "cuModuleGetFunction", GemmEngine::kGradAccumulateEntry));
  STC_RETURN_IF_ERROR(drv_.check(
      drv_.cuModuleGetFunction(&gradAverage_, helperModule_,
                               GemmEngine::kGradAverageEntry),
      "cuModuleGetFunction", GemmEngine::kGradAverageEntry));
  size_t scratch = gemm_->scratchBytes();
  gemm_->bind(aux_, scratch ? aux_ + alignUp(GemmEngine::kWorkspaceBytes) : 0,
              helpers, stream_);

  // Per kernel: the largest dynamic shared memory any op asks for, and the
  // function's own limits.
  std::vector<int64_t> smemMax(a.kernels.size(), 0), threadsMax(a.kernels.size(), 0);
  std::vector<std::string> firstUse(a.kernels.size());
  for (int e = 0; e < kNumEntryKinds; ++e)
    for (size_t i = 0; i < a.entries[e].ops.size(); ++i) {
      const Op &op = a.entries[e].ops[i];
      if (op.kernel < 0)
        continue;
      const KernelRef &k = a.kernels[op.kernel];
      smemMax[op.kernel] = std::max(smemMax[op.kernel], k.smem);
      threadsMax[op.kernel] =
          std::max(threadsMax[op.kernel], k.block[0] * k.block[1] * k.block[2]);
      if (firstUse[op.kernel].empty())
        firstUse[op.kernel] = std::string(entryKindName(EntryKind(e))) +
                              " op " + std::to_string(i);
    }
  for (size_t k = 0; k < a.kernels.size(); ++k) {
    const std::string &kn = a.kernels[k].name;
    int maxThreads = 0, staticSmem = 0;
    STC_RETURN_IF_ERROR(drv_.check(
        drv_.cuFuncGetAttribute(&maxThreads,
                                CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK,
                                functions_[k]),
        "cuFuncGetAttribute", kn));
    STC_RETURN_IF_ERROR(drv_.check(
        drv_.cuFuncGetAttribute(&staticSmem,
                                CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES,
                                functions_[k]),
        "cuFuncGetAttribute", kn));
    if (threadsMax[k] > maxThreads)
      return Status::error("kernel '" + kn + "' (" + firstUse[k] +
                           ") is launched with " +
                           std::to_string(threadsMax[k]) +
                           " threads per block but, compiled for sm_" +
                           std::to_string(dev_.arch) + ", runs at most " +
                           std::to_string(maxThreads) +
                           " (registers per thread)");
    if (staticSmem + smemMax[k] > dev_.maxSmemPerBlockOptin)
      return Status::error(
          "kernel '" + kn + "' (" + firstUse[k] + ") needs " +
          std::to_string(staticSmem) + " bytes of static and " +
          std::to_string(smemMax[k]) + " of dynamic shared memory; " +
          dev_.name + " allows " + std::to_string(dev_.maxSmemPerBlockOptin) +
          " per block");
    if (smemMax[k] > 48 * 1024)
      STC_RETURN_IF_ERROR(drv_.check(
          drv_.cuFuncSetAttribute(functions_[k],
                                  CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                  static_cast<int>(smemMax[k])),
          "cuFuncSetAttribute",
          kn + ", CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = " +
              std::to_string(smemMax[k])));
  }
  return Status::ok();
}

Status CudaExecutor::planOps() {
  const Artifact &a = artifact();
  const CUdeviceptr scalars =
      arena_ + static_cast<CUdeviceptr>(a.buffers[a.scalars].offset);
  auto ptr = [&](int buf) {
    return arena_ + static_cast<CUdeviceptr>(a.buffers[buf].offset);
  };
  std::vector<bool> paramsChecked(a.kernels.size(), false);
  for (int e = 0; e < kNumEntryKinds; ++e) {
    const Entry &entry = a.entries[e];
    std::vector<OpPlan> &plans = plans_[e];
    plans.resize(entry.ops.size());
    for (size_t i = 0; i < entry.ops.size(); ++i) {
      const Op &op = entry.ops[i];
      OpPlan &p = plans[i];
      p.kind = op.kind;
      p.label = std::string(entryKindName(EntryKind(e))) + " op " +
                std::to_string(i) + " (" + opKindName(op.kind) + ")";
      const OpAttrs &at = op.attrs;

      if (op.kind == OpKind::Gemm || op.kind == OpKind::GemmGroup) {
        // A batched group's one plan takes member 0's pointers.
        p.gemmPlans = gemmPlans_[e][i];
        for (size_t m = 0; m < p.gemmPlans.size(); ++m) {
          GemmArgs g = gemmArgs(op, m);
          auto opt = [&](int buf) { return buf >= 0 ? ptr(buf) : 0; };
          p.gemmPtrs.push_back({ptr(g.A), ptr(g.B), ptr(g.C), opt(g.bias),
                                opt(g.pre), opt(g.geluX), opt(g.db)});
        }
      } else {
        p.kernel = op.kernel;
        p.fn = functions_[op.kernel];
        const KernelRef &k = a.kernels[op.kernel];
        for (int d = 0; d < 3; ++d) {
          p.grid[d] = static_cast<unsigned>(k.grid[d]);
          p.block[d] = static_cast<unsigned>(k.block[d]);
        }
        p.smem = static_cast<unsigned>(k.smem);
        for (int buf : op.args)
          p.params.push_back(ptr(buf));
        for (int l : op.layouts) // attention ops: their layouts' tables
          for (CUdeviceptr t : layoutPtrs_[l])
            p.params.push_back(t);
        p.params.push_back(scalars);

        // The kernel's signature, where the driver can tell (CUDA 12.4+):
        // exactly this many 8-byte parameters.
        if (drv_.cuFuncGetParamInfo && !paramsChecked[op.kernel]) {
          paramsChecked[op.kernel] = true;
          size_t n = 0, off = 0, size = 0;
          bool allPointers = true;
          // Probe one past the expected count: a longer signature fails.
          while (n <= p.params.size() &&
                 drv_.cuFuncGetParamInfo(p.fn, n, &off, &size) == CUDA_SUCCESS) {
            allPointers &= size == sizeof(CUdeviceptr);
            ++n;
          }
          if (n != p.params.size() || !allPointers)
            return Status::error(
                "kernel '" + a.kernels[op.kernel].name + "' (" + p.label +
                ") takes " + std::to_string(n) + " parameters" +
                (allPointers ? "" : ", not all pointers,") +
                " but the executor passes " + std::to_string(p.params.size()) +
                " pointers: the op's " + std::to_string(op.args.size()) +
                " args" +
                (!op.layouts.empty()
                     ? ", 6 per layout x " + std::to_string(op.layouts.size())
                     : std::string()) +
                " and scalars (docs/artifact-format.md, Layouts)");
        }
      }

      // Host checks of data the CPU executor reports as errors.
      auto idCheck = [&](int argIndex, const char *what) {
        int buf = op.args[argIndex];
        int last = -1;
        for (int j = static_cast<int>(i) - 1; j >= 0; --j)
          if (writesOverlapping(a, entry.ops[j], buf)) {
            last = j;
            break;
          }
        p.ids.push_back({buf, at.V, what, last});
      };
      switch (op.kind) {
      case OpKind::EmbedFwd:
      case OpKind::EmbedBwd:
        idCheck(0, "tokens");
        break;
      case OpKind::XentFwd:
      case OpKind::XentFwdBwd:
        idCheck(1, "targets");
        break;
      case OpKind::AdamW: {
        // With loss scaling a non-finite norm is a skipped step: no check.
        if (op.attrs.lossScaling)
          break;
        p.gnorm = op.args[static_cast<size_t>(abi::argIndex(
            abi::signature(op.kind, op.attrs), "gnorm_sq"))];
        for (size_t j = i + 1; j < entry.ops.size(); ++j)
          if (writesOverlapping(a, entry.ops[j], p.gnorm)) {
            p.gnormNextWriter = static_cast<int>(j);
            break;
          }
        break;
      }
      case OpKind::KvStore:
      case OpKind::AttentionDecode:
      case OpKind::AttentionDecodeSplit:
        p.needsPosition = true;
        p.T = at.T;
        break;
      default:
        break;
      }
    }
  }
  return Status::ok();
}

Status CudaExecutor::allocateImpl() {
  STC_RETURN_IF_ERROR(makeCurrent());
  usedBeforeAllocate_ = usedDeviceBytes();
  deviceBytes_ = -1;
  Status s = [&]() -> Status {
    const Artifact &a = artifact();
    STC_RETURN_IF_ERROR(checkLaunchShapes());

    // GEMM plans first: the widened ones decide the scratch size.
    STC_RETURN_IF_ERROR(planGemms());
    std::vector<uint8_t> tables;
    std::vector<std::array<size_t, 6>> tableOffsets;
    STC_RETURN_IF_ERROR(buildLayoutTables(tables, tableOffsets));
    size_t auxBytes = alignUp(GemmEngine::kWorkspaceBytes) +
                      alignUp(gemm_->scratchBytes());
    STC_RETURN_IF_ERROR(checkMemory(tables.size(), auxBytes));

    const size_t arenaBytes =
        std::max<size_t>(static_cast<size_t>(a.arenaBytes), kAlign);
    STC_RETURN_IF_ERROR(drv_.check(drv_.cuMemAlloc(&arena_, arenaBytes),
                                   "cuMemAlloc",
                                   "arena of " + bytesText(double(arenaBytes))));
    STC_RETURN_IF_ERROR(drv_.check(drv_.cuMemsetD8(arena_, 0, arenaBytes),
                                   "cuMemsetD8", "arena"));
    STC_RETURN_IF_ERROR(drv_.check(drv_.cuMemAlloc(&aux_, auxBytes),
                                   "cuMemAlloc",
                                   "cuBLASLt workspace and GEMM scratch"));
    STC_RETURN_IF_ERROR(drv_.check(drv_.cuMemAlloc(&tables_, tables.size()),
                                   "cuMemAlloc", "layout tables"));
    STC_RETURN_IF_ERROR(drv_.check(
        drv_.cuMemcpyHtoD(tables_, tables.data(), tables.size()),
        "cuMemcpyHtoD", "layout tables"));
    layoutPtrs_.assign(a.layouts.size(), {});
    for (size_t l = 0; l < a.layouts.size(); ++l)
      for (int t = 0; t < 6; ++t)
        layoutPtrs_[l][t] = tables_ + tableOffsets[l][t];

    STC_RETURN_IF_ERROR(compileAndLoad());
    STC_RETURN_IF_ERROR(planOps());
    scalarsShadow_.fill(0);
    return drv_.check(drv_.cuCtxSynchronize(), "cuCtxSynchronize",
                      "allocate");
  }();
  if (!s)
    release();
  return s.withContext("cuda executor on " + dev_.name);
}

//===----------------------------------------------------------------------===//
// Buffers
//===----------------------------------------------------------------------===//

Status CudaExecutor::uploadImpl(const Buffer &b, const void *data) {
  STC_RETURN_IF_ERROR(makeCurrent());
  STC_RETURN_IF_ERROR(drv_.check(
      drv_.cuMemcpyHtoD(arena_ + static_cast<CUdeviceptr>(b.offset), data,
                        static_cast<size_t>(b.bytes)),
      "cuMemcpyHtoD", "buffer '" + b.name + "'"));
  const Artifact &a = artifact();
  if (&b == &a.buffers[a.scalars])
    std::memcpy(scalarsShadow_.data(), data,
                std::min<size_t>(64, static_cast<size_t>(b.bytes)));
  return Status::ok();
}

Status CudaExecutor::downloadImpl(const Buffer &b, void *data) const {
  STC_RETURN_IF_ERROR(makeCurrent());
  return drv_.check(
      drv_.cuMemcpyDtoH(data, arena_ + static_cast<CUdeviceptr>(b.offset),
                        static_cast<size_t>(b.bytes)),
      "cuMemcpyDtoH", "buffer '" + b.name + "'");
}

//===----------------------------------------------------------------------===//
// run
//===----------------------------------------------------------------------===//

Status CudaExecutor::checkIds(int buffer, int64_t V, const char *what) const {
  const Buffer &b = artifact().buffers[buffer];
  std::vector<int32_t> ids(static_cast<size_t>(b.elements()));
  STC_RETURN_IF_ERROR(downloadImpl(b, ids.data()));
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= V)
      return Status::error(std::string(what) + "[" + std::to_string(i) +
                           "] = " + std::to_string(ids[i]) +
                           " is outside [0, " + std::to_string(V) + ")");
  return Status::ok();
}

Status CudaExecutor::checkGnorm(int buffer) const {
  float gn = 0;
  const Buffer &b = artifact().buffers[buffer];
  STC_RETURN_IF_ERROR(makeCurrent());
  STC_RETURN_IF_ERROR(drv_.check(
      drv_.cuMemcpyDtoH(&gn, arena_ + static_cast<CUdeviceptr>(b.offset), 4),
      "cuMemcpyDtoH", "buffer '" + b.name + "'"));
  if (!std::isfinite(gn))
    return Status::error("gradient norm squared is " +
                         std::to_string(static_cast<double>(gn)) +
                         " (the loss diverged)");
  return Status::ok();
}

Status CudaExecutor::launch(const OpPlan &p) {
  if (!p.gemmPlans.empty()) {
    for (size_t m = 0; m < p.gemmPlans.size(); ++m)
      STC_RETURN_IF_ERROR(gemm_->run(p.gemmPlans[m], p.gemmPtrs[m], p.label));
    return Status::ok();
  }
  // cuLaunchKernel reads each parameter through its pointer at the call.
  void *small[64];
  std::vector<void *> large;
  void **params = small;
  if (p.params.size() > 64) {
    large.resize(p.params.size());
    params = large.data();
  }
  for (size_t j = 0; j < p.params.size(); ++j)
    params[j] = const_cast<CUdeviceptr *>(&p.params[j]);
  CUresult r = drv_.cuLaunchKernel(p.fn, p.grid[0], p.grid[1], p.grid[2],
                                   p.block[0], p.block[1], p.block[2], p.smem,
                                   stream_, params, nullptr);
  return drv_.check(r, "cuLaunchKernel",
                    artifact().kernels[p.kernel].name + ", " + p.label);
}

Status CudaExecutor::launchGraph(EntryKind kind) {
  const std::vector<OpPlan> &plans = plans_[static_cast<int>(kind)];
  CUgraphExec &exec = graphs_[static_cast<int>(kind)];
  if (!exec) {
    STC_RETURN_IF_ERROR(drv_.check(
        drv_.cuStreamBeginCapture(stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
        "cuStreamBeginCapture", entryKindName(kind)));
    Status s;
    for (size_t i = 0; s && i < plans.size(); ++i)
      s = launch(plans[i]);
    CUgraph graph = nullptr;
    CUresult r = drv_.cuStreamEndCapture(stream_, &graph);
    if (s)
      s = drv_.check(r, "cuStreamEndCapture", entryKindName(kind));
    if (s)
      s = drv_.check(drv_.cuGraphInstantiateWithFlags(&exec, graph, 0),
                     "cuGraphInstantiate", entryKindName(kind));
    if (graph)
      drv_.cuGraphDestroy(graph);
    if (!s) {
      exec = nullptr;
      return s.withContext(std::string("capturing the ") +
                           entryKindName(kind) +
                           " program as a CUDA graph (STC_CUDA_GRAPHS=0 "
                           "launches op by op)");
    }
    ++graphCaptures_;
  }
  ++graphReplays_;
  return drv_.check(drv_.cuGraphLaunch(exec, stream_), "cuGraphLaunch",
                    entryKindName(kind));
}

Status CudaExecutor::runImpl(EntryKind kind, const Entry &entry, size_t begin,
                             size_t end) {
  (void)entry;
  STC_RETURN_IF_ERROR(makeCurrent());
  const std::vector<OpPlan> &plans = plans_[static_cast<int>(kind)];
  const Scalars sc = unpackScalars(scalarsShadow_.data());

  // Every check that needs no device state written by this run is made up
  // front, before anything is launched: token ids nothing in [begin, end)
  // writes, positions, the optimizer step. The others (ids written by an op
  // of the run, a gradient norm an op of the run rewrites after an adamw
  // reads it) are made between ops, which keeps the run off the graph.
  std::set<std::pair<int, int64_t>> checked;
  std::map<int, size_t> deferredGnorm; // buffer -> first adamw op reading it
  bool midRunChecks = false;
  for (size_t i = begin; i < end; ++i) {
    const OpPlan &p = plans[i];
    for (const auto &c : p.ids) {
      if (c.lastWriter >= static_cast<int>(begin)) {
        midRunChecks = true;
        continue;
      }
      if (checked.insert({c.buffer, c.V}).second) {
        Status s = checkIds(c.buffer, c.V, c.what);
        if (!s)
          return s.withContext(p.label);
      }
    }
    if (p.needsPosition && (sc.position < 0 || sc.position >= p.T))
      return Status::error("position (scalars[3]) is " +
                           std::to_string(sc.position) + "; valid: 0 .. " +
                           std::to_string(p.T - 1))
          .withContext(p.label);
    if (p.kind == OpKind::AdamW) {
      if (sc.step < 1)
        return Status::error("optimizer step (scalars[1]) is " +
                             std::to_string(sc.step) + "; it must be >= 1")
            .withContext(p.label);
      // The kernel leaves everything untouched when gnorm_sq is not finite;
      // check after the run unless a later op of this run rewrites it (no
      // check with loss scaling, gnorm < 0: a skipped step is no error).
      if (p.gnorm >= 0) {
        if (p.gnormNextWriter >= static_cast<int>(end))
          deferredGnorm.emplace(p.gnorm, i);
        else
          midRunChecks = true;
      }
    }
  }

  const bool graph = graphsEnabled_ && !syncEachOp_ && !midRunChecks &&
                     begin == 0 && end == plans.size() && begin < end;
  size_t lastLaunched = begin;
  if (graph) {
    STC_RETURN_IF_ERROR(launchGraph(kind));
    lastLaunched = end - 1;
  }
  for (size_t i = begin; !graph && i < end; ++i) {
    const OpPlan &p = plans[i];
    for (const auto &c : p.ids)
      if (c.lastWriter >= static_cast<int>(begin)) { // written in this run
        Status s = checkIds(c.buffer, c.V, c.what);
        if (!s)
          return s.withContext(p.label);
      }
    if (p.kind == OpKind::AdamW && p.gnorm >= 0 &&
        p.gnormNextWriter < static_cast<int>(end)) {
      Status s = checkGnorm(p.gnorm);
      if (!s)
        return s.withContext(p.label);
    }
    Status s = launch(p);
    if (!s)
      return s;
    lastLaunched = i;
    if (syncEachOp_) {
      s = drv_.check(drv_.cuCtxSynchronize(), "cuCtxSynchronize",
                     "after " + p.label +
                         (p.kernel >= 0
                              ? ", kernel " + artifact().kernels[p.kernel].name
                              : std::string()));
      if (!s)
        return s;
    }
  }
  CUresult r = drv_.cuCtxSynchronize();
  if (r != CUDA_SUCCESS) {
    std::string range = std::string(entryKindName(kind)) + " ops [" +
                        std::to_string(begin) + ", " +
                        std::to_string(lastLaunched + 1) + ")";
    return Status::error(
        drv_.check(r, "cuCtxSynchronize", "after " + range).message() +
        (graph ? " (replayed as a CUDA graph)" : "") +
        "; a kernel of these ops failed (run with STC_CUDA_SYNC=1 to "
        "synchronize after every op and name it)");
  }
  for (const auto &[buf, i] : deferredGnorm) {
    Status s = checkGnorm(buf);
    if (!s)
      return s.withContext(plans[i].label);
  }
  if (usedBeforeAllocate_ >= 0) {
    int64_t used = usedDeviceBytes();
    if (used >= 0)
      deviceBytes_ = std::max(deviceBytes_, used - usedBeforeAllocate_);
  }
  return Status::ok();
}

template <typename Extra>
Status CudaExecutor::launchPerGradient(CUfunction fn, const char *entry,
                                       Extra extra) {
  const Artifact &a = artifact();
  CUdeviceptr at = gradientSum_;
  for (const Param &p : a.params) {
    const Buffer &g = a.buffers[p.grad];
    CUdeviceptr grad = arena_ + static_cast<CUdeviceptr>(g.offset);
    int dt = static_cast<int>(g.dtype); // the helpers' dtype code
    long long n = g.elements();
    void *params[] = {&at, &grad, &dt, &extra, &n};
    unsigned blocks =
        static_cast<unsigned>(std::min<long long>((n + 255) / 256, 4096));
    STC_RETURN_IF_ERROR(drv_.check(
        drv_.cuLaunchKernel(fn, blocks, 1, 1, 256, 1, 1, 0, stream_, params,
                            nullptr),
        "cuLaunchKernel", std::string(entry) + ", " + p.name));
    at += static_cast<CUdeviceptr>(n * sizeof(float));
  }
  return drv_.check(drv_.cuStreamSynchronize(stream_), "cuStreamSynchronize",
                    entry);
}

Status CudaExecutor::accumulateGradientsImpl(bool first) {
  STC_RETURN_IF_ERROR(makeCurrent());
  if (!gradientSum_) {
    const size_t bytes = static_cast<size_t>(accumulationBytes(artifact()));
    STC_RETURN_IF_ERROR(drv_.check(
        drv_.cuMemAlloc(&gradientSum_, std::max<size_t>(bytes, 4)), "cuMemAlloc",
        "the float32 gradient sum (" + abi::bytesText(bytes) +
            "; accumulate on a GPU with more free memory, or not at all)"));
  }
  return launchPerGradient(gradAccumulate_, GemmEngine::kGradAccumulateEntry,
                           first ? 1 : 0);
}

Status CudaExecutor::averageGradientsImpl(double scale) {
  STC_RETURN_IF_ERROR(makeCurrent());
  return launchPerGradient(gradAverage_, GemmEngine::kGradAverageEntry, scale);
}

int64_t CudaExecutor::usedDeviceBytes() const {
  size_t freeB = 0, totalB = 0;
  if (drv_.cuMemGetInfo(&freeB, &totalB) != CUDA_SUCCESS)
    return -1;
  return static_cast<int64_t>(totalB - freeB);
}

Expected<std::vector<double>> CudaExecutor::timeImpl(EntryKind kind,
                                                     const Entry &entry,
                                                     size_t begin, size_t end,
                                                     int repeats) {
  (void)entry;
  STC_RETURN_IF_ERROR(makeCurrent());
  const std::vector<OpPlan> &plans = plans_[static_cast<int>(kind)];
  // One event pair per repeat; the repeats run back to back on the device
  // (the host checks ran with the warm-up run), read after one sync.
  std::vector<CUevent> events(2 * static_cast<size_t>(repeats), nullptr);
  auto destroy = [&] {
    for (CUevent e : events)
      if (e)
        drv_.cuEventDestroy(e);
  };
  Status s;
  for (CUevent &e : events)
    if (!(s = drv_.check(drv_.cuEventCreate(&e, CU_EVENT_DEFAULT),
                         "cuEventCreate", "timing")))
      break;
  for (int r = 0; s && r < repeats; ++r) {
    s = drv_.check(drv_.cuEventRecord(events[2 * r], stream_), "cuEventRecord",
                   "timing");
    for (size_t i = begin; s && i < end; ++i)
      s = launch(plans[i]);
    if (s)
      s = drv_.check(drv_.cuEventRecord(events[2 * r + 1], stream_),
                     "cuEventRecord", "timing");
  }
  if (s)
    s = drv_.check(drv_.cuEventSynchronize(events.back()),
                   "cuEventSynchronize", "timing");
  std::vector<double> ms;
  for (int r = 0; s && r < repeats; ++r) {
    float t = 0;
    s = drv_.check(drv_.cuEventElapsedTime(&t, events[2 * r], events[2 * r + 1]),
                   "cuEventElapsedTime", "timing");
    ms.push_back(t);
  }
  destroy();
  if (!s)
    return s;
  return ms;
}

Expected<std::vector<double>> CudaExecutor::profileImpl(EntryKind kind,
                                                        const Entry &entry) {
  (void)entry;
  STC_RETURN_IF_ERROR(makeCurrent());
  const std::vector<OpPlan> &plans = plans_[static_cast<int>(kind)];
  // An event before the first op and after each: one stream of launches,
  // read after one sync.
  std::vector<CUevent> events(plans.size() + 1, nullptr);
  Status s;
  for (CUevent &e : events)
    if (!(s = drv_.check(drv_.cuEventCreate(&e, CU_EVENT_DEFAULT),
                         "cuEventCreate", "profile")))
      break;
  if (s)
    s = drv_.check(drv_.cuEventRecord(events[0], stream_), "cuEventRecord",
                   "profile");
  for (size_t i = 0; s && i < plans.size(); ++i) {
    s = launch(plans[i]);
    if (s)
      s = drv_.check(drv_.cuEventRecord(events[i + 1], stream_),
                     "cuEventRecord", "profile");
  }
  if (s)
    s = drv_.check(drv_.cuEventSynchronize(events.back()),
                   "cuEventSynchronize", "profile");
  std::vector<double> ms;
  for (size_t i = 0; s && i < plans.size(); ++i) {
    float t = 0;
    s = drv_.check(drv_.cuEventElapsedTime(&t, events[i], events[i + 1]),
                   "cuEventElapsedTime", "profile");
    ms.push_back(t);
  }
  for (CUevent e : events)
    if (e)
      drv_.cuEventDestroy(e);
  if (!s)
    return s;
  return ms;
}

} // namespace cuda
} // namespace stc::rt
