// src/data/image.cpp — decode_image: sniff the format, dispatch to its decoder; the
// decompression-bomb limit; file reading and the test writers. See image.h and decoders.h.
//
// libstb (Debian's libstb-dev) already compiles the stb implementations into libstb.so, so
// this file only includes the header and links; it must NOT define STB_IMAGE_WRITE_IMPLEMENTATION.
#include "data/image.h"

#include <stb_image_write.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/decoders.h"

namespace graft {

ImageError::ImageError(const std::string& p, const std::string& why)
    : std::runtime_error("image '" + p + "': " + why), path(p) {}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::error_code ec;
  // An ifstream opens a folder without complaint on Linux and then reads garbage sizes.
  if (std::filesystem::is_directory(path, ec))
    throw ImageError(path, "is a folder, not an image file; rename or move it out of the dataset");
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw ImageError(path, "cannot open the file (does it exist and is it readable?)");
  std::streamsize n = f.tellg();
  f.seekg(0);
  std::vector<uint8_t> bytes(static_cast<size_t>(std::max<std::streamsize>(n, 0)));
  if (n > 0 && !f.read(reinterpret_cast<char*>(bytes.data()), n))
    throw ImageError(path, "read error after opening the file");
  return bytes;
}

// ---- the decompression-bomb limit ----------------------------------------------------------
namespace {
int64_t limit_from_env() {
  const char* env = std::getenv("GRAFT_MAX_IMAGE_PIXELS");
  if (!env || !*env) return kDefaultMaxImagePixels;
  char* end = nullptr;
  long long v = std::strtoll(env, &end, 10);
  if (*end != '\0' || v < 0)
    throw std::invalid_argument(std::string("GRAFT_MAX_IMAGE_PIXELS='") + env +
                                "' is not a pixel count; set it to a whole number (0 = no limit)");
  return v;
}
// -1: not set by the program, so the environment decides. Atomic: loader worker threads decode
// concurrently. The variable is read at every call (a getenv costs far less than a decode),
// so a limit exported by a script or set in a test takes effect without a restart.
std::atomic<int64_t> g_max_pixels{-1};
}  // namespace

int64_t max_image_pixels() {
  const int64_t v = g_max_pixels.load();
  return v >= 0 ? v : limit_from_env();
}

void set_max_image_pixels(int64_t limit) { g_max_pixels.store(limit < 0 ? -1 : limit); }

void check_pixel_limit(const std::string& name, int64_t width, int64_t height, const char* format) {
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  if (width <= 0 || height <= 0)
    throw ImageError(name, std::string("the ") + format + " header claims a size of " + size +
                               " pixels; the file is corrupt, delete or replace it");
  const int64_t limit = max_image_pixels();
  // width and height come from 32-bit header fields: the product fits in uint64 (not int64).
  const uint64_t pixels = uint64_t(width) * uint64_t(height);
  if (limit > 0 && pixels > uint64_t(limit))
    throw ImageError(name, std::string("the ") + format + " header claims " + size + " = " +
                               std::to_string(pixels) + " pixels, more than the limit of " + std::to_string(limit) +
                               " (a guard against decompression bombs, as PIL's MAX_IMAGE_PIXELS); if the "
                               "image is genuine, raise the limit with GRAFT_MAX_IMAGE_PIXELS=<pixels> "
                               "(0 = no limit) or graft::set_max_image_pixels()");
  // Even with no limit: 2^40 pixels (3 TB as RGB) cannot be meant, and keeps every buffer size
  // the decoders compute (pixels x channels x bytes) far from overflowing.
  if (pixels > (uint64_t(1) << 40))
    throw ImageError(name, std::string("the ") + format + " header claims " + size + " = " + std::to_string(pixels) +
                               " pixels, more than any memory holds; the file is corrupt, delete or replace it");
}

// ---- format sniffing and dispatch ----------------------------------------------------------
namespace detail {

ImageFormat sniff_format(const uint8_t* b, size_t n) {
  auto starts = [&](const char* magic, size_t len, size_t at = 0) {
    return n >= at + len && std::memcmp(b + at, magic, len) == 0;
  };
  if (starts("\xFF\xD8\xFF", 3)) return ImageFormat::Jpeg;
  if (starts("\x89PNG\r\n\x1A\n", 8)) return ImageFormat::Png;
  if (starts("GIF87a", 6) || starts("GIF89a", 6)) return ImageFormat::Gif;
  if (starts("BM", 2)) return ImageFormat::Bmp;
  if (starts("RIFF", 4) && starts("WEBP", 4, 8)) return ImageFormat::WebP;
  // Classic TIFF (42) and BigTIFF (43), little- and big-endian.
  if (starts("II*\0", 4) || starts("MM\0*", 4) || starts("II+\0", 4) || starts("MM\0+", 4)) return ImageFormat::Tiff;
  if (n >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7') return ImageFormat::Pnm;
  return ImageFormat::Unknown;
}

const char* format_name(ImageFormat f) {
  switch (f) {
    case ImageFormat::Jpeg: return "JPEG";
    case ImageFormat::Png: return "PNG";
    case ImageFormat::Gif: return "GIF";
    case ImageFormat::Bmp: return "BMP";
    case ImageFormat::Pnm: return "PNM";
    case ImageFormat::WebP: return "WebP";
    case ImageFormat::Tiff: return "TIFF";
    case ImageFormat::Unknown: break;
  }
  return "unknown";
}

}  // namespace detail

Image decode_image(const uint8_t* bytes, size_t n, const std::string& name) {
  using detail::ImageFormat;
  if (n == 0) throw ImageError(name, "the file is empty (0 bytes); re-copy or delete it");
  const ImageFormat f = detail::sniff_format(bytes, n);
  switch (f) {
    case ImageFormat::Jpeg: return detail::decode_jpeg(bytes, n, name);
    case ImageFormat::WebP: return detail::decode_webp(bytes, n, name);
    case ImageFormat::Tiff: return detail::decode_tiff(bytes, n, name);
    case ImageFormat::Png:
    case ImageFormat::Gif:
    case ImageFormat::Bmp:
    case ImageFormat::Pnm: return detail::decode_stb(bytes, n, name, f);
    case ImageFormat::Unknown: break;
  }
  char first[40];
  std::snprintf(first, sizeof first, "%02x %02x %02x %02x", bytes[0], n > 1 ? bytes[1] : 0, n > 2 ? bytes[2] : 0,
                n > 3 ? bytes[3] : 0);
  throw ImageError(name, std::string("not a JPEG, PNG, GIF, BMP, PNM, WebP or TIFF image (it starts with bytes ") +
                             first + "); delete or replace the file, or use the skip-bad option");
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
