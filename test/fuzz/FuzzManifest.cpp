//===- FuzzManifest.cpp - libFuzzer: JSON reader + artifact validator -----===//
//
// Any bytes given to Artifact::load's parser and validator must end in an
// Artifact or a Status, within the limits of abi/Limits.h: no crash, no
// sanitizer report, no unbounded work. A manifest that validates must also
// survive being written back and read again unchanged.
//
//===----------------------------------------------------------------------===//

#include "runtime/Artifact.h"
#include "runtime/support/Json.h"
#include "test/unit/runtime/RuntimeTestUtil.h"

#include <cstdint>
#include <cstdlib>
#include <string>

using namespace stc::rt;

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  // STC_FUZZ_WRITE_SEEDS=DIR writes this target's seed inputs and exits.
  if (const char *dir = std::getenv("STC_FUZZ_WRITE_SEEDS")) {
    test::writeFile(std::string(dir) + "/bigram.json",
                    json::write(test::bigramBuilder().manifest(), 2));
    test::writeFile(std::string(dir) + "/bigram-bf16.json",
                    json::write(test::bigramBuilder("bf16").manifest(), 2));
    test::writeFile(std::string(dir) + "/attention.json",
                    json::write(test::attentionBuilder().manifest(), 2));
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  Expected<json::Value> root = json::parse(text);
  if (!root)
    return 0;
  LoadOptions options;
  options.checkKernelFiles = false; // no kernels/ directory here
  Expected<Artifact> artifact = Artifact::fromJson(*root, "", options);
  if (!artifact)
    return 0;
  // Written back, the same text parses to the same value.
  std::string again = json::write(*root, 2);
  Expected<json::Value> reparsed = json::parse(again);
  if (!reparsed || json::write(*reparsed, 2) != again)
    __builtin_trap();
  return 0;
}
