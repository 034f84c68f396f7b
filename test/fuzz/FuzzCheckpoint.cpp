//===- FuzzCheckpoint.cpp - libFuzzer: the checkpoint reader --------------===//
//
// restoreCheckpoint on any bytes, into an executor of the attention test
// model: a Status or a restored step, never a crash. Each input is tried as
// given and with its trailing checksum made valid, so that mutations reach
// the record parser behind the checksum.
//
//===----------------------------------------------------------------------===//

#include "abi/Hash.h"
#include "runtime/Checkpoint.h"
#include "runtime/Executor.h"
#include "runtime/Init.h"
#include "test/unit/runtime/RuntimeTestUtil.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

using namespace stc::rt;

namespace {

Executor &executor() {
  static std::unique_ptr<Executor> exec = [] {
    LoadOptions options;
    options.checkKernelFiles = false;
    Expected<Artifact> a =
        Artifact::fromJson(test::attentionBuilder().manifest(), "", options);
    Expected<std::unique_ptr<Executor>> e = createExecutor("cpu");
    if (!a || !e ||
        !(*e)->allocate(std::make_shared<const Artifact>(std::move(*a))) ||
        !initParams(**e, 1))
      std::abort();
    return std::move(*e);
  }();
  return *exec;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  if (const char *dir = std::getenv("STC_FUZZ_WRITE_SEEDS")) {
    if (!saveCheckpoint(executor(), std::string(dir) + "/attention.ckpt", 7))
      std::abort();
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string bytes(reinterpret_cast<const char *>(data), size);
  (void)restoreCheckpoint(executor(), bytes, "fuzz");
  if (bytes.size() >= 8) {
    uint64_t sum = stc::abi::fnv1a64(bytes.data(), bytes.size() - 8);
    std::memcpy(&bytes[bytes.size() - 8], &sum, 8);
    (void)restoreCheckpoint(executor(), bytes, "fuzz");
  }
  return 0;
}
