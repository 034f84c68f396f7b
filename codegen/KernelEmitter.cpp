//===- KernelEmitter.cpp - CUDA C++ for one artifact op
//--------------------===//
//
// Each op kind has a device template in codegen/device/*.cuh (embedded into
// this library at build time, see CMakeLists.txt). Emitting a kernel means:
// check the op's attributes and argument dtypes against the catalog of
// docs/artifact-format.md, pick the launch shape, and print one NVRTC source:
//
//   // header comment: op, attributes
//   [#define STC_HAS_BF16 1 / #include <cuda_bf16.h>]   only if an arg is bf16
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

#include "codegen/PatternToC.h"
#include "runtime/DropoutHash.h"
#include "runtime/NvrtcOptions.h"
#include "runtime/OpKind.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
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

// ---- the op catalog
// ------------------------------------------------------------

enum class ArgType { Float, F32, I32, Any };

struct ArgSpec {
  std::string name; ///< C parameter name
  ArgType type;
  bool written;
};


constexpr int kThreads = 256;        ///< elementwise and row kernels
constexpr int64_t kMaxGrid = 4096;   ///< grid-stride kernels: enough CTAs
constexpr int64_t kMaxDim = 1 << 30; ///< sizes the kernels index with int
constexpr int64_t kMaxCount = int64_t(1) << 46; ///< element counts
constexpr int64_t kSmemLimit = 48 * 1024;       ///< no opt-in attribute needed
constexpr int kMinHeadDim = 8, kMaxHeadDim = 256;

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::string typeName(const std::string &dtype) {
  if (dtype == "bf16")
    return "__nv_bfloat16";
  if (dtype == "i32")
    return "int";
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

std::string attrText(const AttrValue &v) {
  struct V {
    std::string operator()(int64_t x) const { return std::to_string(x); }
    std::string operator()(double x) const { return fmt::format("{}", x); }
    std::string operator()(bool x) const { return x ? "true" : "false"; }
    std::string operator()(const std::vector<std::string> &x) const {
      std::string s = "[";
      for (size_t i = 0; i < x.size(); ++i)
        s += (i ? ", " : "") + x[i];
      return s + "]";
    }
    std::string
    operator()(const std::vector<std::pair<int64_t, int64_t>> &x) const {
      std::string s = "[";
      for (size_t i = 0; i < x.size(); ++i)
        s += fmt::format("{}[{}, {}]", i ? ", " : "", x[i].first, x[i].second);
      return s + "]";
    }
  };
  return std::visit(V{}, v);
}

const char *attrTypeName(const AttrValue &v) {
  switch (v.index()) {
  case 0:
    return "an integer";
  case 1:
    return "a number";
  case 2:
    return "a bool";
  case 3:
    return "a list of strings";
  default:
    return "a list of [int, int] pairs";
  }
}

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
  Emitter(const OpDesc &op, std::string *error) : op_(op), error_(error) {}

  std::optional<KernelSource> run();

private:
  // -- errors and attributes --
  std::nullopt_t fail(const std::string &msg) {
    if (error_)
      *error_ = fmt::format("op '{}' ({}): {}", op_.kind, op_.kernelName, msg);
    return std::nullopt;
  }
  bool failed_ = false;
  bool bad(const std::string &msg) {
    if (!failed_)
      fail(msg);
    failed_ = true;
    return false;
  }

  const AttrValue *attr(const std::string &name, const char *valid) {
    auto it = op_.attrs.find(name);
    if (it == op_.attrs.end()) {
      bad(fmt::format("missing attribute '{}' (expected {})", name, valid));
      return nullptr;
    }
    return &it->second;
  }

  /// An integer attribute in [lo, hi].
  int64_t intAttr(const std::string &name, int64_t lo, int64_t hi) {
    std::string valid = hi == kMaxCount || hi == kMaxDim
                            ? fmt::format("an integer >= {}", lo)
                            : fmt::format("an integer in [{}, {}]", lo, hi);
    const AttrValue *v = attr(name, valid.c_str());
    if (!v)
      return lo;
    if (!std::holds_alternative<int64_t>(*v)) {
      bad(fmt::format("attribute '{}' is {} ({}); expected {}", name,
                      attrTypeName(*v), attrText(*v), valid));
      return lo;
    }
    int64_t x = std::get<int64_t>(*v);
    if (x < lo || x > hi) {
      bad(fmt::format("attribute '{}' is {}; expected {}{}", name, x, valid,
                      x > hi ? fmt::format(" (at most {})", hi) : ""));
      return lo;
    }
    return x;
  }

  /// A finite number attribute (an integer value is accepted) satisfying ok.
  template <typename Pred>
  double numAttr(const std::string &name, Pred ok, const char *valid) {
    const AttrValue *v = attr(name, valid);
    if (!v)
      return 0;
    double x;
    if (std::holds_alternative<double>(*v))
      x = std::get<double>(*v);
    else if (std::holds_alternative<int64_t>(*v))
      x = static_cast<double>(std::get<int64_t>(*v));
    else {
      bad(fmt::format("attribute '{}' is {} ({}); expected {}", name,
                      attrTypeName(*v), attrText(*v), valid));
      return 0;
    }
    if (!std::isfinite(x) || !ok(x)) {
      bad(fmt::format("attribute '{}' is {}; expected {}", name, x, valid));
      return 0;
    }
    return x;
  }

  bool boolAttr(const std::string &name, bool optional = false) {
    if (optional && !op_.attrs.count(name))
      return false;
    const AttrValue *v = attr(name, "a bool");
    if (!v)
      return false;
    if (!std::holds_alternative<bool>(*v)) {
      bad(fmt::format("attribute '{}' is {} ({}); expected a bool", name,
                      attrTypeName(*v), attrText(*v)));
      return false;
    }
    return std::get<bool>(*v);
  }

  // -- arguments --
  /// Checks op_.argDtypes against specs; fills argTypes_.
  bool checkArgs(std::vector<ArgSpec> specs) {
    if (op_.argDtypes.size() != specs.size()) {
      std::string names;
      for (const auto &s : specs)
        names += (names.empty() ? "" : ", ") + s.name;
      return bad(fmt::format("has {} argument dtypes; expected {} ({})",
                             op_.argDtypes.size(), specs.size(), names));
    }
    for (size_t i = 0; i < specs.size(); ++i) {
      const std::string &d = op_.argDtypes[i];
      bool known = d == "f32" || d == "bf16" || d == "i32";
      bool ok = false;
      const char *valid = "";
      switch (specs[i].type) {
      case ArgType::Float:
        ok = d == "f32" || d == "bf16";
        valid = "f32 or bf16";
        break;
      case ArgType::F32:
        ok = d == "f32";
        valid = "f32";
        break;
      case ArgType::I32:
        ok = d == "i32";
        valid = "i32";
        break;
      case ArgType::Any:
        ok = known;
        valid = "f32, bf16 or i32";
        break;
      }
      if (!ok)
        return bad(fmt::format("argument {} ({}) has dtype '{}'; expected {}",
                               i, specs[i].name, d, valid));
      if (d == "bf16")
        bf16_ = true;
    }
    specs_ = std::move(specs);
    return true;
  }

  std::string param(size_t i) const {
    const ArgSpec &s = specs_[i];
    if (op_.kind == "zero")
      return "void *" + s.name;
    return fmt::format("{}{} *{}", s.written ? "" : "const ",
                       typeName(op_.argDtypes[i]), s.name);
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
  bool emitEmbedFwd();
  bool emitEmbedBwd();
  bool emitLayerNormFwd();
  bool emitLayerNormBwd();
  bool emitBiasGrad();
  bool emitXent();
  bool emitSumsq();
  bool emitAdamw();
  bool emitKvStore();
  bool emitAttention();

  /// The entry: `extern "C" __global__` with the ABI's parameters.
  void entry(const std::string &body,
             const std::vector<std::string> &extraParams = {}) {
    std::string params;
    for (size_t i = 0; i < specs_.size(); ++i)
      params += "    " + param(i) + ",\n";
    for (const auto &p : extraParams)
      params += "    " + p + ",\n";
    params += "    const void *scalars";
    entry_ = fmt::format("extern \"C\" __global__ void "
                         "__launch_bounds__({})\n{}(\n{}) {{\n{}}}\n",
                         block_[0] * block_[1] * block_[2], op_.kernelName,
                         params, body);
  }

  const OpDesc &op_;
  std::string *error_;
  std::vector<ArgSpec> specs_;
  bool bf16_ = false;
  std::vector<std::string> files_; ///< device files to inline, in order
  std::string comment_;            ///< extra header comment lines
  std::string cfg_;                ///< struct stc_cfg members
  std::string preamble_;           ///< generated declarations before the entry
  std::string entry_;
  std::array<int64_t, 3> grid_{1, 1, 1}, block_{1, 1, 1};
  int64_t smem_ = 0;
};

// ---- elementwise family
// ----------------------------------------------------------

bool Emitter::emitZero() {
  int64_t count = intAttr("count", 1, kMaxCount);
  if (!checkArgs({{"out", ArgType::Any, true}}))
    return false;
  if (failed_)
    return false;
  int64_t bytes = count * (op_.argDtypes[0] == "bf16" ? 2 : 4);
  files_ = {"elementwise.cuh"};
  cfg_ = fmt::format("  static constexpr long long bytes = {}LL;\n", bytes);
  gridStride(bytes / 4 + 1);
  entry("  stc::zero_kernel<stc_cfg>(out);\n");
  return true;
}

bool Emitter::emitElementwise() {
  const std::string &k = op_.kind;
  int64_t count = intAttr("count", 1, kMaxCount);
  bool acc = k == "gelu_bwd" ? boolAttr("accumulate") : false;
  bool ok;
  std::string call;
  if (k == "gelu_fwd") {
    ok = checkArgs({{"x", ArgType::Float, false}, {"y", ArgType::Float, true}});
    files_ = {"gelu.cuh"};
    call = "stc::gelu_fwd_kernel<stc_cfg>(x, y)";
  } else if (k == "gelu_bwd") {
    ok = checkArgs({{"x", ArgType::Float, false},
                    {"dy", ArgType::Float, false},
                    {"dx", ArgType::Float, true}});
    files_ = {"gelu.cuh"};
    call = "stc::gelu_bwd_kernel<stc_cfg>(x, dy, dx)";
  } else if (k == "add") {
    ok = checkArgs({{"a", ArgType::Float, false},
                    {"b", ArgType::Float, false},
                    {"out", ArgType::Float, true}});
    files_ = {"elementwise.cuh"};
    call = "stc::add_kernel<stc_cfg>(a, b, out)";
  } else { // accumulate
    ok = checkArgs(
        {{"dst", ArgType::Float, true}, {"src", ArgType::Float, false}});
    files_ = {"elementwise.cuh"};
    call = "stc::accumulate_kernel<stc_cfg>(dst, src)";
  }
  if (!ok || failed_)
    return false;
  cfg_ = fmt::format("  static constexpr long long count = {}LL;\n"
                     "  static constexpr bool accumulate = {};\n",
                     count, acc ? "true" : "false");
  gridStride(count);
  entry("  " + call + ";\n");
  return true;
}

bool Emitter::emitDropout() {
  int64_t count = intAttr("count", 1, kMaxCount);
  double rate = numAttr(
      "rate", [](double x) { return x >= 0 && x < 1; }, "0 <= rate < 1");
  int64_t salt = intAttr("salt", 0, 0xffffffffll);
  bool fwd = op_.kind == "dropout_fwd";
  bool ok = fwd ? checkArgs({{"x", ArgType::Float, false},
                             {"y", ArgType::Float, true}})
                : checkArgs({{"dy", ArgType::Float, false},
                             {"dx", ArgType::Float, true}});
  if (!ok || failed_)
    return false;
  files_ = {"DropoutHash.h", "dropout.cuh"};
  // Both from the host definitions the CPU executor uses.
  const uint32_t threshold = stc::rt::dropoutThreshold(rate);
  const float scale = static_cast<float>(1.0 / (1.0 - rate));
  cfg_ = fmt::format("  static constexpr long long count = {}LL;\n"
                     "  static constexpr unsigned salt = {}u;\n"
                     "  static constexpr unsigned threshold = {}u; // "
                     "floor(rate * 2^32), rate = {}\n"
                     "  static constexpr float scale = {}; // 1 / (1 - rate) "
                     "rounded to float\n",
                     count, salt, threshold, doubleLit(rate), floatLit(scale));
  gridStride(count);
  entry(fwd ? "  stc::dropout_kernel<stc_cfg>(x, y, scalars);\n"
            : "  stc::dropout_kernel<stc_cfg>(dy, dx, scalars);\n");
  return true;
}

// ---- embedding
// ---------------------------------------------------------------------

namespace {
bool posAttr(const OpDesc &op, std::vector<std::pair<int64_t, int64_t>> &out,
             std::string &why) {
  auto it = op.attrs.find("pos");
  if (it == op.attrs.end()) {
    why = "missing attribute 'pos' (expected a list of [div, mod] pairs, "
          "possibly empty)";
    return false;
  }
  if (std::holds_alternative<std::vector<std::pair<int64_t, int64_t>>>(
          it->second))
    out = std::get<std::vector<std::pair<int64_t, int64_t>>>(it->second);
  else if (std::holds_alternative<std::vector<std::string>>(it->second) &&
           std::get<std::vector<std::string>>(it->second).empty())
    out.clear(); // an empty list has no element type
  else {
    why = fmt::format(
        "attribute 'pos' is {} ({}); expected a list of [div, mod] pairs",
        attrTypeName(it->second), attrText(it->second));
    return false;
  }
  for (size_t p = 0; p < out.size(); ++p)
    if (out[p].first < 1 || out[p].second < 1 || out[p].first > kMaxDim ||
        out[p].second > kMaxDim) {
      why = fmt::format("attribute 'pos' component {} is [{}, {}]; div and mod "
                        "must be integers in [1, {}]",
                        p, out[p].first, out[p].second, kMaxDim);
      return false;
    }
  return true;
}
} // namespace

bool Emitter::emitEmbedFwd() {
  int64_t rows = intAttr("rows", 1, kMaxDim);
  int64_t T = intAttr("T", 1, kMaxDim);
  int64_t D = intAttr("D", 1, kMaxDim);
  int64_t V = intAttr("V", 1, std::numeric_limits<int32_t>::max());
  bool decode = boolAttr("decode", /*optional=*/true);
  std::vector<std::pair<int64_t, int64_t>> pos;
  std::string why;
  if (!failed_ && !posAttr(op_, pos, why))
    return bad(why);
  if (failed_)
    return false;
  std::vector<ArgSpec> specs = {{"tokens", ArgType::I32, false},
                                {"table", ArgType::Float, false}};
  for (size_t p = 0; p < pos.size(); ++p)
    specs.push_back({"pos_" + std::to_string(p), ArgType::Float, false});
  specs.push_back({"out", ArgType::Float, true});
  if (!checkArgs(specs))
    return false;
  files_ = {"embedding.cuh"};
  cfg_ = fmt::format(
      "  static constexpr long long rows = {}LL, T = {}LL, D = {}LL;\n"
      "  static constexpr int V = {};\n"
      "  static constexpr bool decode = {};\n",
      rows, T, D, V, decode ? "true" : "false");
  // The position components: a functor with one pointer per component.
  std::string members, adds, init;
  for (size_t p = 0; p < pos.size(); ++p) {
    members +=
        fmt::format("  const {} *p{};\n", typeName(op_.argDtypes[2 + p]), p);
    adds += fmt::format(
        "    acc += stc::load(p{0}, ((t / {1}LL) % {2}LL) * {3}LL + d);\n", p,
        pos[p].first, pos[p].second, D);
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
  gridStride(rows * D);
  entry(fmt::format(
      "  const stc_pos pos{{{}}};\n"
      "  stc::embed_fwd_kernel<stc_cfg>(tokens, table, out, pos, scalars);\n",
      init));
  return true;
}

bool Emitter::emitEmbedBwd() {
  int64_t rows = intAttr("rows", 1, kMaxDim);
  int64_t T = intAttr("T", 1, kMaxDim);
  int64_t D = intAttr("D", 1, kMaxDim);
  int64_t V = intAttr("V", 1, std::numeric_limits<int32_t>::max());
  bool decode = boolAttr("decode", /*optional=*/true);
  std::vector<std::pair<int64_t, int64_t>> pos;
  std::string why;
  if (!failed_ && !posAttr(op_, pos, why))
    return bad(why);
  if (failed_)
    return false;
  std::vector<ArgSpec> specs = {{"tokens", ArgType::I32, false},
                                {"dout", ArgType::Float, false},
                                {"dtable", ArgType::Float, true}};
  for (size_t p = 0; p < pos.size(); ++p)
    specs.push_back({"dpos_" + std::to_string(p), ArgType::Float, true});
  if (!checkArgs(specs))
    return false;
  files_ = {"embedding.cuh"};
  const int64_t tableBlocks =
      std::clamp<int64_t>(ceilDiv(rows * D, kThreads), 1, kMaxGrid);
  cfg_ = fmt::format(
      "  static constexpr long long rows = {}LL, T = {}LL, D = {}LL;\n"
      "  static constexpr int V = {};\n"
      "  static constexpr bool decode = {};\n"
      "  static constexpr long long table_blocks = {}LL;\n",
      rows, T, D, V, decode ? "true" : "false", tableBlocks);
  std::string body = fmt::format(
      "  // CTAs [0, {0}): dtable (atomics); then, per position component, "
      "one\n"
      "  // CTA range gathering its dpos deterministically.\n"
      "  long long bid = blockIdx.x;\n"
      "  if (bid < stc_cfg::table_blocks) {{\n"
      "    stc::embed_bwd_table_kernel<stc_cfg>(tokens, dout, dtable, bid, "
      "stc_cfg::table_blocks);\n"
      "    return;\n"
      "  }}\n"
      "  bid -= stc_cfg::table_blocks;\n",
      tableBlocks);
  int64_t total = tableBlocks;
  for (size_t p = 0; p < pos.size(); ++p) {
    int64_t blocks = ceilDiv(pos[p].second * D, kThreads);
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

constexpr int kColCols = 16, kColGroups = kThreads / kColCols;

bool Emitter::emitLayerNormFwd() {
  int64_t M = intAttr("M", 1, kMaxDim);
  int64_t C = intAttr("C", 1, kMaxDim);
  double eps = numAttr(
      "eps", [](double x) { return x > 0; }, "a number > 0");
  if (!checkArgs({{"x", ArgType::Float, false},
                  {"gamma", ArgType::Float, false},
                  {"beta", ArgType::Float, false},
                  {"y", ArgType::Float, true},
                  {"mean", ArgType::F32, true},
                  {"rstd", ArgType::F32, true}}) ||
      failed_)
    return false;
  files_ = {"layernorm.cuh"};
  cfg_ = fmt::format("  static constexpr long long M = {}LL;\n"
                     "  static constexpr int C = {};\n"
                     "  static constexpr float eps = {};\n"
                     "  static constexpr int threads = {};\n",
                     M, C, floatLit(eps), kThreads);
  block_ = {kThreads, 1, 1};
  grid_ = {ceilDiv(M, kThreads / 32), 1, 1};
  entry("  stc::layer_norm_fwd_kernel<stc_cfg>(x, gamma, beta, y, mean, "
        "rstd);\n");
  return true;
}

bool Emitter::emitLayerNormBwd() {
  int64_t M = intAttr("M", 1, kMaxDim);
  int64_t C = intAttr("C", 1, kMaxDim);
  bool acc = boolAttr("accumulate");
  if (!checkArgs({{"dy", ArgType::Float, false},
                  {"x", ArgType::Float, false},
                  {"mean", ArgType::F32, false},
                  {"rstd", ArgType::F32, false},
                  {"gamma", ArgType::Float, false},
                  {"dx", ArgType::Float, true},
                  {"dgamma", ArgType::Float, true},
                  {"dbeta", ArgType::Float, true}}) ||
      failed_)
    return false;
  files_ = {"layernorm.cuh"};
  const int64_t rowBlocks = ceilDiv(M, kThreads / 32);
  cfg_ = fmt::format(
      "  static constexpr long long M = {}LL;\n"
      "  static constexpr int C = {};\n"
      "  static constexpr bool accumulate = {};\n"
      "  static constexpr int threads = {};\n"
      "  static constexpr unsigned row_blocks = {}u; // dx: a warp per row\n"
      "  static constexpr int cols = {}, row_groups = {}; // dgamma, dbeta\n",
      M, C, acc ? "true" : "false", kThreads, rowBlocks, kColCols, kColGroups);
  block_ = {kThreads, 1, 1};
  grid_ = {rowBlocks + ceilDiv(C, kColCols), 1, 1};
  entry("  stc::layer_norm_bwd_kernel<stc_cfg>(dy, x, mean, rstd, gamma, dx, "
        "dgamma, "
        "dbeta);\n");
  return true;
}

bool Emitter::emitBiasGrad() {
  int64_t M = intAttr("M", 1, kMaxDim);
  int64_t N = intAttr("N", 1, kMaxDim);
  if (!checkArgs(
          {{"dy", ArgType::Float, false}, {"db", ArgType::Float, true}}) ||
      failed_)
    return false;
  files_ = {"bias_grad.cuh"};
  cfg_ = fmt::format("  static constexpr long long M = {}LL, N = {}LL;\n"
                     "  static constexpr int cols = {}, row_groups = {};\n",
                     M, N, kColCols, kColGroups);
  block_ = {kThreads, 1, 1};
  grid_ = {ceilDiv(N, kColCols), 1, 1};
  entry("  stc::bias_grad_kernel<stc_cfg>(dy, db);\n");
  return true;
}

// ---- loss, norm, optimizer, cache
// ------------------------------------------------------

bool Emitter::emitXent() {
  const bool grad = op_.kind == "xent_fwd_bwd";
  int64_t M = intAttr("M", 1, std::numeric_limits<int32_t>::max());
  int64_t V = intAttr("V", 1, std::numeric_limits<int32_t>::max());
  double scale =
      grad ? numAttr(
                 "scale", [](double) { return true; }, "a finite number")
           : 1.0;
  std::vector<ArgSpec> specs = {{"logits", ArgType::Float, false},
                                {"targets", ArgType::I32, false},
                                {"losses", ArgType::F32, true}};
  if (grad)
    specs.push_back({"dlogits", ArgType::Float, true});
  if (!checkArgs(specs) || failed_)
    return false;
  files_ = {"xent.cuh"};
  const int threads = V >= 8192 ? 512 : kThreads;
  cfg_ =
      fmt::format("  static constexpr long long V = {}LL;\n"
                  "  static constexpr int threads = {};\n"
                  "  static constexpr float grad_scale = {}; // scale / ln 2\n",
                  V, threads, floatLit(scale / 0.693147180559945309417));
  block_ = {threads, 1, 1};
  grid_ = {M, 1, 1};
  entry(grad ? "  stc::xent_kernel<stc_cfg, true>(logits, targets, losses, "
               "dlogits);\n"
             : "  stc::xent_kernel<stc_cfg, false>(logits, targets, losses, "
               "(float *)0);\n");
  return true;
}

bool Emitter::emitSumsq() {
  int64_t count = intAttr("count", 1, kMaxCount);
  bool acc = boolAttr("accumulate");
  if (!checkArgs({{"x", ArgType::Float, false}, {"out", ArgType::F32, true}}) ||
      failed_)
    return false;
  files_ = {"sumsq.cuh"};
  gridStride(count, 4);
  grid_[0] = std::min<int64_t>(grid_[0], 1024);
  cfg_ = fmt::format("  static constexpr long long count = {}LL;\n"
                     "  static constexpr bool accumulate = {};\n"
                     "  static constexpr int threads = {};\n",
                     count, acc ? "true" : "false", kThreads);
  preamble_ = fmt::format(
      "// Per-CTA partial sums and the last-CTA ticket (see sumsq.cuh); "
      "module\n"
      "// globals start zeroed and the last CTA resets the ticket.\n"
      "__device__ float stc_sumsq_partials[{}];\n"
      "__device__ unsigned stc_sumsq_ticket;\n",
      grid_[0]);
  entry("  stc::sumsq_kernel<stc_cfg>(x, out, stc_sumsq_partials, "
        "&stc_sumsq_ticket);\n");
  return true;
}

bool Emitter::emitAdamw() {
  int64_t count = intAttr("count", 1, kMaxCount);
  auto unit = [](double x) { return x >= 0 && x < 1; };
  double b1 = numAttr("beta1", unit, "0 <= beta1 < 1");
  double b2 = numAttr("beta2", unit, "0 <= beta2 < 1");
  double eps = numAttr(
      "eps", [](double x) { return x > 0; }, "a number > 0");
  double wd = numAttr(
      "weight_decay", [](double x) { return x >= 0; }, "a number >= 0");
  double clip = numAttr(
      "clip", [](double x) { return x >= 0; },
      "a number >= 0 (0: no clipping)");
  if (!checkArgs({{"param", ArgType::Float, true},
                  {"grad", ArgType::Float, false},
                  {"m", ArgType::F32, true},
                  {"v", ArgType::F32, true},
                  {"gnorm_sq", ArgType::F32, false}}) ||
      failed_)
    return false;
  files_ = {"adamw.cuh"};
  cfg_ = fmt::format(
      "  static constexpr long long count = {}LL;\n"
      "  static constexpr double beta1 = {}, beta2 = {}, eps = {};\n"
      "  static constexpr double weight_decay = {}, clip = {};\n",
      count, doubleLit(b1), doubleLit(b2), doubleLit(eps), doubleLit(wd),
      doubleLit(clip));
  gridStride(count);
  entry(
      "  stc::adamw_kernel<stc_cfg>(param, grad, m, v, gnorm_sq, scalars);\n");
  return true;
}

bool Emitter::emitKvStore() {
  int64_t D = intAttr("D", 1, kMaxDim);
  int64_t T = intAttr("T", 1, kMaxDim);
  if (!checkArgs(
          {{"src", ArgType::Float, false}, {"cache", ArgType::Float, true}}) ||
      failed_)
    return false;
  files_ = {"kv_store.cuh"};
  cfg_ = fmt::format("  static constexpr long long D = {}LL;\n"
                     "  static constexpr int T = {};\n",
                     D, T);
  gridStride(D);
  entry("  stc::kv_store_kernel<stc_cfg>(src, cache, scalars);\n");
  return true;
}

// ---- attention
// ----------------------------------------------------------------------

bool Emitter::emitAttention() {
  const std::string &k = op_.kind;
  const bool decode = k == "attention_decode", bwd = k == "attention_bwd";
  int64_t B = decode ? 1 : intAttr("B", 1, 65535);
  int64_t T = intAttr("T", 1, kMaxDim);
  int64_t H = intAttr("H", 1, 65535);
  int64_t dk = intAttr("dk", kMinHeadDim, kMaxHeadDim);
  int64_t dv = intAttr("dv", kMinHeadDim, kMaxHeadDim);
  double scale = numAttr(
      "scale", [](double) { return true; }, "a finite number");
  int64_t hpl = intAttr("heads_per_layout", 1, 65535);
  std::vector<std::string> names;
  if (const AttrValue *v =
          attr("layouts", "a non-empty list of layout names")) {
    if (!std::holds_alternative<std::vector<std::string>>(*v))
      return bad(
          fmt::format("attribute 'layouts' is {} ({}); expected a non-empty "
                      "list of layout names",
                      attrTypeName(*v), attrText(*v)));
    names = std::get<std::vector<std::string>>(*v);
  }
  if (failed_)
    return false;
  if (names.empty())
    return bad("attribute 'layouts' is empty; expected one layout name per "
               "head group");
  if (static_cast<int64_t>(names.size()) * hpl != H)
    return bad(fmt::format(
        "attribute 'H' is {} but layouts ({}) x heads_per_layout ({}) "
        "= {} (they must be equal)",
        H, names.size(), hpl, static_cast<int64_t>(names.size()) * hpl));
  if (op_.layouts.size() != names.size())
    return bad(fmt::format(
        "attribute 'layouts' names {} layouts but the op describes {}",
        names.size(), op_.layouts.size()));
  for (size_t i = 0; i < names.size(); ++i) {
    const LayoutDesc &l = op_.layouts[i];
    if (l.name != names[i])
      return bad(
          fmt::format("attribute 'layouts'[{}] is '{}' but layout {} is '{}'",
                      i, names[i], i, l.name));
    if (l.n != T)
      return bad(fmt::format(
          "layout '{}' has n={} but the op has T={} (they must be equal)",
          l.name, l.n, T));
    if (l.block < 1 || l.block > kMaxDim)
      return bad(fmt::format(
          "layout '{}' has block {}; expected an integer in [1, {}]", l.name,
          l.block, kMaxDim));
  }
  std::vector<ArgSpec> specs;
  if (decode)
    specs = {{"q", ArgType::Float, false},
             {"kcache", ArgType::Float, false},
             {"vcache", ArgType::Float, false},
             {"o", ArgType::Float, true}};
  else if (bwd)
    specs = {{"q", ArgType::Float, false}, {"k", ArgType::Float, false},
             {"v", ArgType::Float, false}, {"o", ArgType::Float, false},
             {"lse", ArgType::F32, false}, {"d_o", ArgType::Float, false},
             {"dq", ArgType::Float, true}, {"dk", ArgType::Float, true},
             {"dv", ArgType::Float, true}};
  else
    specs = {{"q", ArgType::Float, false},
             {"k", ArgType::Float, false},
             {"v", ArgType::Float, false},
             {"o", ArgType::Float, true},
             {"lse", ArgType::F32, true}};
  if (!checkArgs(specs))
    return false;

  // Layout structs: block size and the pattern as an inline predicate.
  std::vector<std::string> layoutParams;
  for (size_t i = 0; i < op_.layouts.size(); ++i) {
    const LayoutDesc &l = op_.layouts[i];
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
      layoutParams.push_back(fmt::format("const int *L{}_{}", i, a));
  }

  const int64_t kstr = dk | 1,
                vstr = dv | 1; // odd row strides: no bank conflicts
  std::string call;
  std::string dispatchVar;
  if (decode) {
    constexpr int kWarps = 4;
    files_ = {"attention_common.cuh", "attention_decode.cuh"};
    cfg_ =
        fmt::format("  static constexpr int T = {}, H = {}, DK = {}, DV = {};\n"
                    "  static constexpr int HPL = {}; // heads per layout\n"
                    "  static constexpr int WARPS = {};\n"
                    "  static constexpr float scale = {};\n",
                    T, H, dk, dv, hpl, kWarps, floatLit(scale));
    block_ = {kWarps * 32, 1, 1};
    grid_ = {H, 1, 1};
    smem_ = 0; // static shared memory only
    dispatchVar = "blockIdx.x";
    call = "stc::attention_decode_kernel<stc_cfg, stc_layout_{0}>(q, kcache, "
           "vcache, o, "
           "L{0}_row_ptr, L{0}_col_idx, L{0}_classes, scalars)";
  } else {
    // QT query (or key) rows per CTA, one per warp; QT must divide every
    // layout's block (or the block covers all of T) so a CTA's rows lie in
    // one block row / column. KT positions per shared-memory chunk.
    int qtMax = 8;
    for (const LayoutDesc &l : op_.layouts)
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
                 "o, lse, d_o, "
                 "dq, dk, dv, L{0}_row_ptr, L{0}_col_idx, L{0}_classes, "
                 "L{0}_col_ptr, "
                 "L{0}_row_idx, L{0}_col_classes, stc_smem)"
               : "stc::attention_fwd_kernel<stc_cfg, stc_layout_{0}>(q, k, v, "
                 "o, lse, "
                 "L{0}_row_ptr, L{0}_col_idx, L{0}_classes, stc_smem)";
  }
  std::string body;
  if (!decode)
    body += "  extern __shared__ float stc_smem[];\n";
  body += fmt::format("  // Head h uses layout h / HPL.\n"
                      "  switch (static_cast<int>({}) / stc_cfg::HPL) {{\n",
                      dispatchVar);
  for (size_t i = 0; i < op_.layouts.size(); ++i)
    body += fmt::format("  case {}:\n    {};\n    break;\n", i,
                        fmt::format(call, i));
  body += "  default:\n    break;\n  }\n  (void)scalars;\n";
  entry(body, layoutParams);
  if (bf16_)
    comment_ += "// bf16 arguments are loaded to fp32 and stored rounded to "
                "nearest even.\n";
  return true;
}

// ---- assembly
// ---------------------------------------------------------------------

std::optional<KernelSource> Emitter::run() {
  const std::string &k = op_.kind;
  if (k == "gemm")
    return fail(
        "gemm is not a generated kernel (the CUDA executor runs it through "
        "cuBLASLt); valid kinds: " +
        rt::validOpKinds());
  if (!isIdentifier(op_.kernelName))
    return fail(
        fmt::format("kernel name '{}' is not a C identifier", op_.kernelName));
  bool ok;
  if (k == "zero")
    ok = emitZero();
  else if (k == "gelu_fwd" || k == "gelu_bwd" || k == "add" ||
           k == "accumulate")
    ok = emitElementwise();
  else if (k == "dropout_fwd" || k == "dropout_bwd")
    ok = emitDropout();
  else if (k == "embed_fwd")
    ok = emitEmbedFwd();
  else if (k == "embed_bwd")
    ok = emitEmbedBwd();
  else if (k == "layer_norm_fwd")
    ok = emitLayerNormFwd();
  else if (k == "layer_norm_bwd")
    ok = emitLayerNormBwd();
  else if (k == "bias_grad")
    ok = emitBiasGrad();
  else if (k == "xent_fwd" || k == "xent_fwd_bwd")
    ok = emitXent();
  else if (k == "sumsq")
    ok = emitSumsq();
  else if (k == "adamw")
    ok = emitAdamw();
  else if (k == "kv_store")
    ok = emitKvStore();
  else if (k == "attention_fwd" || k == "attention_bwd" ||
           k == "attention_decode")
    ok = emitAttention();
  else
    return fail("unknown op kind; valid kinds: " + rt::validOpKinds());
  if (!ok || failed_)
    return std::nullopt;

  std::string src =
      fmt::format("// {}: stc kernel for op '{}' (generated; do not edit).\n",
                  op_.kernelName, k);
  for (const auto &a : op_.attrs)
    src += fmt::format("//   {} = {}\n", a.first, attrText(a.second));
  std::string dts;
  for (size_t i = 0; i < specs_.size(); ++i)
    dts += fmt::format("{}{}: {}", i ? ", " : "", specs_[i].name,
                       op_.argDtypes[i]);
  src += "// args: " + dts + "\n";
  src += fmt::format(
      "// launch: grid ({}, {}, {}), block ({}, {}, {}), dynamic smem {} B\n",
      grid_[0], grid_[1], grid_[2], block_[0], block_[1], block_[2], smem_);
  src += comment_;
  if (bf16_)
    src += "#define STC_HAS_BF16 1\n#include <cuda_bf16.h>\n";
  std::vector<std::string> files = {"common.cuh"};
  files.insert(files.end(), files_.begin(), files_.end());
  for (const auto &f : files) {
    const char *text = deviceFile(f.c_str());
    if (!text)
      return fail("internal error: device file " + f + " was not embedded");
    src += fmt::format("\n// ---- {} ----\n", f);
    src += text;
  }
  src += "\n// ---- this op ----\n";
  src += "struct stc_cfg {\n" + cfg_ + "};\n";
  src += preamble_;
  src += entry_;

  KernelSource out;
  out.entry = op_.kernelName;
  out.source = std::move(src);
  out.grid = grid_;
  out.block = block_;
  out.smem = smem_;
  return out;
}

} // namespace

bool isKernelKind(const std::string &kind) {
  std::optional<rt::OpKind> k = rt::parseOpKind(kind);
  return k && *k != rt::OpKind::Gemm;
}

std::optional<KernelSource> emitKernel(const OpDesc &op, std::string *error) {
  return Emitter(op, error).run();
}

std::vector<std::string> defaultNvrtcOptions() {
  // One definition, shared with the CUDA executor (runtime/NvrtcOptions.h):
  // --std=c++17, -default-device (runtime/DropoutHash.h, inlined verbatim into
  // dropout kernels, defines an unannotated host function, which NVRTC rejects
  // otherwise; stc's own device files annotate everything), -lineinfo. No fast
  // math: expf/logf/tanhf stay accurate for the comparison with the CPU
  // reference.
  return stc::rt::nvrtcBaseOptions();
}

} // namespace stc::codegen
