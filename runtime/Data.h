//===- Data.h - Byte-level datasets -----------------------------*- C++ -*-===//
//
// A dataset is a file of bytes; each byte is a token (vocabulary 256). A
// training example is a window of T + 1 consecutive bytes: tokens are the
// first T, targets the last T (the next byte at every position).
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_DATA_H
#define STC_RUNTIME_DATA_H

#include "runtime/Status.h"
#include "runtime/support/Random.h"

#include <cstdint>
#include <string>
#include <vector>

namespace stc::rt {

class ByteDataset {
public:
  /// Reads a file; fails if it is shorter than context + 1 bytes.
  static Expected<ByteDataset> load(const std::string &path, int64_t context);
  /// The same from bytes in memory; `name` appears in messages.
  static Expected<ByteDataset> fromBytes(std::string bytes, int64_t context,
                                         std::string name = "<memory>");

  /// Bytes [begin, end) as a dataset of the same context, named `name`;
  /// fails if the slice is shorter than context + 1 bytes.
  Expected<ByteDataset> slice(int64_t begin, int64_t end,
                              std::string name) const;

  const std::string &name() const { return name_; }
  int64_t size() const { return static_cast<int64_t>(bytes_.size()); }
  int64_t context() const { return context_; }
  /// Number of distinct window starts: size - context.
  int64_t numWindows() const { return size() - context_; }

  /// The window starting at `start` (0 <= start < numWindows()):
  /// tokens (T) = bytes[start, start+T), targets (T) = bytes[start+1, ...].
  void window(int64_t start, int32_t *tokens, int32_t *targets) const;

  /// `count` window starts drawn uniformly by rng.below(numWindows()).
  std::vector<int64_t> drawStarts(int64_t count, SplitMix64 &rng) const;

  /// The `count` windows at `starts`, one after another: tokens, targets
  /// (count, T).
  void windows(const int64_t *starts, int64_t count, std::vector<int32_t> &tokens,
               std::vector<int32_t> &targets) const;

private:
  std::string name_;
  std::string bytes_;
  int64_t context_ = 0;
};

} // namespace stc::rt

#endif // STC_RUNTIME_DATA_H
