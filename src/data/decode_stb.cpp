// src/data/decode_stb.cpp — PNG, BMP, GIF and PNM through stb_image, with PIL's convert("RGB")
// rules (see image.h). These formats are lossless, so stb's pixels equal PIL's bit for bit.
//
// The header sizes are read here, not by stbi_info: stb refuses images above 2^30 bytes while
// reading the header and then reports "unknown image type" for every format it tried, which
// hides the real reason from the user (a 100000x100000 PNG must say that it is too large).
//
// libstb (Debian's libstb-dev) already compiles the stb implementations into libstb.so, so
// this file only includes the header and links; it must NOT define STB_IMAGE_IMPLEMENTATION.
#include <stb_image.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "data/decoders.h"

namespace graft::detail {

namespace {
// stb returns malloc'ed buffers.
struct StbFree { void operator()(void* p) const { stbi_image_free(p); } };

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
uint32_t le32(const uint8_t* p) { return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0]; }
uint16_t le16(const uint8_t* p) { return uint16_t(p[1] << 8 | p[0]); }

// Width and height from the header, or false when the header is cut short. PNG: IHDR (big-
// endian u32); GIF: logical screen (u16); BMP: the DIB header (u16 in the old 12-byte OS/2
// header, else i32; a negative height means top-down rows). PNM: stb's own parser (no size cap).
bool header_size(const uint8_t* b, size_t n, ImageFormat f, int64_t& w, int64_t& h) {
  switch (f) {
    case ImageFormat::Png:
      if (n < 24 || std::memcmp(b + 12, "IHDR", 4) != 0) return false;
      w = be32(b + 16), h = be32(b + 20);
      return true;
    case ImageFormat::Gif:
      if (n < 10) return false;
      w = le16(b + 6), h = le16(b + 8);
      return true;
    case ImageFormat::Bmp:
      if (n < 26) return false;
      if (le32(b + 14) == 12) {
        w = le16(b + 18), h = le16(b + 20);
      } else {
        w = int32_t(le32(b + 18));
        h = int32_t(le32(b + 22));
        if (h < 0) h = -h;
      }
      return true;
    default: {
      int iw = 0, ih = 0, c = 0;
      if (!stbi_info_from_memory(b, static_cast<int>(n), &iw, &ih, &c)) return false;
      w = iw, h = ih;
      return true;
    }
  }
}

std::string stb_reason() {
  std::string r = stbi_failure_reason() ? stbi_failure_reason() : "unknown";
  // stb's own ceiling (2^30 bytes of pixels), reached only when the user raised graft's limit.
  if (r == "too large") r += ": stb_image decodes at most 2^30 bytes of pixels";
  return r;
}

// 16-bit PNG: PIL keeps the high byte of RGB(A) and clips gray ("I" mode) at 255.
Image from_16bit(const uint8_t* bytes, size_t n, const std::string& name) {
  int w = 0, h = 0, c = 0;
  std::unique_ptr<stbi_us, StbFree> px(stbi_load_16_from_memory(bytes, static_cast<int>(n), &w, &h, &c, 0));
  if (!px) throw ImageError(name, "corrupt or truncated 16-bit image (" + stb_reason() + ")");
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

Image decode_stb(const uint8_t* bytes, size_t n, const std::string& name, ImageFormat f) {
  const std::string what = format_name(f);
  // stb reads binary PGM/PPM only; PIL also reads the ASCII (P1-P3) and bilevel (P4) kinds.
  if (f == ImageFormat::Pnm && bytes[1] != '5' && bytes[1] != '6')
    throw ImageError(name, std::string("a PNM of type P") + char(bytes[1]) +
                               ", which graft does not decode (stb_image reads the binary P5 and P6); "
                               "convert it to PNG");
  if (n > size_t(INT32_MAX)) throw ImageError(name, "the " + what + " file is larger than 2 GiB, which stb_image cannot read");
  int64_t hw = 0, hh = 0;
  if (!header_size(bytes, n, f, hw, hh))
    throw ImageError(name, "truncated or corrupt " + what + " header (" + stb_reason() +
                               "); delete or replace the file, or use the skip-bad option");
  check_pixel_limit(name, hw, hh, what.c_str());
  int w = 0, h = 0, c = 0;
  if (stbi_is_16_bit_from_memory(bytes, static_cast<int>(n))) return from_16bit(bytes, n, name);
  uint8_t tcolor[3];
  if (gif_transparent_color(bytes, n, tcolor)) {
    std::unique_ptr<stbi_uc, StbFree> px(stbi_load_from_memory(bytes, static_cast<int>(n), &w, &h, &c, 4));
    if (!px) throw ImageError(name, "corrupt or truncated GIF (" + stb_reason() + ")");
    Image img(h, w, 3);
    for (int64_t i = 0; i < int64_t(w) * h; ++i) {
      const stbi_uc* p = px.get() + i * 4;
      for (int k = 0; k < 3; ++k) img.data[size_t(i * 3 + k)] = p[3] == 0 ? tcolor[k] : p[k];
    }
    return img;
  }
  // req_comp = 3: stb replicates gray, expands palettes and drops alpha — PIL's convert("RGB").
  std::unique_ptr<stbi_uc, StbFree> px(stbi_load_from_memory(bytes, static_cast<int>(n), &w, &h, &c, 3));
  if (!px) throw ImageError(name, "corrupt or truncated " + what + " (" + stb_reason() +
                                      "); delete or replace the file, or use the skip-bad option");
  Image img(h, w, 3);
  std::copy(px.get(), px.get() + img.data.size(), img.data.begin());
  return img;
}

}  // namespace graft::detail
