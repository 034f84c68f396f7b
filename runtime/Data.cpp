//===- Data.cpp - Byte-level datasets -------------------------------------===//

#include "runtime/Data.h"

#include "runtime/Artifact.h"

#include <algorithm>

namespace stc::rt {

Expected<ByteDataset> ByteDataset::fromBytes(std::string bytes, int64_t context,
                                             std::string name) {
  if (context < 1)
    return Status::error("dataset '" + name + "': context is " +
                         std::to_string(context) + "; it must be >= 1");
  if (static_cast<int64_t>(bytes.size()) < context + 1)
    return Status::error("dataset '" + name + "' has " +
                         std::to_string(bytes.size()) +
                         " bytes; a window needs at least context + 1 = " +
                         std::to_string(context + 1));
  ByteDataset d;
  d.name_ = std::move(name);
  d.bytes_ = std::move(bytes);
  d.context_ = context;
  return d;
}

Expected<ByteDataset> ByteDataset::load(const std::string &path,
                                        int64_t context) {
  auto data = readFile(path, "data file");
  if (!data)
    return data.status();
  return fromBytes(std::move(*data), context, path);
}

Expected<ByteDataset> ByteDataset::slice(int64_t begin, int64_t end,
                                         std::string name) const {
  begin = std::clamp<int64_t>(begin, 0, size());
  end = std::clamp<int64_t>(end, begin, size());
  return fromBytes(bytes_.substr(static_cast<size_t>(begin),
                                 static_cast<size_t>(end - begin)),
                   context_, std::move(name));
}

void ByteDataset::window(int64_t start, int32_t *tokens,
                         int32_t *targets) const {
  const unsigned char *p =
      reinterpret_cast<const unsigned char *>(bytes_.data()) + start;
  for (int64_t t = 0; t < context_; ++t) {
    tokens[t] = p[t];
    targets[t] = p[t + 1];
  }
}

std::vector<int64_t> ByteDataset::drawStarts(int64_t count,
                                             SplitMix64 &rng) const {
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < count; ++i)
    starts.push_back(
        static_cast<int64_t>(rng.below(static_cast<uint64_t>(numWindows()))));
  return starts;
}

void ByteDataset::windows(const int64_t *starts, int64_t count,
                          std::vector<int32_t> &tokens,
                          std::vector<int32_t> &targets) const {
  tokens.resize(static_cast<size_t>(count * context_));
  targets.resize(tokens.size());
  for (int64_t b = 0; b < count; ++b)
    window(starts[b], tokens.data() + b * context_, targets.data() + b * context_);
}

} // namespace stc::rt
