// tests/fuzz/fuzz_image.cpp — graft::decode_image on arbitrary bytes: the format is sniffed
// from the content, so one target reaches every decoder (JPEG: libjpeg-turbo, WebP: libwebp,
// TIFF: libtiff, PNG/BMP/GIF/PNM: stb_image; src/data/decoders.h).
// Accepted outcomes: an Image with consistent sizes, or graft::ImageError naming the input.
#include <stdexcept>
#include <string>

#include "data/image.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Headers may claim any size; the bomb limit refuses most before allocating. 4 Mpixels
  // (instead of PIL's 89 M) keeps one input's decode short under the sanitizers; the limit's
  // own check is the same code for every value.
  graft::set_max_image_pixels(int64_t(1) << 22);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::expect_only<graft::ImageError>([&] {
    const graft::Image img = graft::decode_image(data, size, "fuzz.img");
    if (img.H <= 0 || img.W <= 0 || (img.C != 1 && img.C != 3))
      fuzz::fail("decoded an image of " + std::to_string(img.H) + "x" + std::to_string(img.W) + "x" +
                 std::to_string(img.C));
    if (img.data.size() != size_t(img.H * img.W * img.C)) fuzz::fail("image data size does not match H*W*C");
    if (img.H * img.W > (int64_t(1) << 22)) fuzz::fail("decoded an image above the pixel limit");
  });
  return 0;
}
