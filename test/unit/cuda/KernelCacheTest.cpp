//===- KernelCacheTest.cpp - The on-disk kernel cache (no GPU) ------------===//
//
// Keys, atomic store and read back, damage detection, clear/info, and where
// the cache lives. With the CUDA executor built, NVRTC compiles through the
// cache for sm_90 (NVRTC needs no GPU): a second compile comes from disk.
//
//===----------------------------------------------------------------------===//

#include "runtime/cuda/KernelCache.h"

#ifdef STC_HAVE_CUDA_EXECUTOR
#include "runtime/cuda/Gemm.h"
#include "runtime/cuda/Nvrtc.h"
#endif

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <unistd.h>

namespace stc::rt {
namespace {

namespace fs = std::filesystem;

std::string freshDir(const std::string &tag) {
  static int counter = 0;
  fs::path p = fs::temp_directory_path() /
               ("stc-kcache-" + tag + "-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
  fs::remove_all(p);
  return p.string();
}

std::string readAll(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

void writeAll(const std::string &path, const std::string &data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

/// Sets an environment variable for one scope and restores it after.
class ScopedEnv {
public:
  ScopedEnv(const char *name, const char *value) : name_(name) {
    if (const char *old = std::getenv(name))
      old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

private:
  const char *name_;
  std::optional<std::string> old_;
};

const std::vector<std::string> kOpts = {"--std=c++17", "-lineinfo"};

TEST(KernelCacheKey, DiffersByEveryPart) {
  uint64_t base = kernelCacheKey("src", kOpts, "13.0", "sm_90");
  EXPECT_EQ(base, kernelCacheKey("src", kOpts, "13.0", "sm_90"));
  EXPECT_NE(base, kernelCacheKey("src2", kOpts, "13.0", "sm_90"));
  EXPECT_NE(base, kernelCacheKey("src", {"--std=c++17"}, "13.0", "sm_90"));
  EXPECT_NE(base, kernelCacheKey("src", {"-lineinfo", "--std=c++17"}, "13.0",
                                 "sm_90"));
  EXPECT_NE(base, kernelCacheKey("src", kOpts, "13.1", "sm_90"));
  EXPECT_NE(base, kernelCacheKey("src", kOpts, "13.0", "sm_80"));
  // Field boundaries matter: moving bytes between fields changes the key.
  EXPECT_NE(kernelCacheKey("ab", {"c"}, "v", "a"),
            kernelCacheKey("a", {"bc"}, "v", "a"));
  EXPECT_NE(kernelCacheKey("s", {"a", "b"}, "v", "x"),
            kernelCacheKey("s", {"ab"}, "v", "x"));
}

TEST(KernelCache, StoreAndReadBack) {
  KernelCache cache(freshDir("rw") + "/kernels"); // created on first store
  uint64_t key = kernelCacheKey("kernel source", kOpts, "13.0", "sm_90");
  EXPECT_FALSE(cache.lookup(key).has_value());
  std::string payload("\x7f" "ELF binary\0with zeros", 22);
  ASSERT_TRUE(cache.store(key, payload).isOk());
  bool damaged = true;
  auto got = cache.lookup(key, &damaged);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, payload);
  EXPECT_FALSE(damaged);
  // Overwrite in place (a recompile) and read the new bytes.
  ASSERT_TRUE(cache.store(key, "second").isOk());
  EXPECT_EQ(*cache.lookup(key), "second");
  // Nothing but the entry is left behind (the temporary file was renamed).
  int files = 0;
  for (const auto &e : fs::directory_iterator(cache.dir())) {
    ++files;
    EXPECT_EQ(e.path().string(), cache.entryPath(key));
  }
  EXPECT_EQ(files, 1);
  // Empty payloads are fine too.
  uint64_t k2 = key + 1;
  ASSERT_TRUE(cache.store(k2, "").isOk());
  ASSERT_TRUE(cache.lookup(k2).has_value());
  EXPECT_EQ(*cache.lookup(k2), "");
}

TEST(KernelCache, DetectsDamage) {
  KernelCache cache(freshDir("damage"));
  uint64_t key = kernelCacheKey("x", kOpts, "13.0", "sm_90");
  const std::string payload(1000, 'p');
  const std::string path = cache.entryPath(key);

  auto expectDamaged = [&](const std::string &bytes, const char *what) {
    ASSERT_TRUE(cache.store(key, payload).isOk());
    writeAll(path, bytes);
    bool damaged = false;
    EXPECT_FALSE(cache.lookup(key, &damaged).has_value()) << what;
    EXPECT_TRUE(damaged) << what;
    EXPECT_FALSE(fs::exists(path)) << what << ": damaged entry not removed";
    // The caller recompiles and stores again: a good entry once more.
    ASSERT_TRUE(cache.store(key, payload).isOk());
    EXPECT_EQ(*cache.lookup(key), payload) << what;
  };

  ASSERT_TRUE(cache.store(key, payload).isOk());
  const std::string good = readAll(path);
  ASSERT_EQ(good.size(), 40 + payload.size());

  std::string flipped = good;
  flipped[40 + 500] ^= 1;
  expectDamaged(flipped, "a flipped payload bit");
  expectDamaged(good.substr(0, good.size() - 1), "a truncated payload");
  expectDamaged(good.substr(0, 20), "a truncated header");
  expectDamaged("", "an empty file");
  std::string badMagic = good;
  badMagic[0] = 'X';
  expectDamaged(badMagic, "a wrong magic");
  expectDamaged(good + "extra", "trailing bytes");
  // An intact entry stored under another key's file name.
  uint64_t other = key ^ 0x5555;
  ASSERT_TRUE(cache.store(other, payload).isOk());
  std::string foreign = readAll(cache.entryPath(other));
  expectDamaged(foreign, "another key's entry");
}

TEST(KernelCache, InfoAndClear) {
  const std::string dir = freshDir("clear");
  auto info = kernelCacheInfo(dir);
  ASSERT_TRUE(info.hasValue()) << info.status().message();
  EXPECT_FALSE(info->exists);
  EXPECT_EQ(info->entries, 0);
  auto none = clearKernelCache(dir);
  ASSERT_TRUE(none.hasValue());
  EXPECT_EQ(*none, 0);

  KernelCache cache(dir);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(cache.store(kernelCacheKey(std::to_string(i), kOpts, "13.0",
                                           "sm_90"),
                            std::string(100 * (i + 1), 'c'))
                    .isOk());
  writeAll(dir + "/.tmp-leftover", "half a write");
  writeAll(dir + "/README", "not ours"); // clear leaves other files alone

  info = kernelCacheInfo(dir);
  ASSERT_TRUE(info.hasValue());
  EXPECT_TRUE(info->exists);
  EXPECT_EQ(info->path, dir);
  EXPECT_EQ(info->entries, 3);
  EXPECT_EQ(info->bytes, 3 * 40 + 100 + 200 + 300);
  EXPECT_EQ(info->temporaries, 1);

  auto removed = clearKernelCache(dir);
  ASSERT_TRUE(removed.hasValue()) << removed.status().message();
  EXPECT_EQ(*removed, 4);
  info = kernelCacheInfo(dir);
  EXPECT_EQ(info->entries, 0);
  EXPECT_EQ(info->temporaries, 0);
  EXPECT_TRUE(fs::exists(dir + "/README"));
}

TEST(KernelCache, Location) {
  {
    ScopedEnv a("STC_CACHE_DIR", "/somewhere/stc-cache");
    ScopedEnv b("XDG_CACHE_HOME", "/xdg");
    EXPECT_EQ(cacheRoot(), "/somewhere/stc-cache");
    EXPECT_EQ(kernelCacheDir(), "/somewhere/stc-cache/kernels");
  }
  {
    ScopedEnv a("STC_CACHE_DIR", nullptr);
    ScopedEnv b("XDG_CACHE_HOME", "/xdg");
    EXPECT_EQ(kernelCacheDir(), "/xdg/stc/kernels");
  }
  {
    ScopedEnv a("STC_CACHE_DIR", "");
    ScopedEnv b("XDG_CACHE_HOME", "");
    ScopedEnv c("HOME", "/home/someone");
    EXPECT_EQ(kernelCacheDir(), "/home/someone/.cache/stc/kernels");
  }
  {
    ScopedEnv a("STC_KERNEL_CACHE", "off");
    EXPECT_FALSE(kernelCacheEnabled());
  }
  {
    ScopedEnv a("STC_KERNEL_CACHE", nullptr);
    EXPECT_TRUE(kernelCacheEnabled());
  }
  // The functions without arguments use the environment's directory.
  const std::string dir = freshDir("env");
  ScopedEnv a("STC_CACHE_DIR", dir.c_str());
  KernelCache(kernelCacheDir()).store(42, "payload").isOk();
  auto info = kernelCacheInfo();
  ASSERT_TRUE(info.hasValue());
  EXPECT_EQ(info->path, dir + "/kernels");
  EXPECT_EQ(info->entries, 1);
  auto removed = clearKernelCache();
  ASSERT_TRUE(removed.hasValue());
  EXPECT_EQ(*removed, 1);
}

#ifdef STC_HAVE_CUDA_EXECUTOR

TEST(KernelCacheNvrtc, CompilesThroughTheCache) {
  const std::string dir = freshDir("nvrtc");
  ScopedEnv a("STC_CACHE_DIR", dir.c_str());
  ScopedEnv b("STC_KERNEL_CACHE", nullptr);
  std::vector<cuda::CompileRequest> reqs = {
      {cuda::GemmEngine::kHelperName, cuda::GemmEngine::helperSource()},
      {"tiny", "extern \"C\" __global__ void tiny(float *p) { p[0] = 1.f; }\n"},
      // Generated bf16 kernels include the toolkit's header: the include
      // path must reach NVRTC.
      {"bf16", "#include <cuda_bf16.h>\n"
               "extern \"C\" __global__ void bf16(__nv_bfloat16 *p) {\n"
               "  p[0] = __float2bfloat16_rn(1.f);\n}\n"}};
  cuda::CompileStats stats;
  auto first = cuda::compileKernels(reqs, 90, &stats, /*progress=*/false);
  ASSERT_TRUE(first.hasValue()) << first.status().message();
  EXPECT_EQ(stats.total, 3);
  EXPECT_EQ(stats.compiled, 3);
  EXPECT_EQ(stats.fromCache, 0);
  ASSERT_EQ(first->size(), 3u);
  EXPECT_EQ((*first)[0].substr(0, 4), std::string("\x7f" "ELF"));

  auto second = cuda::compileKernels(reqs, 90, &stats, false);
  ASSERT_TRUE(second.hasValue());
  EXPECT_EQ(stats.fromCache, 3);
  EXPECT_EQ(stats.compiled, 0);
  EXPECT_EQ(*first, *second);

  // Another architecture is another key.
  auto other = cuda::compileKernels(reqs, 80, &stats, false);
  ASSERT_TRUE(other.hasValue());
  EXPECT_EQ(stats.compiled, 3);

  // A damaged entry is recompiled.
  auto info = kernelCacheInfo();
  ASSERT_EQ(info->entries, 6);
  for (const auto &e : fs::directory_iterator(dir + "/kernels")) {
    writeAll(e.path().string(), "garbage");
    break;
  }
  auto again = cuda::compileKernels(reqs, 90, &stats, false);
  ASSERT_TRUE(again.hasValue());
  EXPECT_EQ(stats.damaged + stats.fromCache, 3);
  EXPECT_EQ(stats.compiled, stats.damaged);
  EXPECT_EQ(*again, *first);
}

TEST(KernelCacheNvrtc, CompileErrorsNameTheKernelAndShowTheLog) {
  const std::string dir = freshDir("nvrtc-bad");
  ScopedEnv a("STC_CACHE_DIR", dir.c_str());
  std::vector<cuda::CompileRequest> reqs = {
      {"broken_kernel_1", "extern \"C\" __global__ void broken_kernel_1() { "
                          "undeclared_thing = 1; }\n"}};
  auto r = cuda::compileKernels(reqs, 90, nullptr, false);
  ASSERT_FALSE(r.hasValue());
  const std::string &m = r.status().message();
  EXPECT_NE(m.find("broken_kernel_1"), std::string::npos) << m;
  EXPECT_NE(m.find("undeclared_thing"), std::string::npos) << m;
  EXPECT_NE(m.find("sm_90"), std::string::npos) << m;
}

#endif

} // namespace
} // namespace stc::rt
