/*===- c_api.h - The stc runtime's C interface --------------------*- C -*-===*\
|*                                                                          *|
|* A stable C surface over the C++ runtime, for bindings (Python ctypes,    *|
|* other languages). Handles are opaque. Every function that can fail       *|
|* returns 0 on success and non-zero on failure; stc_last_error() then      *|
|* describes the failure (per thread, valid until the next failing call on  *|
|* that thread). No function throws or aborts on bad input.                 *|
|*                                                                          *|
\*===----------------------------------------------------------------------===*/

#ifndef STC_RUNTIME_C_API_H
#define STC_RUNTIME_C_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct stc_artifact stc_artifact;
typedef struct stc_executor stc_executor;

/* Entry points, as in the manifest. */
typedef enum stc_entry {
  STC_TRAIN_STEP = 0,
  STC_EVAL_STEP = 1,
  STC_SAMPLE_STEP = 2
} stc_entry;

/* The message of this thread's last failure ("" if none). */
const char *stc_last_error(void);

/* Loads and validates dir/manifest.json. check_kernels != 0 also checks every
 * kernel source's size and hash (turn off only for CPU-only use). */
int stc_load_artifact(const char *dir, int check_kernels, stc_artifact **out);
void stc_free_artifact(stc_artifact *artifact);

/* Model facts: "vocab", "context", "width", "heads", "layers", "batch",
 * "sample_batch", "param_count", "arena_bytes". -1 (and an error) for an
 * unknown key. */
int64_t stc_artifact_info(const stc_artifact *artifact, const char *key);
/* Bytes of a buffer, or -1 (and an error) if there is none by that name. */
int64_t stc_buffer_bytes(const stc_artifact *artifact, const char *buffer);

/* Creates an executor ("cpu", or "cuda" where built) and binds the artifact
 * to it (allocates its memory). The artifact may be freed afterwards. */
int stc_bind(const stc_artifact *artifact, const char *executor,
             stc_executor **out);
void stc_free_executor(stc_executor *exec);

/* Parameter initialization from a seed (identical on every executor). */
int stc_init_params(stc_executor *exec, uint64_t seed);

/* Raw copies in the buffer's dtype (bf16 and f16 as uint16 bits); bytes must equal
 * the buffer's size. */
int stc_upload(stc_executor *exec, const char *buffer, const void *data,
               size_t bytes);
int stc_read_buffer(const stc_executor *exec, const char *buffer, void *out,
                    size_t bytes);

/* Writes the scalars block (learning rate, 1-based optimizer step, dropout
 * seed, sampling position). */
int stc_write_scalars(stc_executor *exec, float learning_rate, int32_t step,
                      uint32_t dropout_seed, int32_t position);

/* Runs one entry point (a stc_entry value) to completion. The parameter is
 * an int so that any value a caller passes is defined and checked. */
int stc_run_step(stc_executor *exec, int entry);

int stc_save_checkpoint(const stc_executor *exec, const char *path,
                        int64_t step);
/* On success *step_out (if non-null) receives the saved step. */
int stc_load_checkpoint(stc_executor *exec, const char *path,
                        int64_t *step_out);

#ifdef __cplusplus
}
#endif

#endif /* STC_RUNTIME_C_API_H */
