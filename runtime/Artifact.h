//===- Artifact.h - A loaded, validated stc artifact ------------*- C++ -*-===//
//
// Artifact::load reads OUT/manifest.json (docs/artifact-format.md) into typed
// structs and checks everything the format promises before any executor sees
// it: an artifact is untrusted input. After a successful load, executors may
// rely on every invariant listed in the doc (buffer bounds, argument counts,
// element counts and dtypes per op, layouts matching their patterns, kernel
// sources matching their hashes, the memory plan never overlapping live
// buffers) without checking again.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_ARTIFACT_H
#define STC_RUNTIME_ARTIFACT_H

#include "pattern/Pattern.h"
#include "runtime/DType.h"
#include "runtime/OpKind.h"
#include "runtime/Status.h"
#include "runtime/support/Json.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stc::rt {

constexpr int64_t kArtifactVersion = 1;
constexpr int64_t kBufferAlignment = 256;
/// The `scalars` buffer: 16 slots of 4 bytes (see Executor.h, Scalars).
constexpr int64_t kScalarSlots = 16;

struct Buffer {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  int64_t offset = 0;
  int64_t bytes = 0;
  bool persistent = false;

  int64_t elements() const { return bytes / dtypeSize(dtype); }
};

struct InitSpec {
  enum class Dist { Normal, Zeros, Ones };
  Dist dist = Dist::Zeros;
  double std = 0; ///< Normal only
};

struct Param {
  std::string name;
  int buffer = -1; ///< indices into Artifact::buffers
  int grad = -1;
  int adamM = -1;
  int adamV = -1;
  InitSpec init;
  bool decay = false;
};

struct Layout {
  std::string name;
  std::string patternText; ///< as written in the manifest
  pattern::Pattern pattern = pattern::Pattern::causal(); ///< parsed
  pattern::BlockLayout blocks; ///< by row (CSR); equal to the rebuilt one
  /// The same blocks by key block column (CSC), rows ascending per column.
  std::vector<int64_t> colPtr, rowIdx;
  std::vector<pattern::BlockClass> colClasses;
};

/// The CSC form (colPtr, rowIdx, colClasses) of a CSR block layout.
void blockLayoutColumns(const pattern::BlockLayout &l,
                        std::vector<int64_t> &colPtr,
                        std::vector<int64_t> &rowIdx,
                        std::vector<pattern::BlockClass> &colClasses);

struct KernelRef {
  std::string name;
  std::string source; ///< relative to the artifact directory
  std::string path;   ///< dir + "/" + source
  int64_t bytes = 0;
  uint64_t fnv1a64 = 0;
};

// OpKind, opKindName and parseOpKind: runtime/OpKind.h.

/// The union of all op kinds' attributes; each kind sets the ones the doc
/// lists for it (others keep their defaults).
struct OpAttrs {
  // Sizes.
  int64_t count = 0, rows = 0, T = 0, D = 0, V = 0;
  int64_t M = 0, N = 0, K = 0, C = 0;
  int64_t B = 0, H = 0, dk = 0, dv = 0;
  // embed_*: (div, mod) per position component; decode: t = scalars[3] + r.
  std::vector<std::pair<int64_t, int64_t>> pos;
  bool decode = false;
  // layer_norm_*.
  double eps = 0;
  // gemm.
  bool transA = false, transB = false, bias = false;
  double alpha = 1, beta = 0;
  // *_bwd, sumsq: add into the output instead of overwriting it.
  bool accumulate = false;
  // dropout_*.
  double rate = 0;
  uint32_t salt = 0;
  // attention_*: scale of q.k; layouts (indices into Artifact::layouts).
  double scale = 1;
  std::vector<int> layouts;
  int64_t headsPerLayout = 0;
  // adamw.
  double beta1 = 0, beta2 = 0, weightDecay = 0, clip = 0;
};

struct Op {
  OpKind kind = OpKind::Zero;
  std::vector<int> args; ///< indices into Artifact::buffers
  OpAttrs attrs;
  json::Value rawAttrs; ///< the manifest's attrs object, as written
  int kernel = -1;      ///< index into Artifact::kernels; -1 for gemm
  std::array<int64_t, 3> grid{{0, 0, 0}};
  std::array<int64_t, 3> block{{0, 0, 0}};
  int64_t smem = 0;
};

/// How an op uses an argument (drives the memory-plan check).
enum class ArgRole : uint8_t {
  In,    ///< read only
  Out,   ///< completely overwritten, not read
  InOut, ///< read and written (accumulation, partial writes, updates)
};

/// Which dtypes an argument accepts.
enum class ArgType : uint8_t {
  Float, ///< f32 or bf16 (activations, parameters, gradients)
  F32,   ///< f32 only (statistics, losses, optimizer moments)
  I32,   ///< token ids and targets
  Any,   ///< zero
};

struct ArgSpec {
  std::string name; ///< as in the doc's args column: "x", "gamma", ...
  ArgType type = ArgType::Float;
  int64_t elements = 0; ///< required element count
  std::string formula;  ///< how elements follows from attrs ("M*C")
  ArgRole role = ArgRole::In;
};

/// The argument signature of an op with valid attrs (arity follows attrs for
/// gemm's bias and embed's position components).
std::vector<ArgSpec> argSpecs(OpKind kind, const OpAttrs &attrs);

/// Whether the op kind may take the same buffer as an input and an output
/// (elementwise ops, where in-place is well defined).
bool allowsInPlace(OpKind kind);

enum class EntryKind : uint8_t { Train = 0, Eval = 1, Sample = 2 };
constexpr int kNumEntryKinds = 3;
const char *entryKindName(EntryKind k);
std::optional<EntryKind> parseEntryKind(std::string_view s);

struct Entry {
  bool present = false;
  std::vector<Op> ops;
  /// Role -> buffer index, in manifest order.
  std::vector<std::pair<std::string, int>> inputs, outputs;

  /// Buffer index of a role, or -1.
  int input(std::string_view role) const;
  int output(std::string_view role) const;
};

struct ModelInfo {
  std::string name;
  int64_t vocab = 0, context = 0, width = 0, heads = 0, layers = 0;
  int64_t batch = 0;
  DType dtype = DType::F32;
  int64_t paramCount = 0;
};

struct LoadOptions {
  /// Check that every kernel source exists with the listed size and hash.
  /// Turn off only for CPU-only use of an artifact whose kernels/ directory
  /// was not copied; the manifest's kernel table is still checked.
  bool checkKernelFiles = true;
};

struct Artifact {
  std::string dir;
  std::string producer;
  ModelInfo model;
  int64_t arenaBytes = 0;
  std::vector<Buffer> buffers;
  std::vector<Param> params;
  std::vector<Layout> layouts;
  std::vector<KernelRef> kernels;
  std::array<Entry, kNumEntryKinds> entries;
  int scalars = -1; ///< index of the `scalars` buffer

  /// Reads and validates dir/manifest.json.
  static Expected<Artifact> load(const std::string &dir,
                                 const LoadOptions &options = {});
  /// Validates an already parsed manifest; kernel sources are looked up
  /// relative to `dir`.
  static Expected<Artifact> fromJson(const json::Value &manifest,
                                     const std::string &dir,
                                     const LoadOptions &options = {});

  /// Buffer index by name, or -1.
  int findBuffer(std::string_view name) const;
  const Entry &entry(EntryKind k) const { return entries[static_cast<int>(k)]; }

  /// FNV-1a 64 over the parameter table's names, dtypes and shapes (see the
  /// doc's Checkpoints section): what a checkpoint must match.
  uint64_t paramFingerprint() const;
};

/// FNV-1a 64 of a file's bytes, or an error naming the file.
Expected<uint64_t> hashFile(const std::string &path, int64_t *size = nullptr);

/// Reads a whole file (binary), or an error naming it.
Expected<std::string> readFile(const std::string &path);

} // namespace stc::rt

#endif // STC_RUNTIME_ARTIFACT_H
