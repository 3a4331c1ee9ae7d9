// tests/test_fuzz_findings.cpp — what the fuzz targets (tests/fuzz, docs/reliability.md
// "Fuzzing") found, each fed again through graft's normal API, expecting the clear error that
// the fix gives (before the fix: a crash, undefined behaviour, a wrong exception type or
// billions of allocations). The expected messages are the fixes' own words; what makes each
// row able to fail is that the input used to produce something else entirely.
//
// Rows marked "(review)" were found while writing the targets, by reading the code they
// reach, and fixed before the targets ran; the targets cover them now.
#include <hdf5.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "data/datasets.h"
#include "data/pipeline.h"
#include "models/spec.h"
#include "tensor/hdf5_io.h"
#include "testing.h"
#include "train/checkpoint.h"

using namespace graft;
using testing::TempDir;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

struct Row {
  const char* what;
  std::function<void()> act;
  std::vector<std::string> expect;  // fragments the message must hold
};

void check_rows(const std::vector<Row>& rows) {
  for (const Row& r : rows) {
    const std::string msg = error_of(r.act);
    INFO(r.what << ": \"" << msg << "\"");
    CHECK(!msg.empty());
    for (const auto& e : r.expect) CHECK_MESSAGE(msg.find(e) != std::string::npos, "missing: " << e);
  }
}

// An HDF5 file written with the C API, as fuzz_hdf5 writes them (h5py makes the same files).
struct H5Writer {
  hid_t file;
  explicit H5Writer(const std::string& path) : file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) {
    REQUIRE(file >= 0);
  }
  ~H5Writer() { H5Fclose(file); }
  // A float32 dataset of any dims; huge ones are chunked and never written (the file stays small).
  void dataset(const std::string& name, std::vector<hsize_t> dims, const std::vector<float>& values = {},
               hid_t type = H5T_IEEE_F32LE) {
    hid_t space = H5Screate_simple(int(dims.size()), dims.data(), nullptr);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (values.empty()) {
      std::vector<hsize_t> chunk(dims.size(), 1);
      H5Pset_chunk(dcpl, int(chunk.size()), chunk.data());
      H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_LATE);
    }
    hid_t ds = H5Dcreate2(file, name.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    REQUIRE(ds >= 0);
    if (!values.empty()) H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
  }
  void number(const std::string& name, double v) {
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(file, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_DOUBLE, &v);
    H5Aclose(a);
    H5Sclose(space);
  }
  // Variable-length strings (one: a scalar attribute) in the given character set.
  void strings(const std::string& name, const std::vector<std::string>& values, H5T_cset_t cset, bool scalar = false) {
    hsize_t n = values.size();
    hid_t space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, cset);
    hid_t a = H5Acreate2(file, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
    std::vector<const char*> ptrs;
    for (const auto& v : values) ptrs.push_back(v.c_str());
    H5Awrite(a, type, ptrs.data());
    H5Aclose(a);
    H5Tclose(type);
    H5Sclose(space);
  }
  // One fixed-length UTF-8 string per value (h5py: h5py.string_dtype("utf-8", length)).
  void fixed_utf8(const std::string& name, const std::vector<std::string>& values, size_t len) {
    hsize_t n = values.size();
    hid_t space = H5Screate_simple(1, &n, nullptr);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, len);
    H5Tset_cset(type, H5T_CSET_UTF8);
    std::string buf(n * len, '\0');
    for (size_t i = 0; i < n; ++i) values[i].copy(buf.data() + i * len, len);
    hid_t a = H5Acreate2(file, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, type, buf.data());
    H5Aclose(a);
    H5Tclose(type);
    H5Sclose(space);
  }
};

}  // namespace

TEST_CASE("fuzz findings: CSV lists") {
  TempDir d("fuzz_csv");
  write_bytes(d / "a.png", "");
  // fuzz_csv: a NUL byte as the file name named the CSV's own folder, and its label beyond
  // int64 escaped as std::out_of_range("stoll"). The exact input:
  write_bytes(d / "crash.csv", std::string("{?\n\0,", 5) + std::string(23, '2') + "1,");  // 30 bytes
  write_bytes(d / "huge_label.csv", "file,label\na.png,99999999999999999999\n");
  // (review) 10^12 as a class index made 10^12 class names "0".."999999999999".
  write_bytes(d / "many_classes.csv", "file,label\na.png,1000000000000\n");
  check_rows({
      {"fuzz_csv crash input", [&] { CsvDataset(d / "crash.csv"); }, {"crash.csv", "line 2", "NUL byte"}},
      {"label beyond int64", [&] { CsvDataset(d / "huge_label.csv"); },
       {"huge_label.csv", "line 2", "label 99999999999999999999 is not a class index", "below 1000000"}},
      {"label 10^12", [&] { CsvDataset(d / "many_classes.csv"); },
       {"many_classes.csv", "line 2", "label 1000000000000 is not a class index"}},
  });
  // The largest index allowed still works (classes 0..999999).
  write_bytes(d / "ok.csv", "file,label\na.png,999999\n");
  CHECK(CsvDataset(d / "ok.csv").class_names().size() == 1000000);
}

TEST_CASE("fuzz findings: IDX headers") {
  TempDir d("fuzz_idx");
  // fuzz_idx: UBSan reported "signed integer overflow: 4294967295 * 4294967295" in the product
  // of the dims (the size check then compared the bytes present with a wrapped number). Its
  // input was not kept (that first run let UBSan continue); this is that header, two dims.
  write_bytes(d / "images", std::string("\0\0\x08\x02\xff\xff\xff\xff\xff\xff\xff\xff", 12));
  // Three dims whose product wraps to exactly the bytes present (2^32 * 2^32 * 1 = 2^64 = 0
  // modulo 2^64 in the old arithmetic): 2^32 - 1 is the largest dim, so use 65536^4 = 2^64.
  write_bytes(d / "wrap", std::string("\0\0\x08\x04\0\x01\0\0\0\x01\0\0\0\x01\0\0\0\x01\0\0", 20));
  std::vector<int64_t> dims;
  check_rows({
      {"fuzz_idx overflow input", [&] { read_idx(d / "images", dims); },
       {"images", "holds 0 data bytes, but its header says 4294967295 x 4294967295"}},
      {"dims whose product wraps to 0", [&] { read_idx(d / "wrap", dims); },
       {"wrap", "header says 65536 x 65536 x 65536 x 65536"}},
  });
}

TEST_CASE("fuzz findings: transform specs (review)") {
  // Numbers beyond int64 were converted to int64 (undefined behaviour), NaN passed every range
  // check (NaN compares false), and negative jitter amounts were taken.
  check_rows({
      {"resize=1e30", [] { Pipeline::parse("resize=1e30"); }, {"'resize=1e30'", "size '1e30' must be a whole number from 1 to 65536"}},
      {"resize=70000", [] { Pipeline::parse("resize=70000"); }, {"size '70000'", "from 1 to 65536"}},
      {"trivial_augment=nan", [] { Pipeline::parse("trivial_augment=nan"); }, {"'nan' is not a finite number"}},
      {"trivial_augment=1e300", [] { Pipeline::parse("trivial_augment=1e300"); }, {"magnitude bins '1e300'", "from 2 to 10000"}},
      {"rand_augment=1e19:1", [] { Pipeline::parse("rand_augment=1e19:1"); }, {"num_ops '1e19'", "from 0 to 100"}},
      {"hflip=nan", [] { Pipeline::parse("hflip=nan"); }, {"'hflip=nan'", "not a finite number"}},
      {"rotation=inf", [] { Pipeline::parse("rotation=inf"); }, {"'inf' is not a finite number"}},
      {"rotation=0x1p315", [] { Pipeline::parse("rotation=0x1p315"); }, {"'rotation=0x1p315'", "degrees must be from 0 to 360"}},
      {"rotation=-5", [] { Pipeline::parse("rotation=-5"); }, {"degrees must be from 0 to 360"}},
      {"color_jitter=-1", [] { Pipeline::parse("color_jitter=-1"); }, {"must be >= 0"}},
      {"color_jitter=0:0:0:-0.1", [] { Pipeline::parse("color_jitter=0:0:0:-0.1"); }, {"hue must be in [0, 0.5]"}},
  });
  CHECK_NOTHROW(Pipeline::parse("resize=65536,trivial_augment=10000,rand_augment=100:9999:10000"));
}

TEST_CASE("fuzz findings: layer specs (review)") {
  // Arguments up to 2^63 went into in + 2 * padding and C * H * W (signed overflow).
  check_rows({
      {"padding near 2^62", [] { plan_spec("conv(8, 3, padding=4611686018427387904)", {3, 8, 8}); },
       {"argument 'padding' must be at most 16777216", "layer 1"}},
      {"an output of 2^54 values", [] { plan_spec("adaptiveavgpool(16777216) flatten", {64, 8, 8}); },
       {"adaptiveavgpool(16777216)", "more than 2^40 values per sample"}},
      {"an input size of 0", [] { plan_spec("relu", {3, 0, 8}); }, {"sizes >= 1", "[3, 0, 8]"}},
  });
}

TEST_CASE("fuzz findings: HDF5 weights, checkpoints and features files") {
  TempDir d("fuzz_hdf5");
  {
    // (review) A dataset claiming 2^40 floats (4 TB) with no data stored: read() allocated it.
    H5Writer w(d / "huge.h5");
    w.dataset("0.weight", {hsize_t(1) << 20, hsize_t(1) << 20});
  }
  {
    // (review) 2^32 x 2^32 = 2^64 elements: the element count overflowed int64 (to 0 in
    // practice), so read() allocated nothing and asked HDF5 to fill 2^64 values into it.
    H5Writer w(d / "beyond.h5");
    w.dataset("0.weight", {hsize_t(1) << 32, hsize_t(1) << 32});
  }
  {
    // fuzz_hdf5 (its first seeds): h5py's ASCII variable-length strings (string_dtype("ascii"))
    // and fixed-length UTF-8 ones could not be read: HDF5 does not convert between character
    // sets, graft asked for UTF-8 (resp. ASCII) and then said "'keys' is a list, expected one
    // string" or loaded no key at all.
    H5Writer w(d / "ascii.h5");
    w.dataset("w", {2}, {1.0f, 2.0f});
    w.strings("keys", {"w"}, H5T_CSET_ASCII);
    w.strings("architecture", {"other"}, H5T_CSET_ASCII, /*scalar=*/true);
    w.fixed_utf8("class_names", {"cat", "dog"}, 4);
  }
  {
    // (review) An epoch of NaN was converted to int64 (undefined behaviour).
    H5Writer w(d / "nan_epoch.h5");
    w.number("graft_checkpoint", 2);
    w.strings("run", {"spec:linear(3)"}, H5T_CSET_UTF8, true);
    w.number("epoch", std::nan(""));
  }
  {
    // (review) Negative labels passed FeaturesDataset and indexed the class list at -3.
    H5Writer w(d / "negative.h5");
    w.dataset("features", {2, 1}, {1.0f, 2.0f});
    w.dataset("labels", {2}, {0.0f, -3.0f}, H5T_STD_I64LE);
  }
  check_rows({
      {"2^40 floats claimed", [&] { load_tensors(d / "huge.h5"); },
       {"huge.h5", "dataset '0.weight' has the shape [1048576, 1048576]", "more than this machine's"}},
      {"2^64 elements", [&] { load_tensors(d / "beyond.h5"); },
       {"beyond.h5", "'0.weight' claims the shape [4294967296, 4294967296]", "more elements than any tensor"}},
      {"epoch NaN", [&] { load_checkpoint(d / "nan_epoch.h5"); },
       {"nan_epoch.h5", "attribute 'epoch' is nan, not a count"}},
      {"negative label", [&] { FeaturesDataset(d / "negative.h5"); },
       {"negative.h5", "label -3 is not a class index"}},
  });
  H5File f(d / "ascii.h5", H5File::Mode::Read);
  CHECK(f.attr_strings("keys") == std::vector<std::string>{"w"});
  CHECK(f.attr_string("architecture") == "other");
  CHECK(f.attr_strings("class_names") == std::vector<std::string>{"cat", "dog"});
}
