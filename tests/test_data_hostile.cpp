// tests/test_data_hostile.cpp — files as users find them: empty, cut short, misnamed, huge,
// looping, hand-edited, corrupt. One table: each row makes a bad input and names a fragment
// the error message must hold (what was found, and where). Plus the pixel limit and
// symbolic-link loops, which need more than one line to set up.
//
// The WebP and TIFF inputs are written here with libwebp's encoder and by hand, so these tests
// need neither PIL nor the reference files.
#include <webp/encode.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <unistd.h>

#include "data/datasets.h"
#include "data/image.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "models/models.h"
#include "testing.h"
#include "train/checkpoint.h"

using namespace graft;
namespace fs = std::filesystem;
using testing::TempDir;

namespace {
using Bytes = std::vector<uint8_t>;

Image gradient(int64_t h, int64_t w) {
  Image img(h, w);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img.at(y, x, c) = uint8_t((x * 7 + y * 3 + c * 50) % 256);
  return img;
}
void write_bytes(const std::string& path, const Bytes& b) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}
void write_text(const std::string& path, const std::string& s) { write_bytes(path, Bytes(s.begin(), s.end())); }
Bytes cut(Bytes b, size_t keep) {
  b.resize(keep);
  return b;
}
Bytes png_bytes(const TempDir& d, const Image& img) {
  save_png(img, d / "tmp.png");
  return read_file_bytes(d / "tmp.png");
}
Bytes jpeg_bytes(const TempDir& d, const Image& img) {
  save_jpeg(img, d / "tmp.jpg");
  return read_file_bytes(d / "tmp.jpg");
}
Bytes webp_bytes(const Image& img) {  // lossless: VP8L
  uint8_t* out = nullptr;
  size_t n = WebPEncodeLosslessRGB(img.data.data(), int(img.W), int(img.H), int(img.W * 3), &out);
  Bytes b(out, out + n);
  WebPFree(out);
  return b;
}
// An uncompressed little-endian RGB TIFF: header, the IFD, BitsPerSample, then one strip (so a cut file
// loses pixels, not the directory). Width/height written as given (they may lie).
Bytes tiff_bytes(const Image& img, uint32_t w, uint32_t h) {
  Bytes b = {'I', 'I', 42, 0, 8, 0, 0, 0};
  auto u16 = [&](uint32_t v) { b.push_back(uint8_t(v)), b.push_back(uint8_t(v >> 8)); };
  auto u32 = [&](uint32_t v) { u16(v & 0xFFFF), u16(v >> 16); };
  const uint32_t entries = 9, bits = 8 + 2 + entries * 12 + 4, data = bits + 6;
  u16(entries);
  auto tag = [&](uint16_t t, uint16_t type, uint32_t count, uint32_t value) { u16(t), u16(type), u32(count), u32(value); };
  tag(256, 4, 1, w), tag(257, 4, 1, h), tag(258, 3, 3, bits), tag(259, 3, 1, 1), tag(262, 3, 1, 2);
  tag(273, 4, 1, data), tag(277, 3, 1, 3), tag(278, 4, 1, h), tag(279, 4, 1, uint32_t(img.data.size()));
  u32(0);
  u16(8), u16(8), u16(8);  // BitsPerSample 8,8,8
  b.insert(b.end(), img.data.begin(), img.data.end());
  return b;
}
// The message of what `f` throws ("" if it does not throw).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("hostile inputs: every bad file or list fails with a short message that says what and where") {
  TempDir d("hostile");
  const Image small = gradient(6, 8);
  const Bytes jpg = jpeg_bytes(d, gradient(64, 64)), png = png_bytes(d, gradient(64, 64)), webp = webp_bytes(gradient(64, 64)),
              tif = tiff_bytes(gradient(16, 16), 16, 16);
  REQUIRE(load_image(d / "tmp.jpg").W == 64);  // the uncut files are fine
  write_bytes(d / "ok.webp", webp);
  write_bytes(d / "ok.tif", tif);
  REQUIRE(load_image(d / "ok.webp").H == 64);
  REQUIRE(load_image(d / "ok.tif").H == 16);

  write_bytes(d / "zero.jpg", {});
  write_bytes(d / "half.jpg", cut(jpg, jpg.size() / 2));
  write_bytes(d / "no_eoi.jpg", cut(jpg, jpg.size() - 2));  // PIL refuses it too ("image file is truncated")
  write_bytes(d / "header_only.jpg", cut(jpg, 200));
  write_bytes(d / "half.png", cut(png, png.size() / 2));
  write_bytes(d / "half.webp", cut(webp, webp.size() / 2));
  write_bytes(d / "half.tif", cut(tif, tif.size() / 2));
  write_bytes(d / "head.tif", cut(tif, 20));
  write_text(d / "text.png", "<html>404 Not Found</html>\n");
  write_text(d / "ascii.ppm", "P3\n1 1\n255\n0 0 0\n");
  fs::create_directories(d / "folder.jpg");
  const std::string latin1 = d / "caf\xe9.jpg";  // not valid UTF-8 (Latin-1 e-acute)
  write_bytes(latin1, cut(jpg, jpg.size() / 3));
  write_bytes(d / "real.png", png_bytes(d, small));

  // CSVs: the good one has a BOM, CRLF line ends, a quoted name with a comma, blank lines.
  fs::copy_file(d / "real.png", d / "a,b.png");
  write_text(d / "good.csv", "\xEF\xBB\xBFimage_names,label\r\n\r\n\"a,b.png\",cat\r\nreal.png,dog\r\n\r\n");
  write_text(d / "dup.csv", "f,l\nreal.png,cat\nx.png,dog\nreal.png,dog\n");
  write_text(d / "nolabel.csv", "f,l\nreal.png,\n");
  write_text(d / "negative.csv", "f,l\nreal.png,-1\n");
  write_text(d / "folder.csv", "f,l\nfolder.jpg,cat\n");
  write_bytes(d / "x.png", png_bytes(d, small));

  // Weights with NaN / inf, a checkpoint of another model, weights for another class count.
  Sequential three{std::make_shared<Linear>(4, 3)}, five{std::make_shared<Linear>(4, 5)};
  save_weights(three, d / "three.h5");
  NamedTensors sd = three.state_dict();
  sd[0].second.data()[5] = std::nanf("");
  save_tensors(d / "nan.h5", sd);
  sd[0].second.data()[5] = 1.0f;
  sd[1].second.data()[2] = INFINITY;
  save_tensors(d / "inf.h5", sd);
  TrainingState st;
  st.architecture = "spec:linear(3)";
  save_training_checkpoint_tensors(d / "ckpt.h5", three, {}, st, {});

  struct Row {
    const char* what;
    std::function<void()> act;
    std::vector<std::string> expect;  // fragments the message must hold
  };
  auto load = [&](const std::string& f) { return [&, f] { load_image(d / f); }; };
  std::vector<Row> rows = {
      {"zero-byte file", load("zero.jpg"), {"zero.jpg", "empty (0 bytes)"}},
      {"JPEG cut in half", load("half.jpg"), {"half.jpg", "truncated JPEG"}},
      {"JPEG without its end marker", load("no_eoi.jpg"), {"no_eoi.jpg", "truncated JPEG"}},
      {"JPEG cut in its header", load("header_only.jpg"), {"header_only.jpg", "truncated JPEG"}},
      {"PNG cut in half", load("half.png"), {"half.png", "corrupt or truncated PNG"}},
      {"WebP cut in half", load("half.webp"), {"half.webp", "truncated WebP"}},
      {"TIFF cut in its pixels", load("half.tif"), {"half.tif", "truncated TIFF at row"}},
      {"TIFF cut in its header", load("head.tif"), {"head.tif", "corrupt or truncated TIFF header"}},
      {"HTML saved as .png", load("text.png"), {"text.png", "not a JPEG, PNG", "3c 68 74 6d"}},
      {"ASCII PPM (stb reads binary ones only)", load("ascii.ppm"), {"ascii.ppm", "a PNM of type P3", "convert it to PNG"}},
      {"folder named like an image", load("folder.jpg"), {"folder.jpg", "is a folder, not an image file"}},
      {"non-UTF-8 file name", [&] { load_image(latin1); }, {latin1, "truncated JPEG"}},
      {"missing file", load("gone.png"), {"gone.png", "cannot open"}},
      {"CSV with a duplicate row", [&] { CsvDataset(d / "dup.csv"); }, {"dup.csv", "line 4", "'real.png' is already listed on line 2"}},
      {"CSV row without a label", [&] { CsvDataset(d / "nolabel.csv"); }, {"nolabel.csv", "line 2", "expected <file>,<label>"}},
      {"CSV label outside the classes", [&] { CsvDataset(d / "negative.csv"); }, {"negative.csv", "negative label -1"}},
      {"CSV naming a folder", [&] { CsvDataset(d / "folder.csv").get(0); }, {"folder.jpg", "is a folder"}},
      {"NaN in a weights file", [&] { Sequential m{std::make_shared<Linear>(4, 3)}; load_weights(m, d / "nan.h5"); },
       {"nan.h5", "0.weight", "1 non-finite value(s) (nan at flat index 5 of 12)"}},
      {"inf in a weights file", [&] { Sequential m{std::make_shared<Linear>(4, 3)}; load_weights(m, d / "inf.h5"); },
       {"inf.h5", "0.bias", "inf at flat index 2"}},
      {"weights for another class count", [&] { load_weights(five, d / "three.h5"); },
       {"three.h5", "0.weight", "[3, 4]", "[5, 4]", "another architecture or number of classes"}},
      {"checkpoint of another model", [&] { load_checkpoint(d / "ckpt.h5", "spec:linear(5)"); },
       {"ckpt.h5", "saved from a 'spec:linear(3)' model, but this run builds a 'spec:linear(5)' model"}},
  };
  for (const Row& r : rows) {
    const std::string msg = error_of(r.act);
    INFO(r.what << ": \"" << msg << "\"");
    CHECK(!msg.empty());
    for (const std::string& e : r.expect) CHECK(msg.find(e) != std::string::npos);
    // Short enough to read at once (the longest expected, the bomb message, is ~330 chars).
    CHECK(msg.size() < 400);
  }

  // The good CSV: BOM (in the header row), CRLF, quotes and blank lines change nothing.
  CsvDataset good(d / "good.csv");
  CHECK(good.size() == 2);
  CHECK(good.class_names() == std::vector<std::string>{"cat", "dog"});
  CHECK(fs::path(good.source(0)).filename() == "a,b.png");
  CHECK(good.get(0).image.W == 8);
  // A non-UTF-8 name that decodes is listed and read like any other (names are bytes).
  write_bytes(d / "folder/cls/caf\xe9.png", png_bytes(d, small));
  ImageFolder latin(d / "folder");
  REQUIRE(latin.size() == 1);
  CHECK(latin.get(0).image.H == 6);
}

TEST_CASE("hostile inputs: an unreadable file names itself (as a non-root user)") {
  if (::geteuid() == 0) {
    MESSAGE("skipped: running as root, who can read any file");
    return;
  }
  TempDir d("unreadable");
  save_png(gradient(4, 4), d / "locked.png");
  fs::permissions(d / "locked.png", fs::perms::none);
  CHECK_THROWS_WITH(load_image(d / "locked.png"), doctest::Contains("locked.png': cannot open the file"));
}

TEST_CASE("pixel limit: a header claiming too many pixels is refused before decoding, in every format") {
  TempDir d("bombs");
  const Image img = gradient(16, 16);
  // Real files whose header size fields are patched to lie (the pixel data stays small).
  Bytes png = png_bytes(d, img);
  auto be32 = [](Bytes& b, size_t at, uint32_t v) { for (int i = 0; i < 4; ++i) b[at + i] = uint8_t(v >> (24 - 8 * i)); };
  be32(png, 16, 100000), be32(png, 20, 100000);  // IHDR width, height
  Bytes jpg = jpeg_bytes(d, img);
  for (size_t i = 2; i + 8 < jpg.size(); ++i)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {  // SOF0: length(2) precision(1) height(2) width(2)
      jpg[i + 5] = jpg[i + 6] = jpg[i + 7] = jpg[i + 8] = 0xEA;  // 60138 x 60138
      break;
    }
  Bytes webp = webp_bytes(img);
  webp[21] = webp[22] = webp[23] = 0xFF;  // VP8L: 14 bits width-1, 14 bits height-1
  webp[24] |= 0x0F;                       // -> 16384 x 16384
  Bytes gif = {'G', 'I', 'F', '8', '9', 'a', 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0x3B};  // 65535 x 65535
  Bytes bmp(54, 0);
  bmp[0] = 'B', bmp[1] = 'M', bmp[14] = 40;
  bmp[18] = 0x40, bmp[19] = 0x9C;            // width 40000
  bmp[22] = 0xC0, bmp[23] = 0x63, bmp[24] = 0xFF, bmp[25] = 0xFF;  // height -40000: top-down
  Bytes tif = tiff_bytes(img, 100000, 100000);
  struct Bomb { const char* file; Bytes bytes; const char* claim; };
  for (const Bomb& b : {Bomb{"big.png", png, "PNG header claims 100000x100000 = 10000000000 pixels"},
                        Bomb{"big.jpg", jpg, "JPEG header claims 60138x60138 = 3616579044 pixels"},
                        Bomb{"big.webp", webp, "WebP header claims 16384x16384 = 268435456 pixels"},
                        Bomb{"big.gif", gif, "GIF header claims 65535x65535 = 4294836225 pixels"},
                        Bomb{"big.bmp", bmp, "BMP header claims 40000x40000 = 1600000000 pixels"},
                        Bomb{"big.tif", tif, "TIFF header claims 100000x100000 = 10000000000 pixels"}}) {
    write_bytes(d / b.file, b.bytes);
    const std::string msg = error_of([&] { load_image(d / b.file); });
    INFO(b.file << ": " << msg);
    CHECK(msg.find(std::string(b.file) + "'") != std::string::npos);
    CHECK(msg.find(b.claim) != std::string::npos);
    CHECK(msg.find("more than the limit of 89478485") != std::string::npos);
    CHECK(msg.find("GRAFT_MAX_IMAGE_PIXELS") != std::string::npos);
  }
}

TEST_CASE("pixel limit: set_max_image_pixels and GRAFT_MAX_IMAGE_PIXELS raise or lower it") {
  TempDir d("limit");
  save_png(gradient(6, 8), d / "48.png");  // 48 pixels
  CHECK(max_image_pixels() == kDefaultMaxImagePixels);
  ::setenv("GRAFT_MAX_IMAGE_PIXELS", "47", 1);
  CHECK_THROWS_WITH(load_image(d / "48.png"), doctest::Contains("8x6 = 48 pixels, more than the limit of 47"));
  ::setenv("GRAFT_MAX_IMAGE_PIXELS", "48", 1);
  CHECK(load_image(d / "48.png").W == 8);  // the limit itself is allowed, as PIL's
  ::setenv("GRAFT_MAX_IMAGE_PIXELS", "lots", 1);
  CHECK_THROWS_WITH(max_image_pixels(), doctest::Contains("GRAFT_MAX_IMAGE_PIXELS='lots' is not a pixel count"));
  ::setenv("GRAFT_MAX_IMAGE_PIXELS", "0", 1);  // no limit
  CHECK(max_image_pixels() == 0);
  // With no limit, a claim beyond 2^40 pixels is still refused (the size math would overflow).
  Bytes huge = png_bytes(d, gradient(2, 2));
  for (size_t at : {16, 20}) huge[at] = 0x77, huge[at + 1] = 0x35, huge[at + 2] = 0x94, huge[at + 3] = 0;  // 2000000000
  write_bytes(d / "huge.png", huge);
  CHECK_THROWS_WITH(load_image(d / "huge.png"),
                    doctest::Contains("2000000000x2000000000 = 4000000000000000000 pixels, more than any memory holds"));
  set_max_image_pixels(10);  // the program's setting wins over the environment
  CHECK_THROWS_WITH(load_image(d / "48.png"), doctest::Contains("more than the limit of 10"));
  set_max_image_pixels(-1);
  ::unsetenv("GRAFT_MAX_IMAGE_PIXELS");
  CHECK(max_image_pixels() == kDefaultMaxImagePixels);
}

TEST_CASE("ImageFolder: a symbolic-link loop in a class folder is named briefly, relative to the root") {
  TempDir d("symlink_loop");
  save_png(gradient(4, 4), d / "tmp.png");
  fs::create_directories(d / "cat/sub");
  fs::create_directories(d / "dog");
  fs::copy_file(d / "tmp.png", d / "cat/1.png");
  fs::copy_file(d / "tmp.png", d / "dog/1.png");
  fs::remove(d / "tmp.png");
  fs::create_directory_symlink("../..", d / "cat/sub/up");  // cat/sub/up -> the root, which holds it
  std::string msg = error_of([&] { ImageFolder ds(d.path.string()); });
  INFO(msg);
  CHECK(msg.find("'cat/sub/up' is a symbolic link loop") != std::string::npos);
  CHECK(msg.size() < 300);  // the std::filesystem error repeats the path until ELOOP
  fs::remove(d / "cat/sub/up");
  fs::create_symlink("self", d / "dog/self");  // a link to itself: ELOOP when followed
  msg = error_of([&] { ImageFolder ds(d.path.string()); });
  INFO(msg);
  CHECK(msg.find("'dog/self' is a symbolic link that cannot be followed") != std::string::npos);
  fs::remove(d / "dog/self");
  fs::create_directory_symlink("../cat", d / "dog/also_cats");  // a link elsewhere: followed
  ImageFolder ok(d.path.string());
  CHECK(ok.size() == 3);
}

TEST_CASE("decoders: damaged files of every format fail with ImageError or decode, never crash") {
  // A small fixed-seed fuzz: flip, zero or cut bytes of valid files, decode each variant. Under
  // the sanitizers (tests/run_sanitizers.sh) this also proves no out-of-bounds access. The
  // pixel limit is lowered so a damaged header cannot make a decoder allocate much.
  TempDir d("damaged");
  const Image img = gradient(16, 24);
  Bytes gif = {'G', 'I', 'F', '8', '9', 'a', 2, 0, 2, 0, 0x80, 0, 0, 0, 0, 0, 255, 255, 255,
               0x2C, 0, 0, 0, 0, 2, 0, 2, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3B};  // 2x2, 2 colors
  const std::vector<std::pair<const char*, Bytes>> files = {
      {"jpeg", jpeg_bytes(d, img)}, {"png", png_bytes(d, img)}, {"webp", webp_bytes(img)},
      {"tiff", tiff_bytes(img, 24, 16)}, {"gif", gif}};
  set_max_image_pixels(1 << 16);
  uint64_t state = 12345;
  auto next = [&] { return state = state * 6364136223846793005ull + 1442695040888963407ull, state >> 33; };
  int decoded = 0, refused = 0;
  for (const auto& [format, good] : files) {
    REQUIRE_NOTHROW(decode_image(good.data(), good.size(), format));
    for (int trial = 0; trial < 300; ++trial) {
      Bytes b = good;
      const int kind = int(next() % 3);
      if (kind == 0)
        for (int k = 0; k < 1 + int(next() % 4); ++k) b[next() % b.size()] ^= uint8_t(1 + next() % 255);
      else if (kind == 1)
        b[next() % std::min<size_t>(b.size(), 64)] = uint8_t(next());  // the header
      else
        b.resize(1 + next() % (b.size() - 1));
      try {
        Image out = decode_image(b.data(), b.size(), format);
        CHECK(out.data.size() == size_t(out.H * out.W * 3));
        ++decoded;
      } catch (const ImageError&) {
        ++refused;
      } catch (const std::exception& e) {
        FAIL_CHECK(format << " trial " << trial << ": not an ImageError: " << e.what());
      }
    }
  }
  set_max_image_pixels(-1);
  MESSAGE(decoded << " damaged files decoded (damage inside pixel data), " << refused << " refused");
  CHECK(refused > 0);
}
