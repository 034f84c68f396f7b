//===- KernelEmitter.cpp - CUDA C++ for one artifact op -------------------===//
//
// Each op kind has a device template in codegen/device/*.cuh (embedded into
// this library at build time, see CMakeLists.txt). Emitting a kernel means:
// take the op's decoded attributes (abi::checkOp has checked them against
// abi/Ops.def), pick the launch shape, and print one NVRTC source:
//
//   // header comment: op, attributes
//   [#define STC_HAS_BF16 1 / #include <cuda_bf16.h>]   only if an arg is bf16
//   [#define STC_HAS_F16 1 / #include <cuda_fp16.h>]    only if an arg is f16
//   [#define STC_MMA_F16 1]          f16 tensor-core attention (else bf16)
//   <common.cuh> [<DropoutHash.h>] <the family's .cuh files>
//   struct stc_cfg { compile-time shapes and launch constants };
//   [struct stc_layout_<i> { block; allowed(q, k) }]    attention only
//   extern "C" __global__ void <kernelName>(<args in doc order>,
//       [<6 layout arrays per layout>], const void *scalars) { ... }
//
// The generated source static_asserts that the dynamic shared memory size it
// was emitted with equals what the device code computes from the same Cfg.
//
//===----------------------------------------------------------------------===//

#include "codegen/KernelEmitter.h"

#include "abi/DropoutHash.h"
#include "abi/Limits.h"
#include "abi/NvrtcOptions.h"
#include "codegen/PatternToC.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>

namespace stc::codegen {

namespace {

#include "DeviceSources.inc" // kDeviceFiles: {name, text} of every .cuh

const char *deviceFile(const char *name) {
  for (const auto &f : kDeviceFiles)
    if (std::strcmp(f.name, name) == 0)
      return f.text;
  return nullptr;
}

constexpr int kThreads = 256;      ///< elementwise and row kernels
constexpr int64_t kMaxGrid = 4096; ///< grid-stride kernels: enough CTAs
constexpr int64_t kSmemLimit = 48 * 1024; ///< no opt-in attribute needed

using abi::DType;

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::string typeName(DType d) {
  switch (d) {
  case DType::BF16:
    return "__nv_bfloat16";
  case DType::F16:
    return "__half";
  case DType::I32:
    return "int";
  case DType::F32:
    return "float";
  }
  return "float";
}

std::string floatLit(double v) {
  std::string s = fmt::format("{:.9g}", static_cast<float>(v));
  if (s.find_first_of(".eEn") == std::string::npos)
    s += ".0";
  return s + "f";
}

std::string doubleLit(double v) {
  std::string s = fmt::format("{:.17g}", v);
  if (s.find_first_of(".eEn") == std::string::npos)
    s += ".0";
  return s;
}

const char *boolLit(bool b) { return b ? "true" : "false"; }

bool isIdentifier(const std::string &s) {
  if (s.empty() ||
      !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_'))
    return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
      return false;
  return true;
}

// ---- one emission
// ------------------------------------------------------------------

class Emitter {
public:
  Emitter(const EmitRequest &r, std::string *error)
      : req_(r), op_(*r.op), a_(r.op->decoded), error_(error) {
    for (DType d : op_.argDtypes) {
      bf16_ |= d == DType::BF16;
      f16_ |= d == DType::F16;
    }
  }

  std::optional<KernelSource> run();

private:
  bool bad(const std::string &msg) {
    if (error_)
      *error_ = fmt::format("op '{}' ({}): {}", op_.name(), req_.kernelName,
                            msg);
    return false;
  }

  /// The C parameter of argument i: named as in abi/Ops.def, const when the
  /// op only reads it.
  std::string param(size_t i) const {
    const abi::Arg &arg = op_.args[i];
    if (op_.kind() == abi::OpKind::Zero)
      return "void *" + arg.name;
    return fmt::format("{}{} *{}", arg.role == abi::Role::In ? "const " : "",
                       typeName(op_.argDtypes[i]), arg.name);
  }

  // -- launch helpers --
  void gridStride(int64_t work, int64_t perThread = 1) {
    block_ = {kThreads, 1, 1};
    grid_ = {
        std::clamp<int64_t>(ceilDiv(work, kThreads * perThread), 1, kMaxGrid),
        1, 1};
  }

  // -- kinds --
  bool emitZero();
  bool emitElementwise();
  bool emitDropout();
  bool emitStridePermute();
  bool emitSummary();
  bool emitEmbedFwd();
  bool emitEmbedBwd();
  bool emitLayerNormFwd();
  bool emitLayerNormBwd();
  bool emitBiasGrad();
  bool emitXent();
  std::optional<std::string> tilePlan(int64_t tile);
  bool emitSumsq();
  bool emitLossScaleUpdate();
  bool emitAdamw();
  bool emitKvStore();
  bool emitAttentionDecodeCombine();
  bool emitAttention();
  bool emitAttentionBwdPrep();
  bool emitLayouts(std::vector<std::string> *params);
  std::string layoutSwitch(const std::string &dispatchVar,
                           const std::string &call) const;
  bool emitUnfused();
  std::string scoreModCfg() const;
  std::string dropoutCfg() const;

  /// The entry: `extern "C" __global__` with the ABI's parameters.
  void entry(const std::string &body,
             const std::vector<std::string> &extraParams = {}) {
    std::string params;
    for (size_t i = 0; i < op_.args.size(); ++i)
      params += "    " + param(i) + ",\n";
    for (const auto &p : extraParams)
      params += "    " + p + ",\n";
    params += "    const void *scalars";
    std::string bounds = std::to_string(block_[0] * block_[1] * block_[2]);
    if (minBlocksWgmma_ > 0 && minBlocksWgmma_ != minBlocks_)
      bounds += fmt::format(", STC_WGMMA ? {} : {}", minBlocksWgmma_,
                            minBlocks_);
    else if (minBlocks_ > 0)
      bounds += ", " + std::to_string(minBlocks_);
    entry_ = fmt::format("extern \"C\" __global__ void "
                         "__launch_bounds__({})\n{}(\n{}) {{\n{}}}\n",
                         bounds, req_.kernelName, params, body);
  }

  const EmitRequest &req_;
  const abi::CheckedOp &op_;
  const abi::OpAttrs &a_;
  std::string *error_;
  bool bf16_ = false, f16_ = false;
  bool mmaF16_ = false; ///< tensor-core attention on f16 (STC_MMA_F16)
  std::vector<std::string> files_; ///< device files to inline, in order
  std::string comment_;            ///< extra header comment lines
  std::string cfg_;                ///< struct stc_cfg members
  std::string preamble_;           ///< generated declarations before the entry
  std::string entry_;
  std::array<int64_t, 3> grid_{1, 1, 1}, block_{1, 1, 1};
  int64_t smem_ = 0;
  int minBlocks_ = 0; ///< __launch_bounds__ minimum CTAs per SM (0: none)
  /// ... where the kernel runs wgmma (STC_WGMMA, attention_mma.cuh), if
  /// that differs (0: the same).
  int minBlocksWgmma_ = 0;
};

/// A tuning knob of the attention kernels: the environment variable's value
/// if set and one of `valid`, else `dflt`; *bad names a value that is not.
int64_t tuning(const char *name, int64_t dflt,
               std::initializer_list<int64_t> valid, std::string *bad) {
  const char *v = std::getenv(name);
  if (!v || !*v)
    return dflt;
  char *end = nullptr;
  long long x = std::strtoll(v, &end, 10);
  for (int64_t ok : valid)
    if (*end == '\0' && x == ok)
      return x;
  std::string list;
  for (int64_t ok : valid)
    list += (list.empty() ? "" : ", ") + std::to_string(ok);
  *bad = fmt::format("{} is '{}'; valid: {}", name, v, list);
  return dflt;
}

/// An on/off knob (0 or 1) of a kernel variant that only some shapes can
/// take: on by default where `possible`; set to 1 where not, *bad says it
/// needs `needs`.
int64_t variantKnob(const char *name, bool possible, const std::string &needs,
                    std::string *bad) {
  const int64_t on = tuning(name, possible ? 1 : 0, {0, 1}, bad);
  if (on && !possible && bad->empty())
    *bad = fmt::format("{}=1 needs {}", name, needs);
  return on;
}

// ---- elementwise family
// ----------------------------------------------------------

bool Emitter::emitZero() {
  int64_t bytes = a_.count * abi::dtypeSize(op_.argDtypes[0]);
  files_ = {"elementwise.cuh"};
  cfg_ = fmt::format("  static constexpr long long bytes = {}LL;\n", bytes);
  gridStride(bytes / 4 + 1);
  entry("  stc::zero_kernel<stc_cfg>(out);\n");
  return true;
}

bool Emitter::emitElementwise() {
  std::string call;
  switch (op_.kind()) {
  case abi::OpKind::GeluFwd:
    files_ = {"gelu.cuh"};
    call = "stc::gelu_fwd_kernel<stc_cfg>(x, y)";
    break;
  case abi::OpKind::GeluBwd:
    files_ = {"gelu.cuh"};
    call = "stc::gelu_bwd_kernel<stc_cfg>(x, dy, dx)";
    break;
  case abi::OpKind::Add:
    files_ = {"elementwise.cuh"};
    call = "stc::add_kernel<stc_cfg>(a, b, out)";
    break;
  case abi::OpKind::Cast:
    files_ = {"elementwise.cuh"};
    call = "stc::cast_kernel<stc_cfg>(x, y)";
    break;
  default: // accumulate
    files_ = {"elementwise.cuh"};
    call = "stc::accumulate_kernel<stc_cfg>(dst, src)";
    break;
  }
  cfg_ = fmt::format("  static constexpr long long count = {}LL;\n"
                     "  static constexpr bool accumulate = {};\n",
                     a_.count, boolLit(a_.accumulate));
  gridStride(a_.count);
  entry("  " + call + ";\n");
  return true;
}

bool Emitter::emitDropout() {
  files_ = {"DropoutHash.h", "dropout.cuh"};
  cfg_ = fmt::format("  static constexpr long long count = {}LL;\n",
                     a_.count) +
         dropoutCfg();
  gridStride(a_.count);
  entry(op_.kind() != abi::OpKind::DropoutFwd
            ? "  stc::dropout_kernel<stc_cfg>(dy, dx, scalars);\n"
        : a_.residual
            ? "  stc::dropout_residual_kernel<stc_cfg>(x, y, residual, scalars);\n"
            : "  stc::dropout_kernel<stc_cfg>(x, y, scalars);\n");
  return true;
}

bool Emitter::emitStridePermute() {
  files_ = {"permute.cuh"};
  cfg_ = fmt::format("  static constexpr long long B = {}LL, T = {}LL, D = {}LL;\n"
                     "  static constexpr long long c0 = {}LL, c1 = {}LL;\n"
                     "  static constexpr long long stride = {}LL;\n"
                     "  static constexpr bool inverse = {};\n",
                     a_.B, a_.T, a_.D, a_.colBegin, a_.colEnd, a_.stride,
                     boolLit(a_.inverse));
  gridStride(a_.B * a_.T * a_.D);
  entry("  stc::stride_permute_kernel<stc_cfg>(x, y);\n");
  return true;
}

bool Emitter::emitSummary() {
  files_ = {"summary.cuh"};
  if (op_.kind() == abi::OpKind::AttentionMerge) {
    cfg_ = fmt::format("  static constexpr long long B = {}LL, T = {}LL, H = {}LL, "
                       "dv = {}LL;\n",
                       a_.B, a_.T, a_.H, a_.dv);
    gridStride(a_.B * a_.T * a_.H * a_.dv);
    entry("  stc::attention_merge_kernel<stc_cfg>(o1, lse1, o2, lse2, o, lse);\n");
    return true;
  }
  // An accumulating scatter touches the summary columns alone.
  const bool acc = op_.kind() == abi::OpKind::SummaryScatter && a_.accumulate;
  const int64_t l = a_.block, c = a_.summary;
  const int64_t count = a_.T / l * c + std::max<int64_t>(0, a_.T % l - (l - c));
  cfg_ = fmt::format("  static constexpr long long B = {}LL, T = {}LL, D = {}LL;\n"
                     "  static constexpr long long block = {}LL, summary = {}LL;\n"
                     "  static constexpr bool accumulate = {};\n",
                     a_.B, a_.T, a_.D, a_.block, a_.summary, boolLit(acc));
  gridStride(a_.B * (acc ? count : a_.T) * a_.D);
  entry(op_.kind() == abi::OpKind::SummaryGather
            ? "  stc::summary_gather_kernel<stc_cfg>(x, y);\n"
            : "  stc::summary_scatter_kernel<stc_cfg>(y, x);\n");
  return true;
}

// ---- embedding
// ---------------------------------------------------------------------

bool Emitter::emitEmbedFwd() {
  const abi::Pairs &pos = a_.pos;
  files_ = {"embedding.cuh"};
  cfg_ = fmt::format(
      "  static constexpr long long rows = {}LL, T = {}LL, D = {}LL;\n"
      "  static constexpr int V = {};\n"
      "  static constexpr bool decode = {};\n",
      a_.rows, a_.T, a_.D, a_.V, boolLit(a_.decode));
  // The position components: a functor with one pointer per component.
  std::string members, adds, init;
  for (size_t p = 0; p < pos.size(); ++p) {
    members +=
        fmt::format("  const {} *p{};\n", typeName(op_.argDtypes[2 + p]), p);
    adds += fmt::format(
        "    acc += stc::load(p{0}, ((t / {1}LL) % {2}LL) * {3}LL + d);\n", p,
        pos[p].first, pos[p].second, a_.D);
    init += fmt::format("{}pos_{}", p ? ", " : "", p);
  }
  preamble_ = fmt::format(
      "// Position components: pos_p[(t / div_p) mod mod_p, :], in order.\n"
      "struct stc_pos {{\n{}"
      "  __device__ __forceinline__ void add(float &acc, long long t, long "
      "long d) const {{\n"
      "    (void)acc; (void)t; (void)d;\n{}"
      "  }}\n}};\n",
      members, adds);
  gridStride(a_.rows * a_.D);
  entry(fmt::format(
      "  const stc_pos pos{{{}}};\n"
      "  stc::embed_fwd_kernel<stc_cfg>(tokens, table, out, pos, scalars);\n",
      init));
  return true;
}

bool Emitter::emitEmbedBwd() {
  const abi::Pairs &pos = a_.pos;
  files_ = {"embedding.cuh"};
  // One warp per vocabulary row.
  const int64_t tableBlocks = ceilDiv(a_.V * 32, kThreads);
  cfg_ = fmt::format(
      "  static constexpr long long rows = {}LL, T = {}LL, D = {}LL;\n"
      "  static constexpr int V = {};\n"
      "  static constexpr bool decode = {};\n"
      "  static constexpr long long table_blocks = {}LL;\n",
      a_.rows, a_.T, a_.D, a_.V, boolLit(a_.decode), tableBlocks);
  std::string body = fmt::format(
      "  // CTAs [0, {0}): dtable (a warp per row); then, per position "
      "component, one\n"
      "  // CTA range gathering its dpos deterministically.\n"
      "  long long bid = blockIdx.x;\n"
      "  if (bid < stc_cfg::table_blocks) {{\n"
      "    stc::embed_bwd_table_kernel<stc_cfg>(tokens, dout, dtable, bid);\n"
      "    return;\n"
      "  }}\n"
      "  bid -= stc_cfg::table_blocks;\n",
      tableBlocks);
  int64_t total = tableBlocks;
  for (size_t p = 0; p < pos.size(); ++p) {
    int64_t blocks = ceilDiv(pos[p].second * a_.D, kThreads);
    total += blocks;
    body += fmt::format("  if (bid < {0}LL) {{\n"
                        "    stc::embed_bwd_pos_kernel<stc_cfg, {1}LL, "
                        "{2}LL>(dout, dpos_{3}, bid, scalars);\n"
                        "    return;\n"
                        "  }}\n"
                        "  bid -= {0}LL;\n",
                        blocks, pos[p].first, pos[p].second, p);
  }
  body += "  (void)bid;\n";
  if (total > std::numeric_limits<int32_t>::max())
    return bad("the position tables are too large for one launch");
  block_ = {kThreads, 1, 1};
  grid_ = {total, 1, 1};
  entry(body);
  return true;
}

// ---- layer norm and column sums
// --------------------------------------------------------

/// Column sums (bias_grad's db; layer_norm_bwd's dgamma and dbeta): tiles
/// of kColSumCols columns (a warp reads 32 consecutive values of a row),
/// the rows split into chunks until there are about kColSumCtas CTAs (4 per
/// SM of an H100/H200), each of at least kColSumMinRows rows; the last CTA
/// of a column tile adds the chunks in order (bias_grad.cuh). Measured on
/// the enwik8 step (H200, M = 24576, N = 512; bench/train/LOG.md): one CTA
/// per 16 columns over all rows took 30 ms for the 181 bias_grad ops, the
/// split 4.6 ms.
constexpr int64_t kColSumCols = 64, kColSumCtas = 528, kColSumMinRows = 64;
struct ColSumPlan {
  int64_t tiles;        ///< column tiles of kColSumCols
  int64_t chunks;       ///< row chunks per column tile
  int64_t rowsPerChunk; ///< the last chunk may be shorter
};
ColSumPlan colSumPlan(int64_t rows, int64_t columns) {
  const int64_t tiles = ceilDiv(columns, kColSumCols);
  const int64_t perChunk = ceilDiv(
      rows, std::clamp<int64_t>(ceilDiv(kColSumCtas, tiles), 1,
                                std::max<int64_t>(1, rows / kColSumMinRows)));
  return {tiles, ceilDiv(rows, perChunk), perChunk};
}
/// The module globals of a column sum's chunks (`floats` of them; one when
/// there is a single chunk) and of each column tile's last-CTA ticket.
std::string colSumScratch(const char *name, int64_t floats, int64_t tiles) {
  return fmt::format("// The chunks' column sums and each column tile's "
                     "last-CTA ticket; module\n"
                     "// globals start zeroed, the last CTA resets its "
                     "ticket.\n"
                     "__device__ float stc_{0}_partials[{1}];\n"
                     "__device__ unsigned stc_{0}_tickets[{2}];\n",
                     name, floats, tiles);
}

/// The dropout mask's members of stc_cfg (dropout.cuh): salt, threshold
/// and scale, from the host definitions the CPU executor uses.
std::string Emitter::dropoutCfg() const {
  const uint32_t threshold = abi::dropoutThreshold(a_.rate);
  const float scale = static_cast<float>(1.0 / (1.0 - a_.rate));
  return fmt::format("  static constexpr unsigned salt = {}u;\n"
                     "  static constexpr unsigned threshold = {}u; // "
                     "floor(rate * 2^32), rate = {}\n"
                     "  static constexpr float scale = {}; // 1 / (1 - rate) "
                     "rounded to float\n",
                     a_.salt, threshold, doubleLit(a_.rate), floatLit(scale));
}

bool Emitter::emitLayerNormFwd() {
  const bool dropout = op_.kind() == abi::OpKind::DropoutLayerNormFwd;
  files_ = {"DropoutHash.h", "layernorm.cuh"};
  cfg_ = fmt::format("  static constexpr long long M = {}LL;\n"
                     "  static constexpr int C = {};\n"
                     "  static constexpr float eps = {};\n"
                     "  static constexpr int threads = {};\n",
                     a_.M, a_.C, floatLit(a_.eps), kThreads);
  if (dropout)
    cfg_ += dropoutCfg();
  block_ = {kThreads, 1, 1};
  grid_ = {ceilDiv(a_.M, kThreads / 32), 1, 1};
  entry(dropout ? "  stc::dropout_layer_norm_fwd_kernel<stc_cfg>(x, residual, "
                  "sum, gamma, beta, y, mean, rstd, scalars);\n"
                : "  stc::layer_norm_fwd_kernel<stc_cfg>(x, gamma, beta, y, "
                  "mean, rstd);\n");
  return true;
}

bool Emitter::emitLayerNormBwd() {
  // The dropout mask's hash: named by the kernel with or without dropout.
  files_ = {"DropoutHash.h", "layernorm.cuh"};
  const int64_t rowBlocks = ceilDiv(a_.M, kThreads / 32);
  const ColSumPlan plan = colSumPlan(a_.M, a_.C);
  cfg_ = fmt::format(
      "  static constexpr long long M = {}LL;\n"
      "  static constexpr int C = {};\n"
      "  static constexpr bool accumulate = {};\n"
      "  static constexpr int threads = {};\n"
      "  static constexpr unsigned row_blocks = {}u; // dx: a warp per row\n"
      "  static constexpr int cols = {}, row_groups = {}; // dgamma, dbeta\n"
      "  static constexpr unsigned col_tiles = {}u;\n"
      "  static constexpr int chunks = {};\n"
      "  static constexpr long long rows_per_chunk = {}LL;\n",
      a_.M, a_.C, boolLit(a_.accumulate), kThreads, rowBlocks, kColSumCols,
      kThreads / kColSumCols, plan.tiles, plan.chunks, plan.rowsPerChunk);
  cfg_ += fmt::format("  static constexpr bool dropout = {}; // and dbranch\n",
                      boolLit(a_.dropout));
  if (a_.dropout)
    cfg_ += dropoutCfg();
  block_ = {kThreads, 1, 1};
  grid_ = {rowBlocks + plan.tiles * plan.chunks, 1, 1};
  // dgamma and dbeta: two rows of C per chunk.
  preamble_ += colSumScratch(
      "ln", plan.chunks > 1 ? 2 * plan.chunks * a_.C : 1, plan.tiles);
  entry(fmt::format("  stc::layer_norm_bwd_kernel<stc_cfg>(dy, x, mean, rstd, "
                    "gamma, dx, dgamma, dbeta, {}, scalars, stc_ln_partials, "
                    "stc_ln_tickets);\n",
                    a_.dropout ? "dbranch" : "dx"));
  return true;
}

bool Emitter::emitBiasGrad() {
  files_ = {"bias_grad.cuh"};
  const ColSumPlan plan = colSumPlan(a_.M, a_.N);
  cfg_ = fmt::format("  static constexpr long long M = {}LL, N = {}LL;\n"
                     "  static constexpr int cols = {}, row_groups = {};\n"
                     "  static constexpr int chunks = {};\n"
                     "  static constexpr long long rows_per_chunk = {}LL;\n",
                     a_.M, a_.N, kColSumCols, kThreads / kColSumCols,
                     plan.chunks, plan.rowsPerChunk);
  block_ = {kThreads, 1, 1};
  grid_ = {plan.tiles, plan.chunks, 1};
  preamble_ += colSumScratch(
      "bias", plan.chunks > 1 ? plan.chunks * a_.N : 1, plan.tiles);
  entry("  stc::bias_grad_kernel<stc_cfg>(dy, db, stc_bias_partials, "
        "stc_bias_tickets);\n");
  return true;
}

// ---- loss, norm, optimizer, cache
// ------------------------------------------------------

bool Emitter::emitXent() {
  const bool grad = op_.kind() == abi::OpKind::XentFwdBwd;
  const double scale = grad ? a_.scale : 1.0;
  files_ = {"xent.cuh"};
  const int threads = a_.V >= 8192 ? 512 : kThreads;
  cfg_ =
      fmt::format("  static constexpr long long V = {}LL;\n"
                  "  static constexpr int threads = {};\n"
                  "  static constexpr float grad_scale = {}; // scale / ln 2\n",
                  a_.V, threads, floatLit(scale / 0.693147180559945309417));
  block_ = {threads, 1, 1};
  grid_ = {a_.M, 1, 1};
  entry(!grad ? "  stc::xent_kernel<stc_cfg, false>(logits, targets, losses, "
                "(float *)0, (const float *)0);\n"
        : a_.lossScaling
            ? "  stc::xent_kernel<stc_cfg, true>(logits, targets, losses, "
              "dlogits, loss_scale);\n"
            : "  stc::xent_kernel<stc_cfg, true>(logits, targets, losses, "
              "dlogits, (const float *)0);\n");
  return true;
}

/// Multi-tensor ops (sumsq, adamw): CTA tiles of `tile` elements, each
/// tensor's first; fills the grid and the preamble's table, and returns the
/// entry's prologue, which finds the CTA's tensor `t` and first element
/// `begin` (nullopt, with the error set, when the grid is too large).
std::optional<std::string> Emitter::tilePlan(int64_t tile) {
  const abi::Ints &counts = a_.counts;
  std::string first;
  int64_t tiles = 0;
  for (int64_t c : counts) {
    first += fmt::format("{}LL, ", tiles);
    tiles += ceilDiv(c, tile);
  }
  first += fmt::format("{}LL", tiles);
  block_ = {kThreads, 1, 1};
  grid_ = {tiles, 1, 1};
  if (tiles > std::numeric_limits<int32_t>::max()) {
    bad(fmt::format("the tensors need more than 2^31 - 1 CTAs of {} "
                    "elements; split them into more {} ops",
                    tile, abi::opKindName(op_.kind())));
    return std::nullopt;
  }
  preamble_ = fmt::format("// CTAs [stc_first_tile[t], stc_first_tile[t + 1]) "
                          "run tensor t, {} elements each.\n"
                          "__constant__ long long stc_first_tile[{}] = {{{}}};\n",
                          tile, counts.size() + 1, first);
  return fmt::format(
      "  const long long tile = blockIdx.x;\n"
      "  const int t = stc::tile_tensor<{0}>(stc_first_tile, tile);\n"
      "  const long long begin = (tile - stc_first_tile[t]) * stc_cfg::tile;\n",
      counts.size());
}

bool Emitter::emitSumsq() {
  files_ = {"sumsq.cuh"};
  constexpr int64_t kTile = kThreads * 16;
  std::optional<std::string> prologue = tilePlan(kTile);
  if (!prologue)
    return false;
  cfg_ = fmt::format("  static constexpr long long tile = {}LL;\n"
                     "  static constexpr bool accumulate = {};\n"
                     "  static constexpr int threads = {};\n",
                     kTile, boolLit(a_.accumulate), kThreads);
  preamble_ += fmt::format(
      "// Per-CTA partial sums and the last-CTA ticket (see sumsq.cuh); "
      "module\n"
      "// globals start zeroed and the last CTA resets the ticket.\n"
      "__device__ float stc_sumsq_partials[{}];\n"
      "__device__ unsigned stc_sumsq_ticket;\n",
      grid_[0]);
  std::string body = *prologue + "  float s = 0.f;\n  switch (t) {\n";
  for (size_t i = 0; i < a_.counts.size(); ++i)
    body += fmt::format("  case {0}:\n"
                        "    s = stc::sumsq_tile<stc_cfg>(x_{0}, {1}LL, "
                        "begin);\n"
                        "    break;\n",
                        i, a_.counts[i]);
  body += "  }\n"
          "  stc::sumsq_finish<stc_cfg>(s, out, stc_sumsq_partials, "
          "&stc_sumsq_ticket);\n";
  entry(body);
  return true;
}

bool Emitter::emitAdamw() {
  files_ = {"adamw.cuh"};
  constexpr int64_t kTile = kThreads * 8;
  std::optional<std::string> prologue = tilePlan(kTile);
  if (!prologue)
    return false;
  cfg_ = fmt::format(
      "  static constexpr long long tile = {}LL;\n"
      "  static constexpr int threads = {};\n"
      "  static constexpr double beta1 = {}, beta2 = {}, eps = {};\n"
      "  static constexpr double weight_decay = {}, clip = {};\n",
      kTile, kThreads, doubleLit(a_.beta1), doubleLit(a_.beta2),
      doubleLit(a_.eps), doubleLit(a_.weightDecay), doubleLit(a_.clip));
  std::string body = *prologue + "  switch (t) {\n";
  for (size_t i = 0; i < a_.counts.size(); ++i)
    body += fmt::format(
        "  case {0}:\n"
        "    stc::adamw_tile<stc_cfg>(param_{0}, grad_{0}, m_{0}, v_{0}, {3}, "
        "{1}LL, {2}, begin, gnorm_sq, {4}, scalars);\n"
        "    break;\n",
        i, a_.counts[i], boolLit(a_.decay[i] != 0),
        a_.master ? fmt::format("master_{}", i) : std::string("nullptr"),
        a_.lossScaling ? "loss_scale" : "nullptr");
  body += "  }\n";
  entry(body);
  return true;
}

bool Emitter::emitLossScaleUpdate() {
  files_ = {"adamw.cuh"};
  cfg_ = fmt::format("  static constexpr long long growth_interval = {}LL;\n",
                     a_.growthInterval);
  block_ = {32, 1, 1};
  grid_ = {1, 1, 1};
  entry("  stc::loss_scale_update_kernel<stc_cfg>(gnorm_sq, state);\n");
  return true;
}

bool Emitter::emitKvStore() {
  files_ = {"kv_store.cuh"};
  cfg_ = fmt::format("  static constexpr long long B = {}LL, D = {}LL;\n"
                     "  static constexpr int T = {};\n",
                     a_.B, a_.D, a_.T);
  gridStride(a_.B * a_.D);
  entry("  stc::kv_store_kernel<stc_cfg>(src, cache, scalars);\n");
  return true;
}

// ---- attention
// ----------------------------------------------------------------------

bool Emitter::emitAttentionDecodeCombine() {
  files_ = {"attention_common.cuh", "attention_decode.cuh"};
  cfg_ = fmt::format("  static constexpr long long B = {}LL, H = {}LL, DV = {}LL;\n"
                     "  static constexpr long long SPLITS = {}LL;\n",
                     a_.B, a_.H, a_.dv, a_.splits);
  gridStride(a_.B * a_.H * a_.dv);
  entry("  stc::attention_decode_combine_kernel<stc_cfg>(stats, acc, o);\n");
  return true;
}

bool Emitter::emitAttentionBwdPrep() {
  files_ = {"attention_common.cuh"};
  cfg_ = fmt::format("  static constexpr int B = {}, T = {}, H = {}, DK = {}, "
                     "DV = {};\n",
                     a_.B, a_.T, a_.H, a_.dk, a_.dv);
  gridStride(a_.B * a_.T * a_.H * 32); // a warp per (b, t, h)
  entry("  stc::attention_bwd_prep_kernel<stc_cfg>(o, dout, delta, dq_acc);\n");
  return true;
}

/// The op's layouts (attribute `layouts`, checked against the request's
/// descriptions) as structs stc_layout_<i> { block; allowed(q, k) }, and
/// the kernel parameters of their tables (*params).
bool Emitter::emitLayouts(std::vector<std::string> *params) {
  const int64_t T = a_.T;
  const std::vector<std::string> &names = a_.layouts;
  if (req_.layouts.size() != names.size())
    return bad(fmt::format(
        "attribute 'layouts' names {} layouts but the op describes {}",
        names.size(), req_.layouts.size()));
  for (size_t i = 0; i < names.size(); ++i) {
    const LayoutDesc &l = req_.layouts[i];
    if (l.name != names[i])
      return bad(
          fmt::format("attribute 'layouts'[{}] is '{}' but layout {} is '{}'",
                      i, names[i], i, l.name));
    if (l.n != T)
      return bad(fmt::format(
          "layout '{}' has n={} but the op has T={} (they must be equal)",
          l.name, l.n, T));
    if (l.block < 1 || l.block > abi::kMaxDim)
      return bad(fmt::format(
          "layout '{}' has block {}; expected an integer in [1, {}]", l.name,
          l.block, abi::kMaxDim));
  }

  // Layout structs: block size and the pattern as an inline predicate.
  for (size_t i = 0; i < req_.layouts.size(); ++i) {
    const LayoutDesc &l = req_.layouts[i];
    std::string perr;
    auto pc = patternToC(l.pattern, l.n, fmt::format("stc_l{}", i), &perr);
    if (!pc)
      return bad(fmt::format("layout '{}': {}", l.name, perr));
    preamble_ += fmt::format(
        "// Layout {0} '{1}': {2}, n = {3}, block = {4}.\n{5}"
        "struct stc_layout_{0} {{\n"
        "  static constexpr int block = {4};\n"
        "  // The pattern alone; the kernels check k <= q and positions < T.\n"
        "  __device__ __forceinline__ static bool allowed(int q, int k) {{\n"
        "    (void)q; (void)k;\n"
        "    return {6};\n"
        "  }}\n"
        "}};\n",
        i, l.name, l.pattern.str(), l.n, l.block, pc->decls, pc->expr);
    for (const char *a :
         {"row_ptr", "col_idx", "classes", "col_ptr", "row_idx", "col_classes"})
      params->push_back(fmt::format("const int *L{}_{}", i, a));
  }
  return true;
}

/// A kernel body that calls `call` (a format string; {0} is the layout's
/// index) with head h's layout h / HPL, h read from `dispatchVar`.
std::string Emitter::layoutSwitch(const std::string &dispatchVar,
                                  const std::string &call) const {
  std::string body =
      fmt::format("  // Head h uses layout h / HPL.\n"
                  "  switch (static_cast<int>({}) / stc_cfg::HPL) {{\n",
                  dispatchVar);
  for (size_t i = 0; i < req_.layouts.size(); ++i)
    body += fmt::format("  case {}:\n    {};\n    break;\n", i,
                        fmt::format(call, i));
  return body + "  default:\n    break;\n  }\n  (void)scalars;\n";
}

/// The score modifications' members of stc_cfg (attention_common.cuh,
/// score_mod).
std::string Emitter::scoreModCfg() const {
  return fmt::format("  static constexpr float SOFTCAP = {}; // 0: none\n"
                     "  static constexpr float ALIBI = {}; // 0: none\n"
                     "  static constexpr bool ALIBI_FIRST = {};\n",
                     floatLit(a_.softcap), floatLit(a_.alibi),
                     boolLit(a_.alibiFirst));
}

/// The unfused attention chain (attention_unfused.cuh).
bool Emitter::emitUnfused() {
  using K = abi::OpKind;
  files_ = {"attention_common.cuh", "attention_unfused.cuh"};
  cfg_ = fmt::format("  static constexpr long long B = {}LL, T = {}LL, H = {}LL;\n"
                     "  static constexpr long long DK = {}LL, DV = {}LL;\n"
                     "  static constexpr float scale = {};\n",
                     a_.B, a_.T, a_.H, a_.dk, a_.dv, floatLit(a_.scale));
  const int64_t scores = a_.B * a_.H * a_.T * a_.T;
  switch (op_.kind()) {
  case K::AttentionScores:
    gridStride(scores);
    entry("  stc::attention_scores_kernel<stc_cfg>(q, k, s);\n");
    return true;
  case K::AttentionScoresBwd:
    gridStride(2 * a_.B * a_.T * a_.H * a_.dk);
    entry("  stc::attention_scores_bwd_kernel<stc_cfg>(ds, q, k, dq, dk);\n");
    return true;
  case K::ScoreMod:
  case K::ScoreModBwd:
    cfg_ += scoreModCfg();
    gridStride(scores);
    entry(op_.kind() == K::ScoreMod
              ? "  stc::score_mod_kernel<stc_cfg, false>(s, s, out);\n"
              : "  stc::score_mod_kernel<stc_cfg, true>(dout, s, ds);\n");
    return true;
  case K::MaskedSoftmax: {
    std::vector<std::string> layoutParams;
    if (!emitLayouts(&layoutParams))
      return false;
    constexpr int64_t kWarps = 4;
    block_ = {kWarps * 32, 1, 1};
    grid_ = {std::clamp<int64_t>(ceilDiv(a_.T, kWarps), 1, kMaxGrid), a_.H,
             a_.B};
    cfg_ += fmt::format("  static constexpr int HPL = {}; // heads per layout\n",
                        a_.headsPerLayout);
    entry(layoutSwitch("blockIdx.y",
                       "stc::masked_softmax_kernel<stc_cfg, stc_layout_{0}>(s, p)"),
          layoutParams);
    return true;
  }
  case K::MaskedSoftmaxBwd:
    gridStride(a_.B * a_.H * a_.T * 32);
    entry("  stc::masked_softmax_bwd_kernel<stc_cfg>(dp, p, ds);\n");
    return true;
  case K::WeightedSum:
    gridStride(a_.B * a_.T * a_.H * a_.dv);
    entry("  stc::weighted_sum_kernel<stc_cfg>(p, v, o);\n");
    return true;
  default: // weighted_sum_bwd
    gridStride(scores + a_.B * a_.T * a_.H * a_.dv);
    entry("  stc::weighted_sum_bwd_kernel<stc_cfg>(dout, p, v, dp, dv);\n");
    return true;
  }
}

bool Emitter::emitAttention() {
  const bool split = op_.kind() == abi::OpKind::AttentionDecodeSplit;
  const bool decode = op_.kind() == abi::OpKind::AttentionDecode || split,
             atomic = op_.kind() == abi::OpKind::AttentionBwdAtomic,
             bwd = op_.kind() == abi::OpKind::AttentionBwd || atomic;
  const int64_t B = a_.B, T = a_.T, H = a_.H, dk = a_.dk,
                dv = a_.dv, hpl = a_.headsPerLayout;
  const double scale = a_.scale;
  std::vector<std::string> layoutParams;
  if (!emitLayouts(&layoutParams))
    return false;

  // The tensor-core kernels take bf16 or f16 tensors, all of one type (the
  // args abi/Ops.def declares f32, statistics and accumulators, stay f32),
  // and the shapes abi::attentionOnTensorCores names; everything else (f32
  // models among them) runs the fp32 kernels.
  std::vector<int64_t> blocks;
  for (const LayoutDesc &l : req_.layouts)
    blocks.push_back(l.block);
  bool useMma = !decode && abi::attentionOnTensorCores(dk, dv, blocks.data(),
                                                       blocks.size());
  const DType half = op_.argDtypes[0]; // q
  useMma &= abi::isHalf(half);
  for (size_t i = 0; i < op_.args.size(); ++i)
    useMma &= op_.args[i].dtypes == abi::DTypes::F32 ||
              op_.argDtypes[i] == half;
  mmaF16_ = useMma && half == DType::F16;
  if (atomic && !useMma)
    return bad(fmt::format(
        "runs only on the tensor-core kernels: q, k, v, dout, dk, dv all bf16 "
        "or all f16, "
        "head sizes dk = dv in {{32, 64, 128}} and layout blocks that are "
        "multiples of 64 (got dk = {}, dv = {}); attention_bwd computes the "
        "other cases",
        dk, dv));

  const int64_t kstr = dk | 1,
                vstr = dv | 1; // odd row strides: no bank conflicts
  // attention_fwd with merge reads the other key set's o_prev, lse_prev.
  // (The fp32 kernel deduces o_prev's type: a typed null without merge.)
  const std::string mergeArgs =
      a_.merge ? "o_prev, lse_prev" : "nullptr, nullptr";
  const std::string mergeArgsTyped =
      a_.merge ? mergeArgs
               : "static_cast<const float *>(nullptr), "
                 "static_cast<const float *>(nullptr)";
  std::string call;
  std::string dispatchVar;
  if (decode) {
    constexpr int kWarps = 4;
    const int64_t splits = split ? a_.splits : 1;
    files_ = {"attention_common.cuh", "attention_decode.cuh"};
    cfg_ =
        fmt::format("  static constexpr int T = {}, H = {}, DK = {}, DV = {};\n"
                    "  static constexpr int HPL = {}; // heads per layout\n"
                    "  static constexpr int WARPS = {};\n"
                    "  static constexpr int SPLITS = {}; // CTAs per head\n"
                    "  static constexpr float scale = {};\n",
                    T, H, dk, dv, hpl, kWarps, splits, floatLit(scale));
    block_ = {kWarps * 32, 1, 1};
    grid_ = {H, B, splits};
    smem_ = 0; // static shared memory only
    dispatchVar = "blockIdx.x";
    call = split ? "stc::attention_decode_kernel<stc_cfg, stc_layout_{0}>(q, "
                   "kcache, vcache, static_cast<float *>(nullptr), stats, acc, "
                   "L{0}_row_ptr, L{0}_col_idx, L{0}_classes, scalars)"
                 : "stc::attention_decode_kernel<stc_cfg, stc_layout_{0}>(q, "
                   "kcache, vcache, o, nullptr, nullptr, "
                   "L{0}_row_ptr, L{0}_col_idx, L{0}_classes, scalars)";
  } else if (useMma) {
    // Tensor cores (attention_*_mma.cuh): tile sizes per head size, every
    // layout block a multiple of the tiles.
    const int64_t D = dk;
    bool all128 = true;
    for (const LayoutDesc &l : req_.layouts)
      all128 &= l.block % 128 == 0;
    files_ = {"attention_common.cuh", "attention_mma.cuh",
              bwd ? "attention_bwd_mma.cuh" : "attention_fwd_mma.cuh"};
    const char *smemFn = bwd ? "attention_bwd_mma" : "attention_fwd_mma";
    // The defaults; STC_TUNE_ATTN_* override them for tuning sweeps
    // (bench/attention/README.md).
    std::string badKnob;
    if (atomic) {
      // NK key rows per CTA (16 per warp), query tiles of BQ; D = 128
      // takes smaller query tiles to stay within the registers.
      const int64_t nk = tuning("STC_TUNE_ATTN_ATOMIC_NK", 64, {64, 128},
                                &badKnob),
                    bq = tuning("STC_TUNE_ATTN_ATOMIC_BQ", D == 128 ? 32 : 64,
                                {32, 64}, &badKnob);
      for (const LayoutDesc &l : req_.layouts)
        if (l.block % nk != 0)
          badKnob = fmt::format("STC_TUNE_ATTN_ATOMIC_NK {} does not divide "
                                "the block {} of layout '{}'",
                                nk, l.block, l.name);
      // wgmma on sm_90a (attention_bwd_mma.cuh): one warpgroup, 64 x 64
      // tiles of head size 64, 3 CTAs per SM (177 registers unbounded, no
      // spills at 168); mma.sync elsewhere.
      const int64_t wgmma = variantKnob(
          "STC_TUNE_ATTN_ATOMIC_WGMMA", D == 64 && nk == 64 && bq == 64,
          fmt::format("head size 64 and 64 key rows and query rows per tile "
                      "(got D = {}, NK = {}, BQ = {})",
                      D, nk, bq),
          &badKnob);
      // dq by bulk reductions of the tile instead of atomics (wgmma only;
      // causal's backward 11.9 -> 10.5 ms on the H100, bench/attention/LOG.md).
      const int64_t dqBulk = variantKnob(
          "STC_TUNE_ATTN_ATOMIC_DQ_BULK", wgmma != 0,
          "the wgmma backward (head size 64, 64 x 64 tiles)", &badKnob);
      minBlocks_ = static_cast<int>(tuning("STC_TUNE_ATTN_ATOMIC_MINB",
                                           nk == 64 ? 2 : 1, {0, 1, 2, 3, 4},
                                           &badKnob));
      if (wgmma)
        minBlocksWgmma_ = static_cast<int>(tuning(
            "STC_TUNE_ATTN_ATOMIC_WGMMA_MINB", 3, {0, 1, 2, 3, 4}, &badKnob));
      if (!badKnob.empty())
        return bad(badKnob);
      cfg_ = fmt::format(
          "  static constexpr int T = {}, H = {}, D = {};\n"
          "  static constexpr int HPL = {}; // heads per layout\n"
          "  static constexpr int NK = {}, BQ = {}; // key rows per CTA, "
          "query tile\n"
          "  static constexpr int WGMMA = {}; // on sm_90a\n"
          "  static constexpr int DQ_BULK = {}; // dq by bulk reductions\n"
          "  static constexpr float scale = {};\n",
          T, H, D, hpl, nk, bq, wgmma, dqBulk, floatLit(scale));
      smem_ = 2 * nk * D * 2 + 4 * bq * D * 2 + nk * bq * 2 + 4 * bq * 4 +
              (dqBulk ? bq * 68 * 4 : 0); // kDqBulkStride
      block_ = {nk * 2, 1, 1};
      grid_ = {ceilDiv(T, nk), H, B};
      smemFn = "attention_bwd_atomic";
      call = "stc::attention_bwd_atomic<stc_cfg, stc_layout_{0}>(q, k, v, "
             "lse, dout, delta, dq_acc, dk, dv, L{0}_col_ptr, L{0}_row_idx, "
             "L{0}_col_classes, stc_smem)";
    } else if (!bwd) {
      // Warpgroups per CTA: 2 is 128 query rows in two groups of 64 (each
      // within one layout block row) sharing each K/V tile, half the tile
      // loads of 64-row CTAs; head size 64 only. Not yet measured or run on
      // a GPU: opt-in (bench/attention/LOG.md).
      const int64_t wgs =
          tuning("STC_TUNE_ATTN_FWD_WGS", 1, {1, 2}, &badKnob);
      if (wgs == 2 && D != 64)
        badKnob = fmt::format("STC_TUNE_ATTN_FWD_WGS=2 needs head size 64 "
                              "(got D = {})",
                              D);
      const int64_t bm =
          wgs == 2 ? 128
                   : tuning("STC_TUNE_ATTN_FWD_BM", all128 ? 128 : 64,
                            {64, 128}, &badKnob);
      const int64_t bn = 64;
      minBlocks_ = static_cast<int>(
          tuning("STC_TUNE_ATTN_FWD_MINB", 0, {0, 1, 2, 3, 4}, &badKnob));
      // wgmma where the kernel is compiled for sm_90a (attention_mma.cuh):
      // a warpgroup per 64 query rows on 64 x 64 tiles of head size 64.
      const int64_t wgmma = variantKnob(
          "STC_TUNE_ATTN_FWD_WGMMA", D == 64 && bm == 64 * wgs && bn == 64,
          fmt::format("head size 64 and 64 query rows per warpgroup (got D "
                      "= {}, BM = {}, {} warpgroup(s))",
                      D, bm, wgs),
          &badKnob);
      const int64_t rowsInBlock = bm / wgs;
      for (const LayoutDesc &l : req_.layouts)
        if (l.block % rowsInBlock != 0)
          badKnob = fmt::format("{} query rows per CTA ({} warpgroup(s)) do "
                                "not fit the block {} of layout '{}' "
                                "(STC_TUNE_ATTN_FWD_BM)",
                                bm, wgs, l.block, l.name);
      if (!badKnob.empty())
        return bad(badKnob);
      cfg_ = fmt::format(
          "  static constexpr int T = {}, H = {}, D = {};\n"
          "  static constexpr int HPL = {}; // heads per layout\n"
          "  static constexpr int BM = {}, BN = {}; // query rows, keys per tile\n"
          "  static constexpr int WGS = {}; // groups of BM / WGS rows\n"
          "  static constexpr int WGMMA = {}; // on sm_90a\n"
          "  static constexpr float scale = {};\n",
          T, H, D, hpl, bm, bn, wgs, wgmma, floatLit(scale));
      smem_ = (bm + 4 * bn) * D * 2;
      block_ = {bm * 2, 1, 1};
      grid_ = {ceilDiv(T, bm), H, B};
      call = "stc::attention_fwd_mma<stc_cfg, stc_layout_{0}>(q, k, v, o, lse, " +
             mergeArgs +
             ", L{0}_row_ptr, L{0}_col_idx, L{0}_classes, stc_smem)";
    } else {
      // 64 query rows (dq) or key rows (dk, dv) per CTA; D = 128 takes
      // smaller tiles to stay within the registers.
      const int64_t bn = tuning("STC_TUNE_ATTN_BWD_BN", D == 128 ? 32 : 64,
                                {32, 64}, &badKnob),
                    bq = tuning("STC_TUNE_ATTN_BWD_BQ", D == 128 ? 32 : 64,
                                {32, 64}, &badKnob);
      minBlocks_ = static_cast<int>(
          tuning("STC_TUNE_ATTN_BWD_MINB", 2, {0, 1, 2, 3, 4}, &badKnob));
      if (!badKnob.empty())
        return bad(badKnob);
      cfg_ = fmt::format(
          "  static constexpr int T = {}, H = {}, D = {};\n"
          "  static constexpr int HPL = {}; // heads per layout\n"
          "  static constexpr int BN = {}, BQ = {}; // key tile (dq), query "
          "tile (dk, dv)\n"
          "  static constexpr float scale = {};\n",
          T, H, D, hpl, bn, bq, floatLit(scale));
      smem_ = std::max((2 * 64 + 4 * bn) * D * 2 + 64 * 4,
                       (2 * 64 + 6 * bq) * D * 2 + 4 * bq * 4);
      block_ = {128, 1, 1};
      grid_ = {2 * ceilDiv(T, 64), H, B};
      call = "stc::attention_bwd_mma<stc_cfg, stc_layout_{0}>(q, k, v, o, lse, "
             "dout, dq, dk, dv, L{0}_row_ptr, L{0}_col_idx, L{0}_classes, "
             "L{0}_col_ptr, L{0}_row_idx, L{0}_col_classes, stc_smem)";
    }
    dispatchVar = "blockIdx.y";
    preamble_ += fmt::format(
        "static_assert(stc::{}_smem_bytes<stc_cfg>() == {}, "
        "\"emitted dynamic shared memory size disagrees with the kernel\");\n",
        smemFn, smem_);
  } else {
    // QT query (or key) rows per CTA, one per warp; QT must divide every
    // layout's block (or the block covers all of T) so a CTA's rows lie in
    // one block row / column. KT positions per shared-memory chunk.
    int qtMax = 8;
    for (const LayoutDesc &l : req_.layouts)
      while (qtMax > 1 && !(l.block % qtMax == 0 || l.block >= T))
        qtMax /= 2;
    auto floats = [&](int64_t kt, int64_t qt) {
      return bwd ? kt * (kstr + vstr + 2) + qt * (dk + dv)
                 : kt * (kstr + vstr) + qt * dk;
    };
    int qt = 0, kt = 0;
    for (int q = qtMax; q >= 1 && !qt; q /= 2)
      for (int c : {32, 16})
        if (floats(c, q) * 4 <= kSmemLimit) {
          qt = q;
          kt = c;
          break;
        }
    if (!qt)
      for (int q = qtMax; q >= 1 && !qt; q /= 2)
        if (floats(8, q) * 4 <= kSmemLimit) {
          qt = q;
          kt = 8;
        }
    if (!qt)
      return bad(fmt::format(
          "head dims dk={} dv={} need more shared memory than {} bytes", dk, dv,
          kSmemLimit));
    files_ = {"attention_common.cuh",
              bwd ? "attention_bwd.cuh" : "attention_fwd.cuh"};
    cfg_ = fmt::format(
        "  static constexpr int B = {}, T = {}, H = {}, DK = {}, DV = {};\n"
        "  static constexpr int HPL = {}; // heads per layout\n"
        "  static constexpr int QT = {}; // rows (warps) per CTA\n"
        "  static constexpr int KT = {}; // positions per staged chunk\n"
        "  static constexpr int KSTR = {}, VSTR = {}; // odd smem row strides\n"
        "  static constexpr float scale = {};\n",
        B, T, H, dk, dv, hpl, qt, kt, kstr, vstr, floatLit(scale));
    smem_ = floats(kt, qt) * 4;
    const int64_t tiles = ceilDiv(T, qt);
    block_ = {qt * 32, 1, 1};
    grid_ = {bwd ? 2 * tiles : tiles, H, B};
    dispatchVar = "blockIdx.y";
    preamble_ += fmt::format(
        "static_assert(stc::attention_{}_smem_floats<stc_cfg>() * 4 == {}, "
        "\"emitted dynamic shared memory size disagrees with the kernel\");\n",
        bwd ? "bwd" : "fwd", smem_);
    call = bwd ? "stc::attention_bwd_kernel<stc_cfg, stc_layout_{0}>(q, k, v, "
                 "o, lse, dout, "
                 "dq, dk, dv, L{0}_row_ptr, L{0}_col_idx, L{0}_classes, "
                 "L{0}_col_ptr, "
                 "L{0}_row_idx, L{0}_col_classes, stc_smem)"
               : "stc::attention_fwd_kernel<stc_cfg, stc_layout_{0}>(q, k, v, "
                 "o, lse, " +
                     mergeArgsTyped +
                     ", L{0}_row_ptr, L{0}_col_idx, L{0}_classes, stc_smem)";
  }
  cfg_ += scoreModCfg();
  cfg_ += fmt::format(
      "  // keys: fixed(GATHER_BLOCK, GATHER_SUMMARY)'s summary columns of k, v "
      "(0: all rows)\n"
      "  static constexpr int GATHER_BLOCK = {}, GATHER_SUMMARY = {};\n"
      "  static constexpr bool ACCUMULATE = {}; // dk += and dv +=\n"
      "  static constexpr bool MERGE = {}; // with o_prev, lse_prev\n",
      a_.gatherBlock, a_.gatherSummary, boolLit(a_.accumulate),
      boolLit(a_.merge));
  std::string body;
  if (useMma)
    body += "  extern __shared__ __align__(1024) unsigned char stc_smem[];\n";
  else if (!decode)
    body += "  extern __shared__ float stc_smem[];\n";
  entry(body + layoutSwitch(dispatchVar, call), layoutParams);
  if (bf16_ || f16_)
    comment_ += "// 16-bit float arguments are loaded to fp32 and stored "
                "rounded to nearest even.\n";
  return true;
}

// ---- assembly
// ---------------------------------------------------------------------

std::optional<KernelSource> Emitter::run() {
  using K = abi::OpKind;
  if (!op_.spec->hasKernel()) {
    bad("is a library call, not a generated kernel (the executors run it "
        "through cuBLASLt or BLAS)");
    return std::nullopt;
  }
  if (!isIdentifier(req_.kernelName)) {
    bad(fmt::format("kernel name '{}' is not a C identifier",
                    req_.kernelName));
    return std::nullopt;
  }
  bool ok;
  switch (op_.kind()) {
  case K::Zero:
    ok = emitZero();
    break;
  case K::GeluFwd:
  case K::GeluBwd:
  case K::Add:
  case K::Accumulate:
  case K::Cast:
    ok = emitElementwise();
    break;
  case K::DropoutFwd:
  case K::DropoutBwd:
    ok = emitDropout();
    break;
  case K::StridePermute:
    ok = emitStridePermute();
    break;
  case K::SummaryGather:
  case K::SummaryScatter:
  case K::AttentionMerge:
    ok = emitSummary();
    break;
  case K::EmbedFwd:
    ok = emitEmbedFwd();
    break;
  case K::EmbedBwd:
    ok = emitEmbedBwd();
    break;
  case K::LayerNormFwd:
  case K::DropoutLayerNormFwd:
    ok = emitLayerNormFwd();
    break;
  case K::LayerNormBwd:
    ok = emitLayerNormBwd();
    break;
  case K::BiasGrad:
    ok = emitBiasGrad();
    break;
  case K::XentFwd:
  case K::XentFwdBwd:
    ok = emitXent();
    break;
  case K::Sumsq:
    ok = emitSumsq();
    break;
  case K::AdamW:
    ok = emitAdamw();
    break;
  case K::LossScaleUpdate:
    ok = emitLossScaleUpdate();
    break;
  case K::KvStore:
    ok = emitKvStore();
    break;
  case K::AttentionFwd:
  case K::AttentionBwd:
  case K::AttentionBwdAtomic:
  case K::AttentionDecode:
  case K::AttentionDecodeSplit:
    ok = emitAttention();
    break;
  case K::AttentionDecodeCombine:
    ok = emitAttentionDecodeCombine();
    break;
  case K::AttentionBwdPrep:
    ok = emitAttentionBwdPrep();
    break;
  case K::AttentionScores:
  case K::AttentionScoresBwd:
  case K::ScoreMod:
  case K::ScoreModBwd:
  case K::MaskedSoftmax:
  case K::MaskedSoftmaxBwd:
  case K::WeightedSum:
  case K::WeightedSumBwd:
    ok = emitUnfused();
    break;
  default:
    ok = bad("has no kernel template in codegen/device");
    break;
  }
  if (!ok)
    return std::nullopt;

  std::string src =
      fmt::format("// {}: stc kernel for op '{}' (generated; do not edit).\n",
                  req_.kernelName, op_.name());
  for (const auto &[name, value] : op_.attrs)
    src += fmt::format("//   {} = {}\n", name, abi::attrText(value));
  std::string dts;
  for (size_t i = 0; i < op_.args.size(); ++i)
    dts += fmt::format("{}{}: {}", i ? ", " : "", op_.args[i].name,
                       abi::dtypeName(op_.argDtypes[i]));
  src += "// args: " + dts + "\n";
  src += fmt::format(
      "// launch: grid ({}, {}, {}), block ({}, {}, {}), dynamic smem {} B\n",
      grid_[0], grid_[1], grid_[2], block_[0], block_[1], block_[2], smem_);
  src += comment_;
  if (bf16_)
    src += "#define STC_HAS_BF16 1\n#include <cuda_bf16.h>\n";
  if (f16_)
    src += "#define STC_HAS_F16 1\n#include <cuda_fp16.h>\n";
  if (mmaF16_)
    src += "#define STC_MMA_F16 1\n";
  std::vector<std::string> files = {"common.cuh"};
  files.insert(files.end(), files_.begin(), files_.end());
  for (const auto &f : files) {
    const char *text = deviceFile(f.c_str());
    if (!text) {
      bad("internal error: device file " + f + " was not embedded");
      return std::nullopt;
    }
    src += fmt::format("\n// ---- {} ----\n", f);
    src += text;
  }
  src += "\n// ---- this op ----\n";
  src += "struct stc_cfg {\n" + cfg_ + "};\n";
  src += preamble_;
  src += entry_;

  KernelSource out;
  out.entry = req_.kernelName;
  out.source = std::move(src);
  out.grid = grid_;
  out.block = block_;
  out.smem = smem_;
  return out;
}

} // namespace

bool isKernelKind(const std::string &kind) {
  const abi::OpSpec *spec = abi::findOpSpec(kind);
  return spec && spec->hasKernel();
}

std::optional<KernelSource> emitKernel(const EmitRequest &request,
                                       std::string *error) {
  return Emitter(request, error).run();
}

std::optional<KernelSource> emitKernel(const OpDesc &op, std::string *error) {
  auto say = [&](const std::string &msg) {
    if (error)
      *error = fmt::format("op '{}' ({}): {}", op.kind, op.kernelName, msg);
    return std::nullopt;
  };
  const abi::OpSpec *spec = abi::findOpSpec(op.kind);
  if (!spec)
    return say("unknown op kind; valid kinds: " + abi::validOpKinds());
  abi::Problem problem;
  auto sig = abi::checkAttrs(*spec, op.attrs, &problem);
  if (!sig)
    return say(problem.str());
  // Buffers of exactly the sizes the attributes imply: only the dtypes are
  // the caller's.
  std::vector<abi::BufferRef> refs;
  for (size_t i = 0; i < op.argDtypes.size(); ++i) {
    std::optional<DType> d = abi::parseDType(op.argDtypes[i]);
    if (!d)
      return say(fmt::format("argument {} has dtype '{}'; valid: f32, bf16, f16, i32",
                             i, op.argDtypes[i]));
    int64_t elements = i < sig->second.size() ? sig->second[i].elements : 1;
    refs.push_back({"arg" + std::to_string(i), static_cast<int>(i), *d,
                    elements});
  }
  auto checked = abi::checkOp(op.kind, op.attrs, refs, &problem);
  if (!checked)
    return say(problem.str());
  return emitKernel(EmitRequest{&*checked, op.kernelName, op.layouts}, error);
}

std::vector<std::string> defaultNvrtcOptions() {
  // One definition, shared with the CUDA executor (abi/NvrtcOptions.h).
  return abi::nvrtcBaseOptions();
}

} // namespace stc::codegen
