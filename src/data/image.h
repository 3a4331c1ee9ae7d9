// src/data/image.h — an 8-bit image in memory, decoded from JPEG/PNG/BMP/GIF/WebP/TIFF bytes.
//
// Layout: H x W x C bytes, row-major, channels interleaved (HWC), C = 3 (RGB) or 1 (gray, used
// by MNIST). Decoding converts every file to RGB the way PIL's Image.convert("RGB") does, so
// torchvision's pipeline and graft's see the same pixels:
//   gray -> r=g=b; palette -> palette colors; alpha (RGBA, LA) -> alpha dropped, no compositing;
//   16-bit RGB(A) -> high byte (v >> 8, PIL's "RGB;16B" unpacker);
//   16-bit gray -> min(v, 255) (PIL opens it as mode "I"/"I;16" and clips when converting);
//   CMYK (JPEG, TIFF) -> PIL's cmyk2rgb; GIF, WebP, TIFF: first frame/page;
//   GIF transparent pixels get their palette color (stb alone gives black).
// EXIF orientation is left as PIL leaves it: not applied.
// The format comes from the content (magic bytes), never from the file name's extension.
// Decoders (src/data/decoders.h): libjpeg-turbo for JPEG (the library PIL uses, with its
// settings: bit-exact), libwebp for WebP, libtiff for TIFF, stb_image for PNG/BMP/GIF/PNM.
// All are tested bit-exact against PIL in tests/test_data_decoders.cpp.
//
// Decompression bombs: a file whose header claims more than max_image_pixels() pixels
// (default 89,478,485 = PIL's Image.MAX_IMAGE_PIXELS) is refused before anything is allocated.
// Raise the limit with set_max_image_pixels() or the environment variable
// GRAFT_MAX_IMAGE_PIXELS (0 = no limit).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace graft {

struct Image {
  int64_t H = 0, W = 0, C = 3;
  std::vector<uint8_t> data;  // H*W*C bytes, HWC

  Image() = default;
  Image(int64_t h, int64_t w, int64_t c = 3) : H(h), W(w), C(c), data(static_cast<size_t>(h * w * c), 0) {}
  bool empty() const { return data.empty(); }
  uint8_t* row(int64_t y) { return data.data() + y * W * C; }
  const uint8_t* row(int64_t y) const { return data.data() + y * W * C; }
  uint8_t& at(int64_t y, int64_t x, int64_t c) { return data[static_cast<size_t>((y * W + x) * C + c)]; }
  uint8_t at(int64_t y, int64_t x, int64_t c) const { return data[static_cast<size_t>((y * W + x) * C + c)]; }
};

// An image that could not be read or decoded. what() names the file and says what to do.
struct ImageError : std::runtime_error {
  ImageError(const std::string& path, const std::string& why);
  std::string path;
};

// Decodes bytes (JPEG baseline/progressive/gray/CMYK, PNG 8/16-bit, BMP, GIF first frame, WebP
// lossy/lossless/animated first frame, TIFF 1/8/16-bit gray, RGB(A), palette, CMYK) to RGB.
// `name` is only used in error messages. Throws ImageError.
Image decode_image(const uint8_t* bytes, size_t n, const std::string& name = "<memory>");
// Reads and decodes a file. Throws ImageError naming the path (missing, empty, corrupt).
Image load_image(const std::string& path);
// Reads a whole file into memory; throws ImageError if it cannot be opened.
std::vector<uint8_t> read_file_bytes(const std::string& path);

// The decompression-bomb guard. The limit is $GRAFT_MAX_IMAGE_PIXELS when that is set
// (0 = no limit), else kDefaultMaxImagePixels; set_max_image_pixels(n) overrides both (0 = no
// limit), set_max_image_pixels(-1) goes back to the environment / default.
constexpr int64_t kDefaultMaxImagePixels = 89478485;  // PIL's Image.MAX_IMAGE_PIXELS
int64_t max_image_pixels();
void set_max_image_pixels(int64_t limit);
// Throws ImageError naming `name`, the claimed W x H and how to raise the limit when
// width * height is above max_image_pixels() (or a dimension is not positive).
void check_pixel_limit(const std::string& name, int64_t width, int64_t height, const char* format);

// Writers for tests and tools (stb_image_write). quality: 1..100.
void save_png(const Image& img, const std::string& path);
void save_jpeg(const Image& img, const std::string& path, int quality = 90);

}  // namespace graft
