//===- Files.h - Reading and writing files without surprises ----*- C++ -*-===//
//
// Every file stc reads or writes goes through here. Reading checks what the
// path is before touching it (a directory, a missing file or one too large
// is a message, never an exception), and reads with plain POSIX calls.
// Outputs are checked before the work that produces them, and written to a
// temporary sibling, flushed to disk and renamed over the target, so a
// killed process never leaves a half-written file under the target's name.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_SUPPORT_FILES_H
#define STC_RUNTIME_SUPPORT_FILES_H

#include "runtime/Status.h"

#include <cstdint>
#include <string>

namespace stc::rt {

/// Input files larger than this are refused (data, prompts, manifests,
/// checkpoints are read whole).
constexpr int64_t kMaxInputFileBytes = int64_t(1) << 36;

/// The whole regular file at `path`; `what` names it in messages ("data
/// file", "checkpoint"). Refuses directories, missing files and files over
/// `maxBytes`.
Expected<std::string> readFile(const std::string &path,
                               const std::string &what = "file",
                               int64_t maxBytes = kMaxInputFileBytes);

/// The checks readFile makes, without reading: for inputs used late (after
/// a compile), so that a wrong path is reported before the slow work.
Status checkInputFile(const std::string &path, const std::string &what = "file",
                      int64_t maxBytes = kMaxInputFileBytes);

/// Whether `path` can be created or replaced as a file: not empty, not a
/// directory, its directory exists and is writable (or it is a writable
/// device or pipe, such as /dev/stdout). Checked before the work
/// whose result goes there; `flag` names the option ("--save").
Status checkOutputFile(const std::string &path, const std::string &flag);

/// The same for a directory that will be created or replaced (`stc compile
/// -o`): not empty, not "/", not an existing file, its parent writable.
Status checkOutputDirectory(const std::string &path, const std::string &flag);

/// Writes `data` to `path` atomically: a temporary sibling, fsync, rename,
/// fsync of the directory (a device or a pipe is written in place). On failure the target is untouched and the
/// temporary file removed.
Status writeFileAtomic(const std::string &path, const std::string &data);

/// Replaces directory `target` by the complete directory `staged` (a sibling
/// written beforehand): files and directories fsynced, then renamed into
/// place; an old `target` is moved aside first and removed after, so no
/// file of it survives.
Status replaceDirectory(const std::string &staged, const std::string &target);

/// A fresh sibling path for temporary output: "<path>.tmp.<pid>.<n>",
/// unique per process and call.
std::string temporarySibling(const std::string &path);

/// Removes a file or a directory tree; errors are ignored (cleanup).
void removeTree(const std::string &path);

} // namespace stc::rt

#endif // STC_RUNTIME_SUPPORT_FILES_H
