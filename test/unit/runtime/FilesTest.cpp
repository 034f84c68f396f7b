//===- FilesTest.cpp - Reading inputs and writing outputs -----------------===//

#include "test/unit/Support.h"
#include "RuntimeTestUtil.h"

#include "runtime/support/Files.h"

#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/stat.h>

using namespace stc::rt;
using namespace stc::rt::test;

namespace {

bool exists(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

/// Names in `dir` other than "." and "..", sorted.
std::vector<std::string> listDir(const std::string &dir) {
  std::vector<std::string> names;
  if (DIR *d = ::opendir(dir.c_str())) {
    while (struct dirent *e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..")
        names.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

} // namespace

TEST(Files, ReadRefusesWhatIsNotAFile) {
  std::string dir = makeTempDir("files-read");
  writeFile(dir + "/a.txt", "hello");
  auto ok = readFile(dir + "/a.txt", "data file");
  ASSERT_TRUE(ok.hasValue()) << ok.status().message();
  EXPECT_EQ(*ok, "hello");
  writeFile(dir + "/empty.txt", "");
  EXPECT_EQ(*readFile(dir + "/empty.txt"), "");

  EXPECT_MENTIONS(readFile(dir, "checkpoint").status().message(),
                  "checkpoint '" + dir + "' is a directory");
  EXPECT_MENTIONS(readFile(dir + "/none", "prompt").status().message(),
                  "cannot open prompt '" + dir + "/none': No such file");
  EXPECT_MENTIONS(readFile("", "data file").status().message(),
                  "data file: the path is empty");
  EXPECT_MENTIONS(readFile(dir + "/a.txt", "manifest", 4).status().message(),
                  "has 5 bytes; stc reads at most 4");
  EXPECT_MENTIONS(readFile("/dev/null", "data file").status().message(),
                  "is not a regular file");
}

TEST(Files, OutputChecksComeBeforeTheWork) {
  std::string dir = makeTempDir("files-out");
  EXPECT_TRUE(checkOutputFile(dir + "/new.ckpt", "--save").isOk());
  EXPECT_MENTIONS(checkOutputFile("", "--save").message(),
                  "--save: the path is empty");
  EXPECT_MENTIONS(checkOutputFile(dir, "--save").message(), "is a directory");
  EXPECT_MENTIONS(checkOutputFile(dir + "/", "--out").message(),
                  "names a directory");
  EXPECT_MENTIONS(checkOutputFile(dir + "/missing/x.ckpt", "--save").message(),
                  "directory '" + dir + "/missing' does not exist");
  writeFile(dir + "/file", "x");
  EXPECT_MENTIONS(checkOutputFile(dir + "/file/x.ckpt", "--save").message(),
                  "is not a directory");

  // Devices and pipes are outputs too (written in place, never replaced).
  EXPECT_TRUE(checkOutputFile("/dev/null", "--out").isOk());
  EXPECT_TRUE(writeFileAtomic("/dev/null", "discarded").isOk());
  EXPECT_MENTIONS(writeFileAtomic("/dev/full", "x").message(),
                  "error writing '/dev/full': No space left on device");

  EXPECT_TRUE(checkOutputDirectory(dir + "/art", "-o").isOk());
  EXPECT_MENTIONS(checkOutputDirectory("", "-o").message(), "-o: the path is empty");
  EXPECT_MENTIONS(checkOutputDirectory("/", "-o").message(), "not '/'");
  EXPECT_MENTIONS(checkOutputDirectory(".", "-o").message(), "not '.'");
  EXPECT_MENTIONS(checkOutputDirectory(dir + "/file", "-o").message(),
                  "exists and is not a directory");
  // A non-empty directory that is not an artifact is never replaced.
  EXPECT_MENTIONS(checkOutputDirectory(dir, "-o").message(),
                  "is a directory that is not an stc artifact");
  ::mkdir((dir + "/empty").c_str(), 0755);
  EXPECT_TRUE(checkOutputDirectory(dir + "/empty", "-o").isOk());
}

TEST(Files, AtomicWritesLeaveNoTemporaries) {
  std::string dir = makeTempDir("files-atomic");
  ASSERT_TRUE(writeFileAtomic(dir + "/f", "one").isOk());
  ASSERT_TRUE(writeFileAtomic(dir + "/f", "two").isOk());
  EXPECT_EQ(*readFile(dir + "/f"), "two");
  EXPECT_EQ(listDir(dir), std::vector<std::string>{"f"});
  // A target that cannot be created leaves the directory as it was.
  Status bad = writeFileAtomic(dir + "/nodir/f", "x");
  EXPECT_FALSE(bad.isOk());
  EXPECT_MENTIONS(bad.message(), "cannot create");
  EXPECT_EQ(listDir(dir), std::vector<std::string>{"f"});
}

TEST(Files, ReplaceDirectoryDropsOldFiles) {
  std::string dir = makeTempDir("files-replace");
  std::string target = dir + "/art";
  ::mkdir(target.c_str(), 0755);
  writeFile(target + "/manifest.json", "old");
  writeFile(target + "/stale.cu", "old kernel");

  std::string staged = temporarySibling(target);
  EXPECT_NE(staged, target);
  ::mkdir(staged.c_str(), 0755);
  ::mkdir((staged + "/kernels").c_str(), 0755);
  writeFile(staged + "/manifest.json", "new");
  writeFile(staged + "/kernels/k.cu", "new kernel");
  ASSERT_TRUE(replaceDirectory(staged, target).isOk());

  EXPECT_EQ(listDir(target), (std::vector<std::string>{"kernels", "manifest.json"}));
  EXPECT_EQ(*readFile(target + "/manifest.json"), "new");
  EXPECT_EQ(listDir(dir), std::vector<std::string>{"art"});
  EXPECT_FALSE(exists(staged));

  // A fresh target works too, and removeTree cleans up.
  ::mkdir(staged.c_str(), 0755);
  writeFile(staged + "/manifest.json", "x");
  ASSERT_TRUE(replaceDirectory(staged, dir + "/fresh").isOk());
  removeTree(dir + "/fresh");
  EXPECT_FALSE(exists(dir + "/fresh"));
}
