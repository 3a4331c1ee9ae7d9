// tests/test_data_datasets.cpp — ImageFolder, CSV, IDX, features files, splits, bad input.
// Every test builds its own files in a fresh temporary folder.
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

#include "data/datasets.h"
#include "data/split.h"
#include "testing.h"

using namespace graft;
namespace fs = std::filesystem;

using testing::TempDir;

namespace {
Image gradient(int64_t h, int64_t w, int seed) {
  Image img(h, w);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img.at(y, x, c) = uint8_t((x * 7 + y * 3 + c * 50 + seed * 31) % 256);
  return img;
}
void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}
void png(const std::string& path, int seed = 0) {
  fs::create_directories(fs::path(path).parent_path());
  save_png(gradient(6, 8, seed), path);
}
}  // namespace

TEST_CASE("data: ImageFolder classes, order, extensions and hidden files as torchvision") {
  TempDir d("imagefolder");
  png(d / "dog/b.png");
  png(d / "dog/A.PNG");                        // extension check is case-insensitive
  png(d / "dog/sub/c.png");                    // os.walk recurses; sub-folder after the folder's own files
  write_text(d / "dog/notes.txt", "x");        // not an image extension: ignored
  png(d / "dog/.hidden.png");                  // hidden: ignored
  png(d / "cat/1.png");
  png(d / ".ipynb_checkpoints/x.png");         // hidden folder: not a class
  ImageFolder ds(d.path.string());
  REQUIRE(ds.class_names() == std::vector<std::string>{"cat", "dog"});
  REQUIRE(ds.size() == 4);
  // Expected order by hand: classes sorted; inside "dog" files sorted by byte ("A" < "b"),
  // then the sub-folder.
  CHECK(fs::path(ds.source(0)).filename() == "1.png");
  CHECK(fs::path(ds.source(1)).filename() == "A.PNG");
  CHECK(fs::path(ds.source(2)).filename() == "b.png");
  CHECK(fs::path(ds.source(3)).filename() == "c.png");
  CHECK(ds.labels() == std::vector<int64_t>{0, 1, 1, 1});
  Sample s = ds.get(2);
  CHECK(s.image.H == 6);
  CHECK(s.image.W == 8);
  CHECK(s.label == 1);
  CHECK(has_image_extension("x.JpEg"));
  CHECK(has_image_extension("x.webp"));
  CHECK_FALSE(has_image_extension("x.gif"));  // torchvision's IMG_EXTENSIONS has no .gif
}

TEST_CASE("data: ImageFolder errors name the folder and the empty classes") {
  TempDir d("imagefolder_bad");
  CHECK_THROWS_WITH(ImageFolder(d / "missing"), doctest::Contains("missing"));
  CHECK_THROWS_WITH(ImageFolder(d.path.string()), doctest::Contains("couldn't find any class folder"));
  png(d / "a/1.png");
  fs::create_directories(d / "b");
  write_text(d / "c/readme.txt", "no images here");
  CHECK_THROWS_WITH(ImageFolder(d.path.string()), doctest::Contains("Found no valid file for the classes b, c"));
  CHECK_THROWS_WITH(ImageFolder(d.path.string()), doctest::Contains(d.path.string().c_str()));
}

TEST_CASE("data: corrupt images throw ImageError naming the file") {
  TempDir d("corrupt");
  save_jpeg(gradient(64, 64, 1), d / "good.jpg");
  auto bytes = read_file_bytes(d / "good.jpg");
  std::ofstream(d / "truncated.jpg", std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), long(bytes.size() / 2));
  write_text(d / "zero.png", "");
  save_png(gradient(64, 64, 2), d / "good.png");
  auto png_bytes = read_file_bytes(d / "good.png");
  write_text(d / "text.jpg", "this is not an image\n");
  CHECK_NOTHROW(load_image(d / "good.jpg"));
  std::ofstream(d / "truncated.png", std::ios::binary).write(reinterpret_cast<const char*>(png_bytes.data()), long(png_bytes.size() / 2));
  for (std::string name : {"truncated.jpg", "truncated.png", "zero.png", "text.jpg", "does_not_exist.png"}) {
    INFO(name);
    CHECK_THROWS_AS(load_image(d / name), ImageError);
    CHECK_THROWS_WITH(load_image(d / name), doctest::Contains((d / name).c_str()));
  }
  CHECK_THROWS_WITH(load_image(d / "zero.png"), doctest::Contains("empty"));
  CHECK_THROWS_WITH(load_image(d / "truncated.jpg"), doctest::Contains("truncated"));
}

TEST_CASE("data: CsvDataset with string and integer labels; missing files listed") {
  TempDir d("csv");
  for (int i = 0; i < 4; ++i) png(d / ("img/" + std::to_string(i) + ".png"), i);
  write_text(d / "img/labels.csv", "image_names,label\n0.png,zebra\n1.png,ant\n\"2.png\",zebra\n3.png,bee\n");
  CsvDataset s(d / "img/labels.csv");
  CHECK(s.class_names() == std::vector<std::string>{"ant", "bee", "zebra"});
  CHECK(s.labels() == std::vector<int64_t>{2, 0, 2, 1});
  CHECK(s.get(3).image.W == 8);
  write_text(d / "ints.csv", "file,y\n0.png,3\n1.png,0\r\n2.png,3\n");
  CsvDataset n(d / "ints.csv", d / "img");
  CHECK(open_dataset(d / "img/labels.csv")->num_classes() == 3);
  CHECK(n.labels() == std::vector<int64_t>{3, 0, 3});
  CHECK(n.num_classes() == 4);
  std::string rows = "f,l\n";
  for (int i = 0; i < 8; ++i) rows += "gone" + std::to_string(i) + ".png,1\n";
  write_text(d / "img/missing.csv", rows);
  CHECK_THROWS_WITH(CsvDataset(d / "img/missing.csv"), doctest::Contains("8 of 8 files"));
  CHECK_THROWS_WITH(CsvDataset(d / "img/missing.csv"), doctest::Contains("gone0.png, gone1.png, gone2.png, gone3.png, gone4.png, ..."));
  CHECK_THROWS_WITH(CsvDataset(d / "nope.csv"), doctest::Contains("nope.csv"));
}

TEST_CASE("data: IdxDataset reads gzip and raw MNIST files") {
  TempDir d("idx");
  // 3 images of 2x3, written by hand in the IDX format: magic 0x00000803, dims big-endian.
  std::vector<uint8_t> img = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 3};
  for (int i = 0; i < 18; ++i) img.push_back(uint8_t(i * 10));
  std::vector<uint8_t> lab = {0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9};
  std::ofstream(d / "raw-images", std::ios::binary).write(reinterpret_cast<const char*>(img.data()), long(img.size()));
  gzFile g = gzopen((d / "labels.gz").c_str(), "wb");
  gzwrite(g, lab.data(), unsigned(lab.size()));
  gzclose(g);
  IdxDataset ds(d / "raw-images", d / "labels.gz");
  fs::copy_file(d / "raw-images", d / "t10k-images-idx3-ubyte");
  fs::copy_file(d / "labels.gz", d / "t10k-labels-idx1-ubyte.gz");
  CHECK(IdxDataset::from_folder(d.path.string(), false).size() == 3);
  CHECK(open_dataset(d.path.string(), false)->size() == 3);  // an IDX folder
  CHECK_THROWS_WITH(IdxDataset::from_folder(d.path.string(), true), doctest::Contains("train-images-idx3-ubyte"));
  REQUIRE(ds.size() == 3);
  CHECK(ds.label(0) == 7);
  CHECK(ds.label(2) == 9);
  Sample s = ds.get(1);
  CHECK(s.image.C == 1);
  CHECK(s.image.at(0, 0, 0) == 60);  // image 1 starts at byte 6: 6*10
  CHECK(s.image.at(1, 2, 0) == 110);
  IdxDataset rgb(d / "raw-images", d / "labels.gz", true, kFashionMnistClasses);
  CHECK(rgb.get(1).image.C == 3);
  CHECK(rgb.class_names()[9] == "Ankle boot");
  img.pop_back();
  std::ofstream(d / "short", std::ios::binary).write(reinterpret_cast<const char*>(img.data()), long(img.size()));
  CHECK_THROWS_WITH(IdxDataset(d / "short", d / "labels.gz"), doctest::Contains("truncated"));
}

TEST_CASE("data: FeaturesDataset round trip through save_features") {
  TempDir d("features");
  Tensor feats = testing::random_tensor({5, 4}, 7);
  save_features(d / "f.h5", feats, {1, 0, 1, 2, 0}, {"a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"}, {"x", "y", "z"});
  FeaturesDataset ds(d / "f.h5");
  REQUIRE(ds.size() == 5);
  CHECK(ds.class_names() == std::vector<std::string>{"x", "y", "z"});
  CHECK(ds.label(3) == 2);
  CHECK(ds.source(1) == "b.jpg");
  CHECK(open_dataset(d / "f.h5")->num_classes() == 3);
  CHECK_CLOSE("row 2", ds.get(2).tensor, feats.slice(2, 3).view({4}), 0, 0);
  CHECK_THROWS_WITH(FeaturesDataset(d / "none.h5"), doctest::Contains("none.h5"));
}

TEST_CASE("data: splits by fraction, stratified, n per class") {
  std::vector<int64_t> labels;
  for (int i = 0; i < 100; ++i) labels.push_back(i < 60 ? 0 : (i < 90 ? 1 : 2));  // 60/30/10
  auto parts = split_indices(labels, {0.7, 0.2, 0.1}, 5);
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].size() == 70);
  CHECK(parts[1].size() == 20);
  CHECK(parts[2].size() == 10);
  std::set<int64_t> all;
  for (auto& p : parts) all.insert(p.begin(), p.end());
  CHECK(all.size() == 100);  // a partition: disjoint and complete
  CHECK(split_indices(labels, {0.7, 0.2, 0.1}, 5) == parts);  // same seed, same split
  CHECK(split_indices(labels, {0.7, 0.2, 0.1}, 6) != parts);
  auto strat = split_indices(labels, {0.5, 0.25, 0.25}, 1, true);
  auto count = [&](const std::vector<int64_t>& idx, int64_t c) {
    return std::count_if(idx.begin(), idx.end(), [&](int64_t i) { return labels[i] == c; });
  };
  // By hand: class 0 (60) -> 30/15/15; class 1 (30) -> 15/7/7 + 1 to the first part = 16/7/7;
  // class 2 (10) -> 5/2/2 + 1 -> 6/2/2.
  CHECK(count(strat[0], 0) == 30);
  CHECK(count(strat[1], 0) == 15);
  CHECK(count(strat[0], 1) == 16);
  CHECK(count(strat[2], 1) == 7);
  CHECK(count(strat[0], 2) == 6);
  CHECK(count(strat[2], 2) == 2);
  auto few = n_per_class_indices(labels, 4, 3);
  CHECK(few.size() == 12);
  CHECK(count(few, 2) == 4);
  CHECK_THROWS_WITH(split_indices(labels, {0.5, 0.4}, 0), doctest::Contains("sum to 1"));
}
