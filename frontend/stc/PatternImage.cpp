//===- PatternImage.cpp - Draw attention patterns as PNG ------------------===//

#include "frontend/stc/PatternImage.h"

#include <png.h>

#include <algorithm>
#include <cstdio>
#include <vector>

using namespace stc;
using namespace stc::cli;

namespace {

// Gray levels: darker means more attention work.
constexpr uint8_t kAllowed = 0, kPartial = 128, kEmpty = 255, kUpper = 225;

/// Largest image side; cells are merged (darkest wins) beyond it.
constexpr int64_t kMaxSide = 2048;

bool writeGrayPng(const std::vector<uint8_t> &pixels, int64_t side,
                  const std::string &path, std::string *error) {
  FILE *file = std::fopen(path.c_str(), "wb");
  if (!file) {
    *error = "cannot write " + path;
    return false;
  }
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    std::fclose(file);
    *error = "libpng could not start writing " + path;
    return false;
  }
  // libpng reports errors by longjmp.
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(file);
    *error = "libpng failed writing " + path;
    return false;
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, static_cast<png_uint_32>(side),
               static_cast<png_uint_32>(side), 8, PNG_COLOR_TYPE_GRAY,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int64_t y = 0; y < side; ++y)
    png_write_row(png, const_cast<png_bytep>(&pixels[y * side]));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return std::fclose(file) == 0;
}

/// Renders a cells x cells grid given each cell's gray level, scaled so the
/// picture is a readable size: small grids are magnified, large ones merged.
std::vector<uint8_t> renderGrid(int64_t cells,
                                const std::vector<uint8_t> &levels,
                                int64_t *side) {
  int64_t magnify = std::max<int64_t>(1, 512 / cells);
  int64_t merge = (cells + kMaxSide - 1) / kMaxSide;
  *side = merge > 1 ? (cells + merge - 1) / merge : cells * magnify;
  std::vector<uint8_t> pixels(*side * *side, kEmpty);
  for (int64_t y = 0; y < *side; ++y)
    for (int64_t x = 0; x < *side; ++x) {
      uint8_t level = 255;
      if (merge > 1) {
        for (int64_t r = y * merge; r < std::min(cells, (y + 1) * merge); ++r)
          for (int64_t c = x * merge; c < std::min(cells, (x + 1) * merge); ++c)
            level = std::min(level, levels[r * cells + c]);
      } else {
        level = levels[(y / magnify) * cells + x / magnify];
      }
      pixels[y * *side + x] = level;
    }
  return pixels;
}

} // namespace

bool stc::cli::writePatternPng(const pattern::Pattern &p, int64_t n,
                               int64_t blockSize, const std::string &path,
                               std::string *error) {
  std::vector<uint8_t> levels;
  int64_t cells = 0;
  if (n <= kElementImageLimit) {
    cells = n;
    levels.assign(n * n, kUpper);
    for (int64_t q = 0; q < n; ++q) {
      for (int64_t k = 0; k <= q; ++k)
        levels[q * n + k] = kEmpty;
      p.forEachAllowedKey(q, n, [&](int64_t k) { levels[q * n + k] = kAllowed; });
    }
  } else {
    pattern::BlockLayout layout = pattern::buildBlockLayout(p, n, blockSize);
    cells = layout.numBlockRows;
    levels.assign(cells * cells, kUpper);
    for (int64_t r = 0; r < cells; ++r) {
      for (int64_t c = 0; c <= r; ++c)
        levels[r * cells + c] = kEmpty;
      for (int64_t i = layout.rowPtr[r]; i < layout.rowPtr[r + 1]; ++i)
        levels[r * cells + layout.colIdx[i]] =
            layout.classes[i] == pattern::BlockClass::Full ? kAllowed
                                                           : kPartial;
    }
  }
  int64_t side = 0;
  std::vector<uint8_t> pixels = renderGrid(cells, levels, &side);
  return writeGrayPng(pixels, side, path, error);
}
