// src/data/decoders.h — the per-format decoders behind decode_image (src/data/image.cpp).
//
// decode_image sniffs the format from the first bytes (never the file name) and calls one of
// these. Every decoder reads the header first, calls check_pixel_limit with the claimed size
// (before any pixel buffer is allocated), then decodes to RGB the way PIL's
// Image.open(f).convert("RGB") does:
//   decode_jpeg  libjpeg-turbo with PIL's settings (decode_jpeg.cpp)
//   decode_webp  libwebp's animation decoder, first frame, as PIL (decode_webp.cpp)
//   decode_tiff  libtiff, first page, raw samples + PIL's mode rules (decode_tiff.cpp)
//   decode_stb   stb_image for PNG, BMP, GIF and PNM (decode_stb.cpp)
// Internal to src/data; users call decode_image / load_image (image.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "data/image.h"

namespace graft::detail {

enum class ImageFormat { Unknown, Jpeg, Png, Gif, Bmp, Pnm, WebP, Tiff };
ImageFormat sniff_format(const uint8_t* bytes, size_t n);
const char* format_name(ImageFormat f);

Image decode_jpeg(const uint8_t* bytes, size_t n, const std::string& name);
Image decode_webp(const uint8_t* bytes, size_t n, const std::string& name);
Image decode_tiff(const uint8_t* bytes, size_t n, const std::string& name);
Image decode_stb(const uint8_t* bytes, size_t n, const std::string& name, ImageFormat f);

// PIL's CMYK -> RGB (Convert.c cmyk2rgb): with nk = 255 - k, r = nk - c * nk / 255, rounded
// as PIL's MULDIV255. Shared by CMYK JPEG and CMYK TIFF.
inline uint8_t cmyk_channel(int c, int k) {
  const int nk = 255 - k;
  const int t = c * nk + 128;
  return static_cast<uint8_t>(nk - (((t >> 8) + t) >> 8));
}

}  // namespace graft::detail
