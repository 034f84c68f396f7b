//===- Files.cpp - Reading and writing files without surprises ------------===//

#include "runtime/support/Files.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace stc::rt {

namespace {

std::string why() { return std::strerror(errno); }

/// The directory holding `path` ("." for a bare name).
std::string parentOf(const std::string &path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/')
    p.pop_back();
  size_t slash = p.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : p.substr(0, slash);
}

Status checkParent(const std::string &path, const std::string &flag) {
  std::string dir = parentOf(path);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0)
    return Status::error(flag + " '" + path + "': directory '" + dir +
                         "' does not exist (create it first)");
  if (!S_ISDIR(st.st_mode))
    return Status::error(flag + " '" + path + "': '" + dir +
                         "' is not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return Status::error(flag + " '" + path + "': directory '" + dir +
                         "' is not writable (" + why() + ")");
  return Status::ok();
}

Status syncPath(const std::string &path, bool directory) {
  int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0)
    return Status::error("cannot open '" + path + "' to sync it: " + why());
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) // some file systems cannot sync directories
    return Status::error("cannot sync '" + path + "': " + std::strerror(err));
  return Status::ok();
}

/// fsync of every file and directory below (and including) `path`.
Status syncTree(const std::string &path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0)
    return Status::error("cannot stat '" + path + "': " + why());
  if (S_ISDIR(st.st_mode)) {
    DIR *d = ::opendir(path.c_str());
    if (!d)
      return Status::error("cannot list '" + path + "': " + why());
    Status s;
    while (struct dirent *e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..")
        continue;
      s = syncTree(path + "/" + name);
      if (!s)
        break;
    }
    ::closedir(d);
    STC_RETURN_IF_ERROR(s);
    return syncPath(path, true);
  }
  return S_ISREG(st.st_mode) ? syncPath(path, false) : Status::ok();
}

} // namespace

Status checkInputFile(const std::string &path, const std::string &what,
                      int64_t maxBytes) {
  if (path.empty())
    return Status::error(what + ": the path is empty");
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return Status::error("cannot open " + what + " '" + path + "': " + why());
  if (S_ISDIR(st.st_mode))
    return Status::error(what + " '" + path +
                         "' is a directory; expected a file");
  if (!S_ISREG(st.st_mode))
    return Status::error(what + " '" + path + "' is not a regular file");
  if (st.st_size > maxBytes)
    return Status::error(what + " '" + path + "' has " +
                         std::to_string(st.st_size) + " bytes; stc reads at "
                         "most " + std::to_string(maxBytes));
  if (::access(path.c_str(), R_OK) != 0)
    return Status::error("cannot open " + what + " '" + path + "': " + why());
  return Status::ok();
}

Expected<std::string> readFile(const std::string &path, const std::string &what,
                               int64_t maxBytes) {
  STC_RETURN_IF_ERROR(checkInputFile(path, what, maxBytes));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return Status::error("cannot open " + what + " '" + path + "': " + why());
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0)
    return Status::error("cannot open " + what + " '" + path + "': " + why());
  std::string data;
  data.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (true) {
    if (got == data.size())
      data.resize(data.size() + 65536); // the file grew since stat
    ssize_t n = ::read(fd, &data[got], data.size() - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      std::string e = why();
      ::close(fd);
      return Status::error("error reading " + what + " '" + path + "': " + e);
    }
    if (n == 0)
      break;
    got += static_cast<size_t>(n);
    if (static_cast<int64_t>(got) > maxBytes) {
      ::close(fd);
      return Status::error(what + " '" + path + "' grew past " +
                           std::to_string(maxBytes) + " bytes while read");
    }
  }
  ::close(fd);
  data.resize(got);
  return data;
}

Status checkOutputFile(const std::string &path, const std::string &flag) {
  if (path.empty())
    return Status::error(flag + ": the path is empty");
  if (path.back() == '/')
    return Status::error(flag + " '" + path + "' names a directory; expected a "
                         "file path");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode))
      return Status::error(flag + " '" + path +
                           "' is a directory; expected a file path");
    if (!S_ISREG(st.st_mode)) // a device or a pipe: written in place
      return ::access(path.c_str(), W_OK) == 0
                 ? Status::ok()
                 : Status::error(flag + " '" + path + "' is not writable (" +
                                 why() + ")");
  }
  return checkParent(path, flag);
}

Status checkOutputDirectory(const std::string &path, const std::string &flag) {
  if (path.empty())
    return Status::error(flag + ": the path is empty");
  std::string p = path;
  while (p.size() > 1 && p.back() == '/')
    p.pop_back();
  if (p == "/" || p == "." || p == "..")
    return Status::error(flag + " '" + path + "': stc writes the artifact as a "
                         "directory of its own; name a new or an artifact "
                         "directory, not '" + p + "'");
  struct stat st;
  if (::stat(p.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return Status::error(flag + " '" + path +
                           "' exists and is not a directory");
    // Replacing a directory that is not an artifact would delete its files.
    struct stat m;
    DIR *d = ::opendir(p.c_str());
    bool empty = true;
    if (d) {
      while (struct dirent *e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
          empty = false;
      ::closedir(d);
    }
    if (!empty && ::stat((p + "/manifest.json").c_str(), &m) != 0)
      return Status::error(flag + " '" + path +
                           "' is a directory that is not an stc artifact (no "
                           "manifest.json); stc replaces only artifacts");
  }
  return checkParent(p, flag);
}

std::string temporarySibling(const std::string &path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/')
    p.pop_back();
  static std::atomic<uint64_t> calls{0};
  return p + ".tmp." + std::to_string(::getpid()) + "." +
         std::to_string(calls++);
}

/// write(2) of all of `data`, retried on EINTR and short writes.
static bool writeAll(int fd, const std::string &data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

Status writeFileAtomic(const std::string &path, const std::string &data) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) &&
      !S_ISDIR(st.st_mode)) {
    // A device or a pipe (/dev/stdout): nothing to replace, written in place.
    int fd = ::open(path.c_str(), O_WRONLY);
    if (fd < 0)
      return Status::error("cannot open '" + path + "': " + why());
    bool ok = writeAll(fd, data);
    std::string e = why();
    ::close(fd);
    return ok ? Status::ok()
              : Status::error("error writing '" + path + "': " + e);
  }
  std::string tmp = temporarySibling(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return Status::error("cannot create '" + tmp + "': " + why());
  if (!writeAll(fd, data)) {
    std::string e = why();
    ::close(fd);
    ::unlink(tmp.c_str());
    return Status::error("error writing '" + tmp + "': " + e);
  }
  if (::fsync(fd) != 0) {
    std::string e = why();
    ::close(fd);
    ::unlink(tmp.c_str());
    return Status::error("cannot sync '" + tmp + "': " + e);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string e = why();
    ::unlink(tmp.c_str());
    return Status::error("cannot rename '" + tmp + "' to '" + path + "': " + e);
  }
  return syncPath(parentOf(path), true);
}

Status replaceDirectory(const std::string &staged, const std::string &target) {
  STC_RETURN_IF_ERROR(syncTree(staged));
  std::string t = target;
  while (t.size() > 1 && t.back() == '/')
    t.pop_back();
  struct stat st;
  std::string old;
  if (::stat(t.c_str(), &st) == 0) {
    old = t + ".old." + std::to_string(::getpid());
    if (::rename(t.c_str(), old.c_str()) != 0)
      return Status::error("cannot move the old '" + t + "' aside: " + why());
  }
  if (::rename(staged.c_str(), t.c_str()) != 0) {
    std::string e = why();
    if (!old.empty())
      ::rename(old.c_str(), t.c_str()); // put the old one back
    return Status::error("cannot rename '" + staged + "' to '" + t + "': " + e);
  }
  if (!old.empty())
    removeTree(old);
  return syncPath(parentOf(t), true);
}

void removeTree(const std::string &path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0)
    return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR *d = ::opendir(path.c_str())) {
      while (struct dirent *e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..")
          removeTree(path + "/" + name);
      }
      ::closedir(d);
    }
    ::rmdir(path.c_str());
  } else {
    ::unlink(path.c_str());
  }
}

} // namespace stc::rt
