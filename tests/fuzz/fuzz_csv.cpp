// tests/fuzz/fuzz_csv.cpp — graft::CsvDataset on an arbitrary CSV file. The images folder holds
// a few files the CSV may name ("a.png", "b.jpg", "c d.png", "0"), so inputs get past the
// "files do not exist" check into label parsing; then every sample's label and source are read.
// Accepted outcomes: a dataset whose labels index its class list, or std::runtime_error.
#include <stdexcept>
#include <string>

#include "data/datasets.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  for (const char* name : {"a.png", "b.jpg", "c d.png", "0"}) fuzz::write_file(name, nullptr, 0);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string csv = fuzz::write_file("list.csv", data, size);
  fuzz::expect_only<std::runtime_error>([&] {
    graft::CsvDataset ds(csv);
    const auto& classes = ds.class_names();
    if (ds.size() <= 0) fuzz::fail("a CSV dataset without samples was accepted");
    for (int64_t i = 0; i < ds.size(); ++i) {
      const int64_t l = ds.label(i);
      if (l < 0 || l >= int64_t(classes.size()))
        fuzz::fail("label " + std::to_string(l) + " outside the " + std::to_string(classes.size()) + " classes");
      if (ds.source(i).empty()) fuzz::fail("a sample without a source");
    }
  });
  return 0;
}
