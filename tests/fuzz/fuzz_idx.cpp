// tests/fuzz/fuzz_idx.cpp — graft::IdxDataset (MNIST's IDX format, raw or gzip) on arbitrary
// bytes. The input is split in two files: the first byte says where (as a fraction of the
// rest), the first part is the images file, the second the labels file. Both go through zlib
// (gzread reads raw files as they are, and gzip streams when they start with 1f 8b).
// Accepted outcomes: a dataset whose every sample can be read, or std::runtime_error.
#include <stdexcept>
#include <string>

#include "data/datasets.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t rest = size - 1, cut = rest * data[0] / 255;
  const std::string images = fuzz::write_file("images-idx3-ubyte", data + 1, cut);
  const std::string labels = fuzz::write_file("labels-idx1-ubyte", data + 1 + cut, rest - cut);
  fuzz::expect_only<std::runtime_error>([&] {
    std::vector<int64_t> dims;
    graft::read_idx(images, dims);
  });
  fuzz::expect_only<std::runtime_error>([&] {
    graft::IdxDataset ds(images, labels, /*three_channels=*/data[0] & 1);
    for (int64_t i = 0; i < ds.size(); ++i) {
      const graft::Sample s = ds.get(i);
      if (s.label < 0 || s.label >= int64_t(ds.class_names().size())) fuzz::fail("label outside the class list");
      if (s.image.data.size() != size_t(s.image.H * s.image.W * s.image.C)) fuzz::fail("image size mismatch");
    }
  });
  return 0;
}
