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

#include "abi/DType.h"
#include "abi/Layout.h"
#include "abi/Limits.h"
#include "abi/OpSpec.h"
#include "pattern/Pattern.h"
#include "runtime/Status.h"
#include "runtime/support/Files.h"
#include "runtime/support/Json.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stc::rt {

// The contract's vocabulary (abi/), used throughout the runtime.
using abi::bf16ToFloat;
using abi::DType;
using abi::dtypeName;
using abi::dtypeSize;
using abi::floatToBf16;
using abi::floatToHalf;
using abi::halfToFloat;
using abi::isHalf;
using abi::OpAttrs;
using abi::OpKind;
using abi::opKindName;
using abi::Role;

struct Buffer {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  int64_t offset = 0;
  int64_t bytes = 0; ///< product(shape) x dtypeSize(dtype)
  bool persistent = false;
  /// A sampling cache: keeps its bytes across the sample steps of one
  /// session, shares them with other entries' buffers (never persistent).
  bool session = false;

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
  int master = -1; ///< f32 master weights that AdamW updates (bf16), or -1
  InitSpec init;
  bool decay = false;
};

/// A layout, rebuilt from its pattern when the artifact is loaded (the
/// manifest names it by pattern, n, block and fingerprint only).
struct Layout {
  std::string name;
  std::string patternText; ///< as written in the manifest
  pattern::Pattern pattern = pattern::Pattern::causal(); ///< parsed
  pattern::BlockLayout blocks; ///< by query-block row (CSR)
  /// The same blocks by key-block column (CSC), rows ascending per column:
  /// built only for layouts an attention_bwd(_atomic) op reads (the backward kernels
  /// walk key-block columns); empty, with hasColumns false, elsewhere.
  bool hasColumns = false;
  std::vector<int64_t> colPtr, rowIdx;
  std::vector<pattern::BlockClass> colClasses;
};

struct KernelRef {
  std::string name;
  std::string source; ///< relative to the artifact directory
  std::string path;   ///< dir + "/" + source
  int64_t bytes = 0;
  uint64_t fnv1a64 = 0;
  /// The launch shape every op of this kernel uses.
  std::array<int64_t, 3> grid{{0, 0, 0}};
  std::array<int64_t, 3> block{{0, 0, 0}};
  int64_t smem = 0;
};

struct Op {
  OpKind kind = OpKind::Zero;
  std::vector<int> args; ///< indices into Artifact::buffers
  OpAttrs attrs;         ///< checked against abi/Ops.def, defaults filled
  std::vector<int> layouts; ///< attention: attrs.layouts as Artifact::layouts indices
  int kernel = -1;       ///< index into Artifact::kernels; -1 for a library call
};

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
  int64_t sampleBatch = 0; ///< sequences sample_step draws at once
  DType dtype = DType::F32;
  int64_t paramCount = 0;
  /// [height, width, channels] of an image model (data-aligned positions
  /// over rows, columns and 1, 3 or 4 channels); empty otherwise.
  std::vector<int64_t> image;
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
  /// Dynamic loss scaling (f16 models): its state buffer (4 f32: scale,
  /// finite steps in a row, skipped steps, last step skipped) and the
  /// scale it starts from; -1 without.
  int lossScale = -1;
  double lossScaleInit = 0;

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
  /// The model as a checkpoint records it, "key=value" lines over the name,
  /// vocab, context, width, heads, layers, dtype and attention patterns (not
  /// the batch or the block size: one checkpoint serves artifacts of any).
  std::string modelIdentity() const;
};

/// FNV-1a 64 of a file's bytes, or an error naming the file.
Expected<uint64_t> hashFile(const std::string &path, int64_t *size = nullptr);

} // namespace stc::rt

#endif // STC_RUNTIME_ARTIFACT_H
