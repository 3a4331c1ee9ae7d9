// tests/test_data_transforms.cpp — decoding and deterministic transforms vs PIL/torchvision.
//
// tools/references/transforms.py writes the test images into <refs>/transforms_images and
// torchvision's results into transforms.h5; here graft decodes the same files and applies
// its transforms (every other format: test_data_decoders.cpp). The worst differences are printed (MESSAGE) so the report can quote them.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "data/image.h"
#include "data/pipeline.h"
#include "data/transforms.h"
#include "testing.h"

using namespace graft;

namespace {
std::string image_dir(const std::string& h5) { return h5.substr(0, h5.rfind('/')) + "/transforms_images/"; }

struct Diff { double max = 0, mean = 0; int64_t n_over_1 = 0; };
// |a - b| in units of 1/255 over two equal-shape tensors (or pixel arrays).
Diff diff255(const std::vector<float>& a, const std::vector<float>& b, double unit) {
  Diff d;
  for (size_t i = 0; i < a.size(); ++i) {
    double e = std::fabs(double(a[i]) - double(b[i])) / unit;
    d.max = std::max(d.max, e);
    d.mean += e;
    d.n_over_1 += e > 1.0 + 1e-3;
  }
  d.mean /= double(std::max<size_t>(a.size(), 1));
  return d;
}

std::vector<float> pixels(const Image& img) { return std::vector<float>(img.data.begin(), img.data.end()); }
std::vector<float> ref_pixels(const H5File& f, const std::string& c) {
  Tensor t = f.read(c + "/pixels");
  auto l = t.to_labels();
  return std::vector<float>(l.begin(), l.end());
}
}  // namespace

TEST_CASE("data: PNG, BMP, GIF, palette, alpha and 16-bit decode exactly like PIL convert('RGB')") {
  REQUIRE_REFERENCE(path, "transforms.h5");
  H5File f(path, H5File::Mode::Read);
  const std::string dir = image_dir(path);
  for (std::string name : {"photo.png", "photo.bmp", "gray.png", "palette.png", "rgba.png", "gray_alpha.png",
                           "photo.gif", "gif_named.jpg", "transparent.gif", "rgb16.png", "gray16.png"}) {
    std::string c = "decode_" + name;
    std::replace(c.begin(), c.end(), '.', '_');
    Image img = load_image(dir + name);
    Shape ref_shape = f.shape_of(c + "/pixels");
    INFO(name);
    REQUIRE(Shape{img.H, img.W, img.C} == ref_shape);
    Diff d = diff255(pixels(img), ref_pixels(f, c), 1.0);
    // Lossless formats: both decoders must produce the same bytes.
    CHECK(d.max == 0.0);
  }
}

TEST_CASE("data: JPEG decode (libjpeg-turbo) is bit-exact with PIL") {
  REQUIRE_REFERENCE(path, "transforms.h5");
  H5File f(path, H5File::Mode::Read);
  for (std::string name : {"photo.jpg", "photo_progressive.jpg"}) {
    std::string c = "decode_" + name;
    std::replace(c.begin(), c.end(), '.', '_');
    Image img = load_image(image_dir(path) + name);
    REQUIRE(Shape{img.H, img.W, img.C} == f.shape_of(c + "/pixels"));
    Diff d = diff255(pixels(img), ref_pixels(f, c), 1.0);
    MESSAGE(name << ": graft vs PIL max |diff| " << d.max << " levels, mean " << d.mean);
    // Was max 3 levels with stb_image (another IDCT and upsampling); graft now uses the
    // libjpeg-turbo PIL uses, with PIL's settings (src/data/decode_jpeg.cpp): exact.
    CHECK(d.max == 0.0);
  }
}

TEST_CASE("data: deterministic transforms match torchvision 0.14 within 1/255") {
  REQUIRE_REFERENCE(path, "transforms.h5");
  H5File f(path, H5File::Mode::Read);
  const std::string dir = image_dir(path);
  const Image photo = load_image(dir + "photo.png"), small = load_image(dir + "small.png");
  Generator gen(0);
  struct Case { const char* name; const Image* img; std::function<Tensor(const Image&)> fn; double tol255; };
  auto tt = [](const Image& im) { return to_tensor(im); };
  auto spec = [&gen](const char* s) { return [p = Pipeline::parse(s), &gen](const Image& im) { return p(im, gen); }; };
  // tol255 is the allowed per-pixel difference in units of 1/255. Resize: PIL's integer
  // arithmetic is reproduced, so 0 is expected, but the issue allows 1/255 (float vs double
  // coefficient rounding could flip a .5). Everything else is integer arithmetic: exact.
  std::vector<Case> cases = {
      {"resize_256", &photo, spec("resize=256"), 1},
      {"resize_64x64", &photo, spec("resize=64x64"), 1},
      {"resize_100x333", &photo, spec("resize=100x333"), 1},
      {"resize_up_97x131", &small, spec("resize=97x131"), 1},
      {"resize_up_mixed", &small, spec("resize=61x17"), 1},
      {"center_crop_224", &photo, spec("center_crop=224"), 0},
      {"center_crop_pad", &small, spec("center_crop=35x47"), 0},
      {"center_crop_odd", &small, spec("center_crop=13x21"), 0},
      {"to_tensor", &photo, tt, 0},
      {"hflip", &photo, spec("hflip=1"), 0},
      {"vflip", &photo, spec("vflip=1"), 0},
      {"rotate_30", &small, [&](const Image& im) { return to_tensor(rotate(im, 30.0)); }, 0},
      {"rotate_m47", &photo, [&](const Image& im) { return to_tensor(rotate(im, -47.5)); }, 0},
      {"brightness_1_3", &photo, [&](const Image& im) { return to_tensor(adjust_brightness(im, 1.3f)); }, 0},
      {"brightness_0_6", &photo, [&](const Image& im) { return to_tensor(adjust_brightness(im, 0.6f)); }, 0},
      {"contrast_0_6", &photo, [&](const Image& im) { return to_tensor(adjust_contrast(im, 0.6f)); }, 0},
      {"contrast_1_4", &photo, [&](const Image& im) { return to_tensor(adjust_contrast(im, 1.4f)); }, 0},
      {"saturation_1_5", &photo, [&](const Image& im) { return to_tensor(adjust_saturation(im, 1.5f)); }, 0},
      {"saturation_0_3", &photo, [&](const Image& im) { return to_tensor(adjust_saturation(im, 0.3f)); }, 0},
      // Hue goes through float HSV with round(); PIL computes the same expressions but
      // float/double promotion may differ in rare .5 cases: allow 1 level.
      {"hue_0_1", &photo, [&](const Image& im) { return to_tensor(adjust_hue(im, 0.1f)); }, 1},
      {"hue_m0_27", &photo, [&](const Image& im) { return to_tensor(adjust_hue(im, -0.27f)); }, 1},
  };
  for (auto& c : cases) {
    Tensor y = c.fn(*c.img), ref = f.read(std::string(c.name) + "/y");
    INFO(std::string(c.name) << ": graft " << shape_str(y.shape()) << " vs torchvision " << shape_str(ref.shape()));
    REQUIRE(y.shape() == ref.shape());
    Diff d = diff255(y.to_vector(), ref.to_vector(), 1.0 / 255.0);
    MESSAGE(std::string(c.name) << ": max |diff| " << d.max << "/255, mean " << d.mean << "/255");
    CHECK(d.max <= c.tol255 + 1e-3);  // + 1e-3: float32 rounding of u8/255
    // Measured 0 everywhere: a mean above 0.01 levels would mean systematic drift even
    // inside the allowed 1/255 (e.g. a wrong rounding constant).
    CHECK(d.mean < 0.01);
  }
}

TEST_CASE("data: normalize and the full eval pipeline match torchvision") {
  REQUIRE_REFERENCE(path, "transforms.h5");
  H5File f(path, H5File::Mode::Read);
  const Image photo = load_image(image_dir(path) + "photo.png");
  Generator gen(0);
  Tensor n = Pipeline::parse("normalize=imagenet")(photo, gen);
  // Same float32 expression (x/255 - m)/s as torchvision: only last-bit differences.
  CHECK_CLOSE("normalize", n, f.read("normalize/y"), 1e-6, 1e-6);
  Tensor e = Pipeline::parse("resize=256,center_crop=224,normalize=imagenet")(photo, gen);
  // Resize may differ by 1/255 (see above), i.e. 1/255/0.225 = 0.0175 after normalization.
  CHECK_CLOSE("eval pipeline", e, f.read("eval_pipeline/y"), 0, 1.0 / 255.0 / 0.224 + 1e-5);
}

TEST_CASE("data: resize of a JPEG vs torchvision (PIL decode)") {
  REQUIRE_REFERENCE(path, "transforms.h5");
  H5File f(path, H5File::Mode::Read);
  Generator gen(0);
  Tensor y = Pipeline::parse("resize=256")(load_image(image_dir(path) + "photo.jpg"), gen);
  Tensor ref = f.read("resize_jpeg_256/y");
  REQUIRE(y.shape() == ref.shape());
  Diff d = diff255(y.to_vector(), ref.to_vector(), 1.0 / 255.0);
  MESSAGE("resize=256 of photo.jpg, end to end: max |diff| " << d.max << "/255, mean " << d.mean << "/255");
  // The decode is bit-exact now (was a mean of ~0.1 level with stb), so this is the PNG
  // resize case: the same 1/255 allowance and the same mean bound (see above).
  CHECK(d.max <= 1.0 + 1e-3);
  CHECK(d.mean < 0.01);
}

TEST_CASE("data: transform spec parser accepts the documented forms and rejects others") {
  Pipeline p = Pipeline::parse("random_resized_crop=224,hflip,normalize=imagenet");
  CHECK(p.steps.size() == 2);
  CHECK(p.deterministic_prefix() == 0);
  CHECK(p.mean.size() == 3);
  Pipeline q = Pipeline::parse("resize=256,center_crop=224,normalize=imagenet");
  CHECK(q.deterministic_prefix() == 2);
  Generator gen(1);
  Image img(50, 80);
  CHECK(Pipeline::parse("resize=64x32")(img, gen).shape() == Shape{3, 64, 32});
  CHECK(Pipeline::parse("resize=20")(img, gen).shape() == Shape{3, 20, 32});  // int(20*80/50)=32
  CHECK_THROWS_WITH(Pipeline::parse("resize=256,blur=3"), doctest::Contains("blur"));
  CHECK_THROWS_WITH(Pipeline::parse("resize=abc"), doctest::Contains("not a number"));
  CHECK_THROWS_WITH(Pipeline::parse("center_crop"), doctest::Contains("needs a value"));
  CHECK_THROWS_WITH(Pipeline::parse("normalize=foo"), doctest::Contains("imagenet"));
}
