// tests/test_data_decoders.cpp — every format graft decodes, bit-exact against PIL.
//
// tools/references/decoders.py writes the files with PIL (and by hand what PIL cannot write)
// into <refs>/decoders_images and PIL's Image.open(f).convert("RGB") into decoders.h5; graft
// decodes the same bytes here. Expected values come from PIL only. PIL is Debian's
// python3-pil, linked against the libjpeg-turbo, libwebp and libtiff graft uses, so the
// tolerance is 0 everywhere: any difference is a wrong setting or a wrong conversion rule.
#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "data/image.h"
#include "data/pipeline.h"
#include "testing.h"

using namespace graft;

namespace {
std::string image_dir(const std::string& h5) { return h5.substr(0, h5.rfind('/')) + "/decoders_images/"; }

// The largest |graft - PIL| over all bytes, and where (y, x, channel) for the message.
struct PixelDiff {
  int max = 0;
  int64_t y = 0, x = 0, c = 0;
};
PixelDiff pixel_diff(const Image& img, const std::vector<int64_t>& ref) {
  PixelDiff d;
  for (size_t i = 0; i < img.data.size(); ++i) {
    int e = std::abs(int(img.data[i]) - int(ref[i]));
    if (e > d.max) d = {e, int64_t(i) / (img.W * 3), int64_t(i) / 3 % img.W, int64_t(i) % 3};
  }
  return d;
}

void check_exact(const H5File& f, const std::string& dir, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    std::string c = name;
    std::replace(c.begin(), c.end(), '.', '_');
    INFO(name);
    REQUIRE(f.contains(c + "/pixels"));
    Image img = load_image(dir + name);
    REQUIRE(Shape{img.H, img.W, img.C} == f.shape_of(c + "/pixels"));
    PixelDiff d = pixel_diff(img, f.read(c + "/pixels").to_labels());
    MESSAGE(name << " " << img.W << "x" << img.H << ": max |graft - PIL| = " << d.max << " levels (at y " << d.y
                 << ", x " << d.x << ", channel " << d.c << ")");
    CHECK(d.max == 0);
  }
}
}  // namespace

TEST_CASE("decoders: JPEG (libjpeg-turbo) decodes bit-exactly like PIL") {
  REQUIRE_REFERENCE(path, "decoders.h5");
  H5File f(path, H5File::Mode::Read);
  // 4:2:0 / 4:2:2 / 4:4:4 chroma, qualities 50-95, progressive, optimized Huffman tables, odd
  // sizes, grayscale, Adobe CMYK, and an EXIF orientation tag that must stay unapplied (the
  // reference is PIL's unrotated 53x37 image, so a rotated decode fails the shape check).
  check_exact(f, image_dir(path),
              {"photo.jpg", "photo_422.jpg", "photo_444.jpg", "photo_q50.jpg", "progressive.jpg", "optimized.jpg",
               "odd_37x53.jpg", "gray.jpg", "cmyk.jpg", "exif_rotated.jpg"});
}

TEST_CASE("decoders: WebP (libwebp) decodes bit-exactly like PIL, animated files at their first frame") {
  REQUIRE_REFERENCE(path, "decoders.h5");
  H5File f(path, H5File::Mode::Read);
  check_exact(f, image_dir(path), {"photo.webp", "lossless.webp", "alpha.webp", "animated.webp"});
}

TEST_CASE("decoders: TIFF (libtiff) decodes bit-exactly like PIL") {
  REQUIRE_REFERENCE(path, "decoders.h5");
  H5File f(path, H5File::Mode::Read);
  check_exact(f, image_dir(path),
              {"photo.tif", "lzw.tiff", "deflate.tif", "packbits.tif", "jpeg_in.tif", "gray.tif", "bilevel.tif",
               "bilevel_g4.tif", "palette.tif", "rgba.tif", "cmyk.tif", "gray16.tif", "pages.tif", "rgb16.tif",
               "rgb16_be.tif", "rgba16.tif", "assoc_alpha.tif", "tiled.tif"});
}

TEST_CASE("decoders: the format comes from the bytes, not the file name") {
  REQUIRE_REFERENCE(path, "decoders.h5");
  H5File f(path, H5File::Mode::Read);
  const std::string dir = image_dir(path);
  testing::TempDir d("decoders_named");
  // A WebP named .jpg and a TIFF named .png (as web scrapers and renaming tools leave them).
  std::filesystem::copy_file(dir + "photo.webp", d / "webp_named.jpg");
  std::filesystem::copy_file(dir + "lzw.tiff", d / "tiff_named.png");
  for (auto [file, ref] : {std::pair{"webp_named.jpg", "photo_webp"}, std::pair{"tiff_named.png", "lzw_tiff"}}) {
    INFO(file);
    Image img = load_image(d / file);
    REQUIRE(Shape{img.H, img.W, img.C} == f.shape_of(std::string(ref) + "/pixels"));
    CHECK(pixel_diff(img, f.read(std::string(ref) + "/pixels").to_labels()).max == 0);
  }
}

TEST_CASE("decoders: the eval pipeline on a JPEG matches torchvision exactly") {
  REQUIRE_REFERENCE(path, "decoders.h5");
  H5File f(path, H5File::Mode::Read);
  Generator gen(0);
  Tensor y = Pipeline::parse("resize=256,center_crop=224,normalize=imagenet")(load_image(image_dir(path) + "photo.jpg"), gen);
  // Decoding is now bit-exact, and resize/crop reproduce PIL's integer arithmetic (the PNG
  // test in test_data_transforms.cpp measures 0 there), so only the float32 normalize
  // (x/255 - m)/s is left: the same expression as torchvision, last-bit differences at most.
  CHECK_CLOSE("eval pipeline on photo.jpg", y, f.read("eval_jpeg/y"), 1e-6, 1e-6);
}
