//===- c_api.cpp - The stc runtime's C interface --------------------------===//

#include "runtime/c_api.h"

#include "runtime/Artifact.h"
#include "runtime/Checkpoint.h"
#include "runtime/Executor.h"
#include "runtime/Init.h"

#include <memory>
#include <new>
#include <string>

struct stc_artifact {
  std::shared_ptr<const stc::rt::Artifact> artifact;
};
struct stc_executor {
  std::unique_ptr<stc::rt::Executor> exec;
};

namespace {

thread_local std::string lastError;

int fail(const std::string &msg) {
  lastError = msg;
  return 1;
}

int check(const stc::rt::Status &s) { return s.isOk() ? 0 : fail(s.message()); }

} // namespace

extern "C" {

const char *stc_last_error(void) { return lastError.c_str(); }

int stc_load_artifact(const char *dir, int check_kernels, stc_artifact **out) {
  if (!dir || !out)
    return fail("stc_load_artifact: null argument");
  *out = nullptr;
  stc::rt::LoadOptions opts;
  opts.checkKernelFiles = check_kernels != 0;
  auto a = stc::rt::Artifact::load(dir, opts);
  if (!a)
    return fail(a.status().message());
  auto *h = new (std::nothrow) stc_artifact;
  if (!h)
    return fail("stc_load_artifact: out of memory");
  h->artifact = std::make_shared<const stc::rt::Artifact>(std::move(*a));
  *out = h;
  return 0;
}

void stc_free_artifact(stc_artifact *artifact) { delete artifact; }

int64_t stc_artifact_info(const stc_artifact *artifact, const char *key) {
  if (!artifact || !key) {
    fail("stc_artifact_info: null argument");
    return -1;
  }
  const stc::rt::Artifact &a = *artifact->artifact;
  std::string k = key;
  if (k == "vocab")
    return a.model.vocab;
  if (k == "context")
    return a.model.context;
  if (k == "width")
    return a.model.width;
  if (k == "heads")
    return a.model.heads;
  if (k == "layers")
    return a.model.layers;
  if (k == "batch")
    return a.model.batch;
  if (k == "sample_batch")
    return a.model.sampleBatch;
  if (k == "param_count")
    return a.model.paramCount;
  if (k == "arena_bytes")
    return a.arenaBytes;
  fail("stc_artifact_info: unknown key '" + k +
       "' (valid: vocab, context, width, heads, layers, batch, sample_batch, "
       "param_count, arena_bytes)");
  return -1;
}

int64_t stc_buffer_bytes(const stc_artifact *artifact, const char *buffer) {
  if (!artifact || !buffer) {
    fail("stc_buffer_bytes: null argument");
    return -1;
  }
  int i = artifact->artifact->findBuffer(buffer);
  if (i < 0) {
    fail(std::string("no buffer named '") + buffer + "' in the artifact");
    return -1;
  }
  return artifact->artifact->buffers[i].bytes;
}

int stc_bind(const stc_artifact *artifact, const char *executor,
             stc_executor **out) {
  if (!artifact || !executor || !out)
    return fail("stc_bind: null argument");
  *out = nullptr;
  auto e = stc::rt::createExecutor(executor);
  if (!e)
    return fail(e.status().message());
  if (int rc = check((*e)->allocate(artifact->artifact)))
    return rc;
  auto *h = new (std::nothrow) stc_executor;
  if (!h)
    return fail("stc_bind: out of memory");
  h->exec = std::move(*e);
  *out = h;
  return 0;
}

void stc_free_executor(stc_executor *exec) { delete exec; }

int stc_init_params(stc_executor *exec, uint64_t seed) {
  if (!exec)
    return fail("stc_init_params: null executor");
  return check(stc::rt::initParams(*exec->exec, seed));
}

int stc_upload(stc_executor *exec, const char *buffer, const void *data,
               size_t bytes) {
  if (!exec || !buffer)
    return fail("stc_upload: null argument");
  return check(exec->exec->upload(buffer, data, bytes));
}

int stc_read_buffer(const stc_executor *exec, const char *buffer, void *out,
                    size_t bytes) {
  if (!exec || !buffer)
    return fail("stc_read_buffer: null argument");
  return check(exec->exec->download(buffer, out, bytes));
}

int stc_write_scalars(stc_executor *exec, float learning_rate, int32_t step,
                      uint32_t dropout_seed, int32_t position) {
  if (!exec)
    return fail("stc_write_scalars: null executor");
  stc::rt::Scalars s;
  s.learningRate = learning_rate;
  s.step = step;
  s.dropoutSeed = dropout_seed;
  s.position = position;
  return check(exec->exec->writeScalars(s));
}

int stc_run_step(stc_executor *exec, int entry) {
  if (!exec)
    return fail("stc_run_step: null executor");
  int e = entry;
  if (e < 0 || e >= stc::rt::kNumEntryKinds)
    return fail("stc_run_step: entry " + std::to_string(e) +
                " is not one of STC_TRAIN_STEP (0), STC_EVAL_STEP (1), "
                "STC_SAMPLE_STEP (2)");
  return check(exec->exec->run(static_cast<stc::rt::EntryKind>(e)));
}

int stc_save_checkpoint(const stc_executor *exec, const char *path,
                        int64_t step) {
  if (!exec || !path)
    return fail("stc_save_checkpoint: null argument");
  return check(stc::rt::saveCheckpoint(*exec->exec, path, step));
}

int stc_load_checkpoint(stc_executor *exec, const char *path,
                        int64_t *step_out) {
  if (!exec || !path)
    return fail("stc_load_checkpoint: null argument");
  auto s = stc::rt::loadCheckpoint(*exec->exec, path);
  if (!s)
    return fail(s.status().message());
  if (step_out)
    *step_out = *s;
  return 0;
}

} // extern "C"
