// tests/fuzz/fuzz_transform_spec.cpp — graft::Pipeline::parse (the --transform text of
// src/data/pipeline.h, augment words included) on arbitrary text; a spec that parses is then
// run on a small image (1..16 pixels a side, RGB or gray, chosen by the input's length) to the
// normalized tensor, with a generator seeded by the input.
// Accepted outcomes: a [C,H,W] tensor, or std::invalid_argument (parse errors; normalize's
// channel check).
//
// Running the pipeline is skipped when the spec holds a number of 4 or more digits or an
// exponent (1e9): "resize=60000" parses, as it should, and then asks for a 10 GB image.
#include <cctype>
#include <stdexcept>
#include <string>

#include "data/pipeline.h"
#include "fuzz_common.h"

namespace {
bool asks_for_large_sizes(const std::string& s) {
  size_t digits = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool d = std::isdigit(static_cast<unsigned char>(s[i]));
    digits = d ? digits + 1 : 0;
    if (digits >= 4) return true;
    if ((s[i] == 'e' || s[i] == 'E') && i > 0 && (std::isdigit(static_cast<unsigned char>(s[i - 1])) || s[i - 1] == '.'))
      return true;
  }
  return false;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string spec(reinterpret_cast<const char*>(data), size);
  fuzz::expect_only<std::invalid_argument>([&] {
    const graft::Pipeline p = graft::Pipeline::parse(spec);
    (void)p.str();
    if (asks_for_large_sizes(spec)) return;
    graft::Image img(1 + size % 16, 1 + (size / 16) % 16, size % 5 == 0 ? 1 : 3);
    for (size_t i = 0; i < img.data.size(); ++i) img.data[i] = uint8_t(i * 37 + size);
    graft::Generator gen(size);
    const graft::Tensor t = p(img, gen);
    if (t.dim() != 3 || t.size(0) != img.C) fuzz::fail("the pipeline made a tensor of shape " + graft::shape_str(t.shape()));
  });
  return 0;
}
