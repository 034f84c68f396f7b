//===- Media.cpp - Samples as images and sound -----------------------------===//

#include "runtime/support/Media.h"

#include <algorithm>
#include <array>

namespace stc::rt {

namespace {

void put32be(std::string &out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8)
    out.push_back(static_cast<char>((v >> s) & 0xFF));
}

void put32le(std::string &out, uint32_t v) {
  for (int s = 0; s < 32; s += 8)
    out.push_back(static_cast<char>((v >> s) & 0xFF));
}

void put16le(std::string &out, uint32_t v) {
  out.push_back(static_cast<char>(v & 0xFF));
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
}

/// One PNG chunk: length, type, data, CRC over type and data.
void chunk(std::string &png, const char *type, const std::string &data) {
  put32be(png, static_cast<uint32_t>(data.size()));
  std::string typed = std::string(type, 4) + data;
  png += typed;
  put32be(png, crc32(typed));
}

/// A zlib stream of stored (uncompressed) deflate blocks.
std::string zlibStored(const std::string &raw) {
  std::string z = {'\x78', '\x01'};
  size_t at = 0;
  do {
    const size_t len = std::min<size_t>(raw.size() - at, 65535);
    const bool last = at + len == raw.size();
    z.push_back(last ? '\x01' : '\x00');
    put16le(z, static_cast<uint32_t>(len));
    put16le(z, static_cast<uint32_t>(~len & 0xFFFF));
    z.append(raw, at, len);
    at += len;
  } while (at < raw.size());
  uint32_t a = 1, b = 0; // Adler-32
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  put32be(z, (b << 16) | a);
  return z;
}

} // namespace

uint32_t crc32(const std::string &bytes, uint32_t crc) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k)
        c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (unsigned char b : bytes)
    crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

Expected<std::string> encodePng(const std::string &pixels, int64_t width,
                                int64_t height, int64_t channels) {
  if (channels != 1 && channels != 3 && channels != 4)
    return Status::error("an image has 1 (gray), 3 (RGB) or 4 (RGBA) "
                         "channels, not " + std::to_string(channels));
  if (width < 1 || height < 1 || width > (1 << 24) || height > (1 << 24))
    return Status::error("image size " + std::to_string(width) + " x " +
                         std::to_string(height) + " is out of range");
  const int64_t rowBytes = width * channels;
  if (static_cast<int64_t>(pixels.size()) != rowBytes * height)
    return Status::error(std::to_string(pixels.size()) + " bytes do not make a " +
                         std::to_string(width) + " x " + std::to_string(height) +
                         " x " + std::to_string(channels) + " image (" +
                         std::to_string(rowBytes * height) + " bytes)");
  std::string raw; // each row: filter byte 0, then the row
  raw.reserve(static_cast<size_t>((rowBytes + 1) * height));
  for (int64_t y = 0; y < height; ++y) {
    raw.push_back('\0');
    raw.append(pixels, static_cast<size_t>(y * rowBytes),
               static_cast<size_t>(rowBytes));
  }
  std::string png = "\x89PNG\r\n\x1a\n";
  std::string header;
  put32be(header, static_cast<uint32_t>(width));
  put32be(header, static_cast<uint32_t>(height));
  header.push_back('\x08'); // bit depth
  header.push_back(static_cast<char>(channels == 1 ? 0 : channels == 3 ? 2 : 6));
  header.append(3, '\0'); // deflate, adaptive filtering, no interlace
  chunk(png, "IHDR", header);
  chunk(png, "IDAT", zlibStored(raw));
  chunk(png, "IEND", "");
  return png;
}

Expected<std::string> encodeWav(const std::string &samples, int64_t rate) {
  if (rate < 1 || rate > 1000000)
    return Status::error("sample rate " + std::to_string(rate) +
                         " Hz is out of range (1 .. 1000000)");
  if (samples.size() > 0xFFFFFFFFu - 36)
    return Status::error("too many samples for one WAV file");
  std::string wav = "RIFF";
  put32le(wav, static_cast<uint32_t>(36 + samples.size()));
  wav += "WAVEfmt ";
  put32le(wav, 16);                               // fmt chunk size
  put16le(wav, 1);                                // PCM
  put16le(wav, 1);                                // mono
  put32le(wav, static_cast<uint32_t>(rate));      // samples per second
  put32le(wav, static_cast<uint32_t>(rate));      // bytes per second
  put16le(wav, 1);                                // block align
  put16le(wav, 8);                                // bits per sample
  wav += "data";
  put32le(wav, static_cast<uint32_t>(samples.size()));
  wav += samples;
  return wav;
}

} // namespace stc::rt
