//===- KernelCache.cpp - Compiled kernels on disk -------------------------===//

#include "runtime/cuda/KernelCache.h"

#include "abi/Hash.h"
#include "runtime/support/Files.h"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <system_error>
#include <thread>

#include <unistd.h>

namespace stc::rt {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'S', 'T', 'C', 'K', 'C', 'A', 'C', 'H'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderBytes = 40;
constexpr const char *kSuffix = ".cubin";
constexpr const char *kTempPrefix = ".tmp-";

void putU32(std::string &s, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void putU64(std::string &s, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t getU64(const char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint32_t getU32(const char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

uint64_t hashField(uint64_t h, std::string_view field) {
  uint64_t n = field.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i)
    len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
  h = abi::fnv1a64(len, sizeof len, h);
  return abi::fnv1a64(field, h);
}

const char *envOrNull(const char *name) {
  const char *v = std::getenv(name);
  return v && *v ? v : nullptr;
}

/// "0123456789abcdef.cubin" -> true.
bool isEntryName(const std::string &name) {
  if (name.size() != 16 + std::strlen(kSuffix))
    return false;
  if (name.compare(16, std::string::npos, kSuffix) != 0)
    return false;
  return abi::parseHex64(std::string_view(name).substr(0, 16)).has_value();
}

bool isTempName(const std::string &name) {
  return name.rfind(kTempPrefix, 0) == 0;
}

} // namespace

uint64_t kernelCacheKey(std::string_view source,
                        const std::vector<std::string> &options,
                        std::string_view compilerVersion,
                        std::string_view arch) {
  uint64_t h = abi::fnv1a64(std::string_view("stc-kernel-cache-key-v1"));
  h = hashField(h, source);
  h = hashField(h, std::to_string(options.size()));
  for (const auto &o : options)
    h = hashField(h, o);
  h = hashField(h, compilerVersion);
  h = hashField(h, arch);
  return h;
}

std::string cacheRoot() {
  if (const char *d = envOrNull("STC_CACHE_DIR"))
    return d;
  if (const char *x = envOrNull("XDG_CACHE_HOME"))
    return std::string(x) + "/stc";
  if (const char *home = envOrNull("HOME"))
    return std::string(home) + "/.cache/stc";
  return ".stc-cache";
}

std::string kernelCacheDir() { return cacheRoot() + "/kernels"; }

bool kernelCacheEnabled() {
  const char *v = envOrNull("STC_KERNEL_CACHE");
  if (!v)
    return true;
  std::string s = v;
  return !(s == "off" || s == "0" || s == "OFF" || s == "false");
}

std::string KernelCache::entryPath(uint64_t key) const {
  return dir_ + "/" + abi::hex64(key) + kSuffix;
}

std::optional<std::string> KernelCache::lookup(uint64_t key,
                                               bool *damaged) const {
  if (damaged)
    *damaged = false;
  const std::string path = entryPath(key);
  Expected<std::string> read = readFile(path, "cached kernel");
  if (!read)
    return std::nullopt; // absent or unreadable: compiled again
  const std::string &bytes = *read;
  bool ok = bytes.size() >= kHeaderBytes &&
            std::memcmp(bytes.data(), kMagic, 8) == 0 &&
            getU32(bytes.data() + 8) == kFormatVersion &&
            getU64(bytes.data() + 16) == key &&
            getU64(bytes.data() + 24) == bytes.size() - kHeaderBytes &&
            getU64(bytes.data() + 32) ==
                abi::fnv1a64(bytes.data() + kHeaderBytes,
                        bytes.size() - kHeaderBytes);
  if (!ok) {
    if (damaged)
      *damaged = true;
    std::error_code ec;
    fs::remove(path, ec); // best effort: the next store replaces it anyway
    return std::nullopt;
  }
  return bytes.substr(kHeaderBytes);
}

Status KernelCache::store(uint64_t key, std::string_view payload) const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec)
    return Status::error("kernel cache: cannot create directory '" + dir_ +
                         "': " + ec.message());
  std::string header(kMagic, 8);
  putU32(header, kFormatVersion);
  putU32(header, 0);
  putU64(header, key);
  putU64(header, payload.size());
  putU64(header, abi::fnv1a64(payload.data(), payload.size()));

  // Unique per process, thread and call: concurrent writers never share a
  // temporary file.
  static std::atomic<uint64_t> counter{0};
  uint64_t unique = abi::fnv1a64(std::to_string(::getpid()) + ":" +
                            std::to_string(std::hash<std::thread::id>()(
                                std::this_thread::get_id())) +
                            ":" + std::to_string(counter++));
  const std::string tmp =
      dir_ + "/" + kTempPrefix + abi::hex64(key) + "-" + abi::hex64(unique);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return Status::error("kernel cache: cannot write '" + tmp +
                           "': " + std::strerror(errno));
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(payload.data(), static_cast<std::streamsize>(payload.size()));
    out.flush();
    if (!out) {
      out.close();
      fs::remove(tmp, ec);
      return Status::error("kernel cache: writing '" + tmp + "' failed");
    }
  }
  fs::rename(tmp, entryPath(key), ec);
  if (ec) {
    std::error_code ec2;
    fs::remove(tmp, ec2);
    return Status::error("kernel cache: cannot rename '" + tmp + "' to '" +
                         entryPath(key) + "': " + ec.message());
  }
  return Status::ok();
}

Expected<KernelCacheInfo> kernelCacheInfo(const std::string &dir) {
  KernelCacheInfo info;
  info.path = dir;
  std::error_code ec;
  if (!fs::exists(dir, ec))
    return info;
  if (!fs::is_directory(dir, ec))
    return Status::error("kernel cache: '" + dir + "' is not a directory");
  info.exists = true;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!it->is_regular_file(ec))
      continue;
    if (isEntryName(name)) {
      ++info.entries;
      info.bytes += static_cast<int64_t>(it->file_size(ec));
    } else if (isTempName(name)) {
      ++info.temporaries;
    }
  }
  if (ec)
    return Status::error("kernel cache: cannot list '" + dir +
                         "': " + ec.message());
  return info;
}

Expected<int64_t> clearKernelCache(const std::string &dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec))
    return int64_t(0);
  if (!fs::is_directory(dir, ec))
    return Status::error("kernel cache: '" + dir + "' is not a directory");
  std::vector<fs::path> victims;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (isEntryName(name) || isTempName(name))
      victims.push_back(it->path());
  }
  if (ec)
    return Status::error("kernel cache: cannot list '" + dir +
                         "': " + ec.message());
  int64_t removed = 0;
  for (const auto &p : victims) {
    if (fs::remove(p, ec))
      ++removed;
    else if (ec)
      return Status::error("kernel cache: cannot remove '" + p.string() +
                           "': " + ec.message());
  }
  return removed;
}

} // namespace stc::rt
