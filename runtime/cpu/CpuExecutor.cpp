//===- CpuExecutor.cpp - The reference executor ---------------------------===//

#include "runtime/cpu/CpuExecutor.h"

#include <algorithm>
#include <cstring>
#include <map>

namespace stc::rt {

bool CpuExecutor::heldAsDouble(const Buffer &b) const {
  return options_.precision == Precision::F64 && b.dtype != DType::I32 &&
         &b != &artifact().buffers[artifact().scalars];
}

uint8_t *CpuExecutor::storage(const Buffer &b) const {
  return arena_ + b.offset * scale_;
}

uint8_t *CpuExecutor::bufferData(int bufferIndex) {
  if (!arena_ || bufferIndex < 0 ||
      bufferIndex >= static_cast<int>(artifact().buffers.size()))
    return nullptr;
  return storage(artifact().buffers[bufferIndex]);
}

Status CpuExecutor::allocateImpl() {
  const Artifact &a = artifact();
  // F64: every floating element takes 8 bytes; scale offsets so the widest
  // widening (bf16, f16: 2 -> 8 bytes) fits.
  scale_ = 1;
  if (options_.precision == Precision::F64) {
    scale_ = 2;
    for (const Buffer &b : a.buffers)
      if (isHalf(b.dtype))
        scale_ = 4;
  }
  // calloc: large arenas come zeroed from the OS page by page instead of
  // being touched up front. Over-allocate to align the start ourselves.
  size_t bytes = static_cast<size_t>(a.arenaBytes * scale_) + abi::kBufferAlignment;
  void *raw = std::calloc(bytes, 1);
  if (!raw)
    return Status::error("cpu executor: cannot allocate the arena of " +
                         std::to_string(a.arenaBytes * scale_) + " bytes");
  rawArena_.reset(static_cast<uint8_t *>(raw));
  uintptr_t addr = reinterpret_cast<uintptr_t>(raw);
  arena_ = reinterpret_cast<uint8_t *>((addr + abi::kBufferAlignment - 1) /
                                       abi::kBufferAlignment * abi::kBufferAlignment);

  // The reference walks each query's allowed keys (memory per row, not n^2):
  // any n the validator accepts runs, in time proportional to the pairs.
  for (const Layout &l : a.layouts)
    masks_.emplace_back(l.pattern, l.blocks.n);
  return Status::ok();
}

Status CpuExecutor::uploadImpl(const Buffer &b, const void *data) {
  if (!heldAsDouble(b)) {
    std::memcpy(storage(b), data, static_cast<size_t>(b.bytes));
    return Status::ok();
  }
  double *dst = reinterpret_cast<double *>(storage(b));
  const int64_t n = b.elements();
  // `data` may be unaligned (a record inside a checkpoint file, a C API
  // caller's bytes): values are copied out one by one.
  const char *src = static_cast<const char *>(data);
  if (b.dtype == DType::F32) {
    for (int64_t i = 0; i < n; ++i) {
      float x;
      std::memcpy(&x, src + 4 * i, 4);
      dst[i] = x;
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t x;
      std::memcpy(&x, src + 2 * i, 2);
      dst[i] = halfToFloat(x, b.dtype);
    }
  }
  return Status::ok();
}

Status CpuExecutor::downloadImpl(const Buffer &b, void *data) const {
  if (!heldAsDouble(b)) {
    std::memcpy(data, storage(b), static_cast<size_t>(b.bytes));
    return Status::ok();
  }
  const double *src = reinterpret_cast<const double *>(storage(b));
  const int64_t n = b.elements();
  char *dst = static_cast<char *>(data); // may be unaligned, as above
  if (b.dtype == DType::F32) {
    for (int64_t i = 0; i < n; ++i) {
      float x = static_cast<float>(src[i]);
      std::memcpy(dst + 4 * i, &x, 4);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t x = floatToHalf(static_cast<float>(src[i]), b.dtype);
      std::memcpy(dst + 2 * i, &x, 2);
    }
  }
  return Status::ok();
}

Expected<const Buffer *> CpuExecutor::floatingBuffer(std::string_view name,
                                                     const char *what) const {
  if (!allocated())
    return Status::error(std::string(what) + ": allocate() an artifact first");
  int i = artifact().findBuffer(name);
  if (i < 0)
    return Status::error("no buffer named '" + std::string(name) +
                         "' in the artifact");
  const Buffer &b = artifact().buffers[i];
  if (b.dtype == DType::I32 || i == artifact().scalars)
    return Status::error("buffer '" + b.name + "' is not a floating buffer; " +
                         what + " needs f32, bf16 or f16");
  return &b;
}

Expected<std::vector<double>>
CpuExecutor::downloadDoubles(std::string_view name) const {
  auto b = floatingBuffer(name, "downloadDoubles");
  if (!b)
    return b.status();
  const Buffer &buf = **b;
  std::vector<double> out(static_cast<size_t>(buf.elements()));
  if (heldAsDouble(buf)) {
    std::memcpy(out.data(), storage(buf), out.size() * sizeof(double));
    return out;
  }
  const uint8_t *p = storage(buf);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = buf.dtype == DType::F32
                 ? reinterpret_cast<const float *>(p)[i]
                 : halfToFloat(reinterpret_cast<const uint16_t *>(p)[i],
                               buf.dtype);
  return out;
}

Status CpuExecutor::uploadDoubles(std::string_view name,
                                  const std::vector<double> &values) {
  auto b = floatingBuffer(name, "uploadDoubles");
  if (!b)
    return b.status();
  const Buffer &buf = **b;
  if (static_cast<int64_t>(values.size()) != buf.elements())
    return Status::error("buffer '" + buf.name + "' has " +
                         std::to_string(buf.elements()) + " elements; got " +
                         std::to_string(values.size()) + " values");
  uint8_t *p = storage(buf);
  if (heldAsDouble(buf)) {
    std::memcpy(p, values.data(), values.size() * sizeof(double));
    return Status::ok();
  }
  for (size_t i = 0; i < values.size(); ++i) {
    float f = static_cast<float>(values[i]);
    if (buf.dtype == DType::F32)
      reinterpret_cast<float *>(p)[i] = f;
    else
      reinterpret_cast<uint16_t *>(p)[i] = floatToHalf(f, buf.dtype);
  }
  return Status::ok();
}

Status CpuExecutor::accumulateGradientsImpl(bool first) {
  if (options_.precision != Precision::F64)
    return Executor::accumulateGradientsImpl(first);
  return addGradientsOnHost(artifact(), gradientSum64_, first,
                            [&](const std::string &name) {
                              return downloadDoubles(name);
                            });
}

Status CpuExecutor::averageGradientsImpl(double scale) {
  if (options_.precision != Precision::F64)
    return Executor::averageGradientsImpl(scale);
  return writeMeanGradientsFromHost(
      artifact(), gradientSum64_, scale,
      [&](const std::string &name, const std::vector<double> &v) {
        return uploadDoubles(name, v);
      });
}

namespace {

/// Float views of an op's arguments: f32 buffers in place, bf16 buffers
/// widened into a temporary (one per buffer, so an argument passed twice
/// aliases the same way it would in f32) and narrowed back afterwards.
class FloatArgs {
public:
  FloatArgs(const Artifact &a, uint8_t *arena) : a_(a), arena_(arena) {}

  float *get(int buf) {
    const Buffer &b = a_.buffers[buf];
    uint8_t *p = arena_ + b.offset;
    if (b.dtype == DType::F32)
      return reinterpret_cast<float *>(p);
    auto it = temps_.find(buf);
    if (it != temps_.end())
      return it->second.data();
    std::vector<float> &t = temps_[buf];
    t.resize(static_cast<size_t>(b.elements()));
    const uint16_t *bits = reinterpret_cast<const uint16_t *>(p);
    for (size_t i = 0; i < t.size(); ++i)
      t[i] = halfToFloat(bits[i], b.dtype);
    return t.data();
  }

  /// Rounds buffer buf's temporary to the buffer's type in place (what a
  /// later op would read), when it has one.
  void round(int buf) {
    auto it = temps_.find(buf);
    if (it == temps_.end())
      return;
    const DType d = a_.buffers[buf].dtype;
    for (float &v : it->second)
      v = abi::roundTo(v, d);
  }

  /// Rounds written bf16 temporaries back into the arena.
  void writeBack(const std::vector<int> &written) {
    for (int buf : written) {
      auto it = temps_.find(buf);
      if (it == temps_.end())
        continue;
      const Buffer &b = a_.buffers[buf];
      uint16_t *bits = reinterpret_cast<uint16_t *>(arena_ + b.offset);
      for (size_t i = 0; i < it->second.size(); ++i)
        bits[i] = floatToHalf(it->second[i], b.dtype);
    }
  }

private:
  const Artifact &a_;
  uint8_t *arena_;
  std::map<int, std::vector<float>> temps_;
};

/// Double views of an op's arguments in F64 mode: every floating buffer is
/// already held as doubles at its scaled offset, so nothing to convert.
class DoubleArgs {
public:
  DoubleArgs(const Artifact &a, uint8_t *arena, int64_t scale)
      : a_(a), arena_(arena), scale_(scale) {}
  double *get(int buf) {
    return reinterpret_cast<double *>(arena_ + a_.buffers[buf].offset * scale_);
  }
  void round(int) {} // doubles are what the next op reads
  void writeBack(const std::vector<int> &) {}

private:
  const Artifact &a_;
  uint8_t *arena_;
  int64_t scale_;
};

} // namespace

Status CpuExecutor::runImpl(EntryKind kind, const Entry &entry, size_t begin,
                            size_t end) {
  const bool f64 = options_.precision == Precision::F64;
  for (size_t i = begin; i < end; ++i) {
    Status s;
    if (f64) {
      DoubleArgs args(artifact(), arena_, scale_);
      s = runOp<double>(entry.ops[i], args);
    } else {
      FloatArgs args(artifact(), arena_);
      s = runOp<float>(entry.ops[i], args);
    }
    if (!s.isOk())
      return s.withContext(std::string(entryKindName(kind)) + " op " +
                           std::to_string(i) + " (" +
                           opKindName(entry.ops[i].kind) + ")");
  }
  return Status::ok();
}

template <typename T, typename Args>
Status CpuExecutor::runOp(const Op &op, Args &fa) {
  const Artifact &a = artifact();
  const OpAttrs &at = op.attrs;
  const Scalars sc = unpackScalars(storage(a.buffers[a.scalars]));

  auto F = [&](int i) { return fa.get(op.args[i]); };
  auto I = [&](int i) {
    return reinterpret_cast<const int32_t *>(storage(a.buffers[op.args[i]]));
  };
  auto masksOf = [&]() {
    std::vector<const cpu::AttentionMask *> m;
    for (int l : op.layouts)
      m.push_back(&masks_[l]);
    return m;
  };

  Status st;
  switch (op.kind) {
  case OpKind::Zero: {
    const Buffer &b = a.buffers[op.args[0]];
    size_t bytes = heldAsDouble(b)
                       ? static_cast<size_t>(b.elements()) * sizeof(double)
                       : static_cast<size_t>(b.bytes);
    std::memset(storage(b), 0, bytes);
    return Status::ok(); // bytes, not floats: nothing to write back
  }
  case OpKind::EmbedFwd: {
    size_t P = at.pos.size();
    std::vector<const T *> pos;
    for (size_t p = 0; p < P; ++p)
      pos.push_back(F(2 + static_cast<int>(p)));
    st = cpu::embedFwd(I(0), F(1), pos, at.pos, F(2 + static_cast<int>(P)),
                       at.rows, at.T, at.D, at.V,
                       at.decode ? static_cast<int64_t>(sc.position) : -1);
    break;
  }
  case OpKind::EmbedBwd: {
    std::vector<T *> dpos;
    for (size_t p = 0; p < at.pos.size(); ++p)
      dpos.push_back(F(3 + static_cast<int>(p)));
    st =
        cpu::embedBwd(I(0), F(1), F(2), dpos, at.pos, at.rows, at.T, at.D, at.V,
                      at.decode ? static_cast<int64_t>(sc.position) : -1);
    break;
  }
  case OpKind::LayerNormFwd:
    cpu::layerNormFwd(F(0), F(1), F(2), F(3), F(4), F(5), at.M, at.C, at.eps);
    break;
  case OpKind::LayerNormBwd:
    cpu::layerNormBwd(F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), at.M,
                      at.C, at.accumulate);
    if (at.dropout) { // dropout_bwd of dx as stored
      fa.round(op.args[5]);
      cpu::dropoutBwd(F(5), F(8), at.M * at.C, at.rate,
                      static_cast<uint32_t>(at.salt), sc.dropoutSeed);
    }
    break;
  case OpKind::DropoutLayerNormFwd: // x residual sum gamma beta y mean rstd
    cpu::dropoutFwd(F(0), F(2), at.M * at.C, at.rate,
                    static_cast<uint32_t>(at.salt), sc.dropoutSeed, F(1));
    fa.round(op.args[2]); // the layer norm reads sum as stored
    cpu::layerNormFwd(F(2), F(3), F(4), F(5), F(6), F(7), at.M, at.C, at.eps);
    break;
  case OpKind::Gemm:
  case OpKind::GemmGroup: {
    // abi/Ops.def's rows by name: a gemm is a group of one whose arguments
    // carry no "_i" suffix.
    const std::vector<abi::Arg> sig = abi::signature(op.kind, at);
    const bool group = op.kind == OpKind::GemmGroup;
    const size_t members = group ? at.widths.size() : 1;
    for (size_t m = 0; m < members; ++m) {
      auto arg = [&](std::string name) -> T * {
        if (group)
          name += "_" + std::to_string(m);
        int k = abi::argIndex(sig, name);
        return k < 0 ? nullptr : F(k);
      };
      const int64_t n = group ? at.widths[m] : at.N;
      T *B = arg("B"), *C = arg("C"), *db = arg("db");
      if (db) // B as stored, before C (which shares no bytes with it)
        cpu::biasGrad(B, db, at.K, n);
      cpu::gemm(F(0), B, C, arg("bias"), at.M, n, at.K, at.transA, at.transB,
                at.alpha, at.beta);
      const int64_t count = at.M * n;
      if (at.gelu) { // gelu of the product unrounded; pre rounds as stored
        if (T *pre = arg("pre"))
          std::copy(C, C + count, pre);
        cpu::geluFwd(C, C, count);
      }
      if (T *geluX = arg("gelu_x"))
        cpu::geluBwd(geluX, C, C, count, /*accumulate=*/false);
    }
    break;
  }
  case OpKind::BiasGrad:
    cpu::biasGrad(F(0), F(1), at.M, at.N);
    break;
  case OpKind::GeluFwd:
    cpu::geluFwd(F(0), F(1), at.count);
    break;
  case OpKind::GeluBwd:
    cpu::geluBwd(F(0), F(1), F(2), at.count, at.accumulate);
    break;
  case OpKind::Add:
    cpu::add(F(0), F(1), F(2), at.count);
    break;
  case OpKind::Accumulate:
    cpu::accumulate(F(0), F(1), at.count);
    break;
  case OpKind::DropoutFwd:
    cpu::dropoutFwd(F(0), F(1), at.count, at.rate, at.salt, sc.dropoutSeed,
                    at.residual ? F(2) : nullptr);
    break;
  case OpKind::DropoutBwd:
    cpu::dropoutBwd(F(0), F(1), at.count, at.rate, at.salt, sc.dropoutSeed);
    break;
  case OpKind::StridePermute:
    cpu::stridePermute(F(0), F(1), at.B, at.T, at.D, at.colBegin, at.colEnd,
                       at.stride, at.inverse);
    break;
  case OpKind::SummaryGather:
    cpu::summaryGather(F(0), F(1), at.B, at.T, at.D, at.block, at.summary);
    break;
  case OpKind::SummaryScatter:
    cpu::summaryScatter(F(0), F(1), at.B, at.T, at.D, at.accumulate, at.block,
                        at.summary);
    break;
  case OpKind::AttentionMerge:
    cpu::attentionMerge(F(0), F(1), F(2), F(3), F(4), F(5), at.B, at.T, at.H,
                        at.dv);
    break;
  case OpKind::AttentionFwd: {
    cpu::KeyRows<T> keys(at, F(1), F(2));
    if (!at.merge) {
      cpu::attentionFwd(F(0), keys.k(), keys.v(), F(3), F(4),
                        cpu::attentionShape(at), masksOf());
      break;
    }
    // This op's own attention, unrounded, merged with o_prev, lse_prev.
    std::vector<T> o(static_cast<size_t>(at.B * at.T * at.H * at.dv)),
        lse(static_cast<size_t>(at.B * at.H * at.T));
    cpu::attentionFwd(F(0), keys.k(), keys.v(), o.data(), lse.data(),
                      cpu::attentionShape(at), masksOf());
    cpu::attentionMerge(F(5), F(6), o.data(), lse.data(), F(3), F(4), at.B,
                        at.T, at.H, at.dv);
    break;
  }
  case OpKind::AttentionBwd: {
    cpu::KeyRows<T> keys(at, F(1), F(2));
    cpu::attentionBwd(F(0), keys.k(), keys.v(), F(3), F(4), F(5), F(6),
                      keys.dk(F(7)), keys.dv(F(8)), cpu::attentionShape(at),
                      masksOf());
    keys.finish();
    break;
  }
  case OpKind::AttentionBwdPrep:
    cpu::attentionBwdPrep(F(0), F(1), F(2), F(3), cpu::attentionShape(at));
    break;
  case OpKind::AttentionBwdAtomic: { // q k v lse dout delta dq_acc dk dv
    cpu::KeyRows<T> keys(at, F(1), F(2));
    cpu::attentionBwd(F(0), keys.k(), keys.v(), static_cast<const T *>(nullptr),
                      F(3), F(4), F(6), keys.dk(F(7)), keys.dv(F(8)),
                      cpu::attentionShape(at), masksOf(), F(5), true);
    keys.finish();
    break;
  }
  case OpKind::AttentionScores:
    cpu::attentionScores(F(0), F(1), F(2), cpu::attentionShape(at));
    break;
  case OpKind::AttentionScoresBwd:
    cpu::attentionScoresBwd(F(0), F(1), F(2), F(3), F(4),
                            cpu::attentionShape(at));
    break;
  case OpKind::ScoreMod:
    cpu::scoreMod(static_cast<const T *>(nullptr), F(0), F(1),
                  cpu::attentionShape(at));
    break;
  case OpKind::ScoreModBwd:
    cpu::scoreMod(F(0), F(1), F(2), cpu::attentionShape(at));
    break;
  case OpKind::MaskedSoftmax:
    cpu::maskedSoftmax(F(0), F(1), cpu::attentionShape(at), masksOf());
    break;
  case OpKind::MaskedSoftmaxBwd:
    cpu::maskedSoftmaxBwd(F(0), F(1), F(2), cpu::attentionShape(at));
    break;
  case OpKind::WeightedSum:
    cpu::weightedSum(F(0), F(1), F(2), cpu::attentionShape(at));
    break;
  case OpKind::WeightedSumBwd:
    cpu::weightedSumBwd(F(0), F(1), F(2), F(3), F(4), cpu::attentionShape(at));
    break;
  case OpKind::Cast: {
    const T *x = F(0);
    T *y = F(1);
    std::copy(x, x + at.count, y);
    break;
  }
  case OpKind::XentFwd:
    st =
        cpu::xent(F(0), I(1), F(2), static_cast<T *>(nullptr), at.M, at.V, 1.0);
    break;
  case OpKind::XentFwdBwd:
    st = cpu::xent(F(0), I(1), F(2), F(3), at.M, at.V,
                   at.lossScaling ? at.scale * static_cast<double>(F(4)[0])
                                  : at.scale);
    break;
  case OpKind::Sumsq: {
    const int n = static_cast<int>(at.counts.size());
    std::vector<const T *> xs;
    for (int i = 0; i < n; ++i)
      xs.push_back(F(i));
    cpu::sumsq(xs, at.counts, F(n), at.accumulate);
    break;
  }
  case OpKind::AdamW: {
    // Tensor i: param_i, grad_i, m_i, v_i (, master_i) at i, n + i, 2n + i,
    // 3n + i (, 4n + i); then gnorm_sq (, loss_scale).
    const int n = static_cast<int>(at.counts.size());
    const int gnorm = (at.master ? 5 : 4) * n;
    cpu::AdamWConfig cfg;
    cfg.beta1 = at.beta1;
    cfg.beta2 = at.beta2;
    cfg.eps = at.eps;
    cfg.clip = at.clip;
    for (int i = 0; i < n && st.isOk(); ++i) {
      cfg.weightDecay = at.decay[i] ? at.weightDecay : 0.0;
      st = cpu::adamw(F(i), F(n + i), F(2 * n + i), F(3 * n + i), F(gnorm),
                      at.counts[i], cfg, static_cast<double>(sc.learningRate),
                      sc.step, at.master ? F(4 * n + i) : nullptr,
                      at.lossScaling ? F(gnorm + 1) : nullptr);
    }
    break;
  }
  case OpKind::LossScaleUpdate:
    cpu::lossScaleUpdate(F(0), F(1), at.growthInterval);
    break;
  case OpKind::KvStore:
    st = cpu::kvStore(F(0), F(1), at.B, at.D, at.T, sc.position);
    break;
  case OpKind::AttentionDecode:
    st = cpu::attentionDecode(F(0), F(1), F(2), F(3), at.B, at.T, at.H, at.dk,
                              at.dv, at.scale, at.headsPerLayout, masksOf(),
                              sc.position, cpu::scoreMods(at));
    break;
  case OpKind::AttentionDecodeSplit:
    st = cpu::attentionDecodeSplit(F(0), F(1), F(2), F(3), F(4), at.B, at.T,
                                   at.H, at.dk, at.dv, at.scale,
                                   at.headsPerLayout, masksOf(), sc.position,
                                   at.splits, cpu::scoreMods(at));
    break;
  case OpKind::AttentionDecodeCombine:
    cpu::attentionDecodeCombine(F(0), F(1), F(2), at.B, at.H, at.dv,
                                at.splits);
    break;
  default: // a kind registered in abi/ without a reference implementation
    return Status::error(std::string("op kind '") + opKindName(op.kind) +
                         "' has no CPU reference implementation "
                         "(runtime/cpu)");
  }
  if (!st.isOk())
    return st;

  std::vector<abi::Arg> specs = abi::signature(op.kind, at);
  std::vector<int> written;
  for (size_t i = 0; i < specs.size(); ++i)
    if (specs[i].role != Role::In)
      written.push_back(op.args[i]);
  fa.writeBack(written);
  return Status::ok();
}

} // namespace stc::rt
