//===- KernelCache.h - Compiled kernels on disk -----------------*- C++ -*-===//
//
// NVRTC takes a fraction of a second per kernel; an artifact has dozens. The
// CUDA executor keeps every compiled CUBIN in a directory keyed by what
// determines it: the source, the compile options, the NVRTC version and the
// target architecture. Needs no GPU and no CUDA library (unit-tested on
// machines without either).
//
// Location: <root>/kernels, root = $STC_CACHE_DIR if set, else
// $XDG_CACHE_HOME/stc, else ~/.cache/stc. STC_KERNEL_CACHE=off disables it.
//
// Entry file <16 hex digits of the key>.cubin:
//   "STCKCACH"  8 bytes magic
//   u32 format version (1), u32 0
//   u64 key               must equal the file name's key
//   u64 payload bytes     must equal the file size - 40
//   u64 FNV-1a 64 of the payload
//   payload
// (little-endian). Writes go to a temporary file in the same directory that
// is renamed over the entry, so readers never see half an entry and
// concurrent writers of the same key both leave a whole one. An entry that
// fails any check is damaged: lookup removes it and reports a miss, and the
// caller compiles and stores it again.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_CUDA_KERNELCACHE_H
#define STC_RUNTIME_CUDA_KERNELCACHE_H

#include "runtime/Status.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stc::rt {

/// The cache key of one compilation: FNV-1a 64 over a length-prefixed
/// serialization of (source, options in order, compiler version, arch), so
/// no two different tuples serialize alike.
uint64_t kernelCacheKey(std::string_view source,
                        const std::vector<std::string> &options,
                        std::string_view compilerVersion,
                        std::string_view arch);

/// stc's cache root: $STC_CACHE_DIR, $XDG_CACHE_HOME/stc, ~/.cache/stc (the
/// first that is set and non-empty), else ./.stc-cache.
std::string cacheRoot();
/// <cacheRoot()>/kernels.
std::string kernelCacheDir();
/// False when STC_KERNEL_CACHE is "off" or "0".
bool kernelCacheEnabled();

class KernelCache {
public:
  explicit KernelCache(std::string dir) : dir_(std::move(dir)) {}
  const std::string &dir() const { return dir_; }

  /// The file that holds `key`.
  std::string entryPath(uint64_t key) const;

  /// The payload stored under `key`, or nullopt (absent, unreadable or
  /// damaged; a damaged entry is removed and *damaged set).
  std::optional<std::string> lookup(uint64_t key,
                                    bool *damaged = nullptr) const;

  /// Stores atomically (temporary file + rename); creates the directory.
  Status store(uint64_t key, std::string_view payload) const;

private:
  std::string dir_;
};

struct KernelCacheInfo {
  std::string path;     ///< the kernels directory
  bool exists = false;  ///< whether the directory exists
  int64_t entries = 0;  ///< *.cubin entries
  int64_t bytes = 0;    ///< their total size
  int64_t temporaries = 0; ///< leftover temporary files (interrupted writes)
};

/// What `stc cache info` prints.
Expected<KernelCacheInfo> kernelCacheInfo(const std::string &dir);
inline Expected<KernelCacheInfo> kernelCacheInfo() {
  return kernelCacheInfo(kernelCacheDir());
}

/// `stc cache clear`: removes every entry and leftover temporary file (and
/// nothing else); returns how many files were removed. A missing directory
/// is an empty cache.
Expected<int64_t> clearKernelCache(const std::string &dir);
inline Expected<int64_t> clearKernelCache() {
  return clearKernelCache(kernelCacheDir());
}

} // namespace stc::rt

#endif // STC_RUNTIME_CUDA_KERNELCACHE_H
