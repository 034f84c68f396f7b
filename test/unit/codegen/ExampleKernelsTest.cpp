//===- ExampleKernelsTest.cpp - Every example's kernels compile -----------===//
//
// Each example model is compiled into an artifact at build time
// (test/CMakeLists.txt); here every kernel source of every such artifact goes
// through NVRTC for sm_90a, as the CUDA executor would compile it.
//
//===----------------------------------------------------------------------===//

#include "NvrtcCompile.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace stc::codegen;
using namespace stc::codegen::test;

namespace {

std::string artifactRoot() {
#ifdef STC_TEST_ARTIFACT_DIR
  return STC_TEST_ARTIFACT_DIR;
#else
  return "";
#endif
}

class ExampleKernels : public ::testing::TestWithParam<const char *> {};

TEST_P(ExampleKernels, CompileWithNvrtcForSm90) {
  if (!haveNvrtc())
    GTEST_SKIP() << "built without the CUDA toolkit: NVRTC is not available";
  fs::path dir = fs::path(artifactRoot()) / GetParam() / "kernels";
  if (artifactRoot().empty() || !fs::is_directory(dir))
    GTEST_SKIP() << "no compiled artifact at " << dir
                 << " (built without the compiler?)";
  int compiled = 0;
  for (const fs::directory_entry &entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".cu")
      continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    KernelSource ks;
    ks.entry = entry.path().stem().string();
    ks.source = text.str();
    NvrtcResult r = compileWithNvrtc(ks);
    EXPECT_TRUE(r.ok) << GetParam() << ": kernel " << ks.entry
                      << " failed to compile:\n" << r.log;
    ++compiled;
  }
  EXPECT_GT(compiled, 10) << "too few kernels in " << dir;
  std::printf("%s: %d kernels compiled for sm_90a\n", GetParam(), compiled);
}

INSTANTIATE_TEST_SUITE_P(AllExamples, ExampleKernels,
                         ::testing::Values("tiny", "enwik8-fixed",
                                           "images-strided", "audio-strided",
                                           "new-pattern", "score-mods",
                                           "score-mods-bf16",
                                           "score-mods-f16", "tiny-f16",
                                           "score-mods-unfused",
                                           "score-mods-bf16-unfused"),
                         [](const auto &info) {
                           std::string name = info.param;
                           for (char &c : name)
                             if (c == '-')
                               c = '_';
                           return name;
                         });

} // namespace
