//===- FilesTest.cpp - Reading inputs and writing outputs -----------------===//

#include "test/unit/Support.h"
#include "RuntimeTestUtil.h"

#include "runtime/support/Files.h"
#include "runtime/support/Media.h"

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

TEST(Media, PngAndWavHeaders) {
  // CRC-32 check value, and PNG's IEND chunk CRC.
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc32("IEND"), 0xAE426082u);
  auto png = encodePng(std::string(2 * 3 * 3, '\x7f'), 3, 2, 3);
  ASSERT_TRUE(png.hasValue()) << png.status().message();
  EXPECT_EQ(png->substr(0, 8), std::string("\x89PNG\r\n\x1a\n"));
  EXPECT_EQ(png->substr(12, 4), "IHDR");
  EXPECT_EQ(png->substr(png->size() - 8, 4), "IEND");
  EXPECT_MENTIONS(encodePng("abc", 2, 2, 3).status().message(),
                  "3 bytes do not make a 2 x 2 x 3 image (12 bytes)");
  EXPECT_MENTIONS(encodePng("abcd", 2, 2, 1 + 1).status().message(),
                  "1 (gray), 3 (RGB) or 4 (RGBA) channels, not 2");
  // A stored deflate block holds at most 65535 bytes: a larger image spans
  // several, and the file grows by the rows' filter bytes and the headers.
  auto big = encodePng(std::string(300 * 300, 'x'), 300, 300, 1);
  ASSERT_TRUE(big.hasValue());
  EXPECT_GT(big->size(), 300u * 301u);
  auto wav = encodeWav("abc", 8000);
  ASSERT_TRUE(wav.hasValue());
  EXPECT_EQ(wav->size(), 44u + 3u);
  EXPECT_EQ(wav->substr(0, 4), "RIFF");
  EXPECT_EQ(wav->substr(8, 8), "WAVEfmt ");
  EXPECT_EQ(wav->substr(44), "abc");
  EXPECT_MENTIONS(encodeWav("a", 0).status().message(),
                  "sample rate 0 Hz is out of range");
}
