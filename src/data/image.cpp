// src/data/image.cpp — decoding with stb_image and PIL's convert("RGB") rules; see image.h.
//
// libstb (Debian's libstb-dev) already compiles the stb implementations into libstb.so, so
// this file only includes the headers and links; it must NOT define STB_IMAGE_IMPLEMENTATION.
#include "data/image.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

namespace graft {

ImageError::ImageError(const std::string& p, const std::string& why)
    : std::runtime_error("image '" + p + "': " + why), path(p) {}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw ImageError(path, "cannot open the file (does it exist and is it readable?)");
  std::streamsize n = f.tellg();
  f.seekg(0);
  std::vector<uint8_t> bytes(static_cast<size_t>(std::max<std::streamsize>(n, 0)));
  if (n > 0 && !f.read(reinterpret_cast<char*>(bytes.data()), n))
    throw ImageError(path, "read error after opening the file");
  return bytes;
}

namespace {
// stb returns malloc'ed buffers.
struct StbFree { void operator()(void* p) const { stbi_image_free(p); } };

// 16-bit PNG: PIL keeps the high byte of RGB(A) and clips gray ("I" mode) at 255.
Image from_16bit(const uint8_t* bytes, size_t n, const std::string& name) {
  int w = 0, h = 0, c = 0;
  std::unique_ptr<stbi_us, StbFree> px(
      stbi_load_16_from_memory(bytes, static_cast<int>(n), &w, &h, &c, 0));
  if (!px) throw ImageError(name, std::string("corrupt or truncated 16-bit image (") + stbi_failure_reason() + ")");
  Image img(h, w, 3);
  const bool gray = c <= 2;
  for (int64_t i = 0; i < int64_t(w) * h; ++i) {
    const stbi_us* p = px.get() + i * c;
    for (int k = 0; k < 3; ++k) {
      int v = gray ? std::min<int>(p[0], 255) : (p[k] >> 8);
      img.data[static_cast<size_t>(i * 3 + k)] = static_cast<uint8_t>(v);
    }
  }
  return img;
}

// GIF with a transparent palette index: stb makes those pixels transparent black, PIL's
// convert("RGB") shows the palette color of that index. Finds that color by walking the GIF
// blocks up to the first image (graphic control extension + local or global color table).
bool gif_transparent_color(const uint8_t* b, size_t n, uint8_t rgb[3]) {
  if (n < 13 || std::memcmp(b, "GIF8", 4) != 0) return false;
  size_t pos = 13;
  const uint8_t* table = nullptr;
  if (b[10] & 0x80) {
    table = b + pos;
    pos += 3u << ((b[10] & 7) + 1);
  }
  int transparent = -1;
  while (pos < n) {
    if (b[pos] == 0x21 && pos + 2 < n) {  // extension: label, then sub-blocks
      if (b[pos + 1] == 0xF9 && pos + 6 < n && (b[pos + 3] & 1)) transparent = b[pos + 6];
      pos += 2;
      while (pos < n && b[pos] != 0) pos += b[pos] + 1u;
      ++pos;
    } else if (b[pos] == 0x2C && pos + 9 < n) {  // image descriptor
      if (b[pos + 9] & 0x80) table = b + pos + 10;
      break;
    } else {
      return false;
    }
  }
  if (transparent < 0 || !table || table + 3 * transparent + 3 > b + n) return false;
  std::memcpy(rgb, table + 3 * transparent, 3);
  return true;
}
}  // namespace

Image decode_image(const uint8_t* bytes, size_t n, const std::string& name) {
  if (n == 0) throw ImageError(name, "the file is empty (0 bytes); re-copy or delete it");
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(bytes, static_cast<int>(n), &w, &h, &c))
    throw ImageError(name, std::string("not a readable JPEG/PNG/BMP/GIF image (") + stbi_failure_reason() +
                               "); delete or replace the file, or use the skip-bad option");
  // stb fills a truncated JPEG's missing scans with gray instead of failing; PIL refuses such
  // files ("image file is truncated"), so require the end-of-image marker FF D9 near the end.
  // (Entropy-coded data never contains FF D9, so any FF D9 in the tail is a real marker.)
  if (n >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8) {
    size_t from = n > 65536 ? n - 65536 : 2;
    bool eoi = false;
    for (size_t i = from; i + 1 < n && !eoi; ++i) eoi = bytes[i] == 0xFF && bytes[i + 1] == 0xD9;
    if (!eoi) throw ImageError(name, "truncated JPEG (no end-of-image marker); re-copy or delete the file, "
                                     "or use the skip-bad option");
  }
  if (stbi_is_16_bit_from_memory(bytes, static_cast<int>(n))) return from_16bit(bytes, n, name);
  uint8_t tcolor[3];
  if (gif_transparent_color(bytes, n, tcolor)) {
    std::unique_ptr<stbi_uc, StbFree> px(stbi_load_from_memory(bytes, static_cast<int>(n), &w, &h, &c, 4));
    if (!px) throw ImageError(name, std::string("corrupt or truncated GIF (") + stbi_failure_reason() + ")");
    Image img(h, w, 3);
    for (int64_t i = 0; i < int64_t(w) * h; ++i) {
      const stbi_uc* p = px.get() + i * 4;
      for (int k = 0; k < 3; ++k) img.data[size_t(i * 3 + k)] = p[3] == 0 ? tcolor[k] : p[k];
    }
    return img;
  }
  // req_comp = 3: stb replicates gray, expands palettes and drops alpha — PIL's convert("RGB").
  std::unique_ptr<stbi_uc, StbFree> px(stbi_load_from_memory(bytes, static_cast<int>(n), &w, &h, &c, 3));
  if (!px) throw ImageError(name, std::string("corrupt or truncated image (") + stbi_failure_reason() +
                                      "); delete or replace the file, or use the skip-bad option");
  Image img(h, w, 3);
  std::copy(px.get(), px.get() + img.data.size(), img.data.begin());
  return img;
}

Image load_image(const std::string& path) {
  auto bytes = read_file_bytes(path);
  return decode_image(bytes.data(), bytes.size(), path);
}

void save_png(const Image& img, const std::string& path) {
  if (!stbi_write_png(path.c_str(), int(img.W), int(img.H), int(img.C), img.data.data(), int(img.W * img.C)))
    throw ImageError(path, "cannot write PNG");
}

void save_jpeg(const Image& img, const std::string& path, int quality) {
  if (!stbi_write_jpg(path.c_str(), int(img.W), int(img.H), int(img.C), img.data.data(), quality))
    throw ImageError(path, "cannot write JPEG");
}

}  // namespace graft
