// tests/fuzz/fuzz_layer_spec.cpp — graft::plan_spec (the --spec / --head text of
// src/models/spec.h) on arbitrary text and input shapes. The first 4 bytes choose the input
// shape ([F] or [C,H,W], sizes 1..64, or now and then one near 2^31) and the number of classes
// (`n`: unknown, or 0..15); the rest is the spec. A plan whose layers are small (parameters
// and activations below 1 M each) is built and run forward on one zero sample, and its output
// must have the planned shape.
// Accepted outcomes: that, or std::invalid_argument.
#include <stdexcept>
#include <string>

#include "layers/module.h"
#include "layers/sequential.h"
#include "models/spec.h"
#include "fuzz_common.h"

namespace {
int64_t dim_from(uint8_t b) { return b == 255 ? (int64_t(1) << 31) - 1 : 1 + b % 64; }

// Whether building and running the plan stays small (exact arithmetic in double: the sizes
// may be near 2^63, so no int64 products here).
bool small(const std::vector<graft::LayerPlan>& plans) {
  const double kMax = 1 << 20;
  for (const auto& p : plans) {
    double numel = 1;
    for (int64_t d : p.out_shape) numel *= double(d);
    double params = p.kind == "conv" ? double(p.in) * double(p.out) * double(p.kernel) * double(p.kernel)
                    : p.kind == "linear" ? double(p.in) * double(p.out) : double(p.in);
    if (numel > kMax || params > kMax) return false;
  }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Bytes b{data, size};
  const uint8_t form = b.u8();
  graft::Shape input = form & 1 ? graft::Shape{dim_from(b.u8())}
                                : graft::Shape{dim_from(b.u8()), dim_from(b.u8()), dim_from(b.u8())};
  const int64_t num_classes = (form >> 1) % 17 - 1;  // -1: `n` is not known
  const std::string spec(reinterpret_cast<const char*>(b.p), b.n);
  fuzz::expect_only<std::invalid_argument>([&] {
    const auto plans = graft::plan_spec(spec, input, num_classes);
    if (plans.empty()) fuzz::fail("an empty plan");
    for (const auto& p : plans) (void)p.describe();
    if (!small(plans)) return;
    auto model = graft::build_sequential(plans);
    model->train(false);
    graft::Shape batch = input;
    batch.insert(batch.begin(), 1);
    const graft::Tensor y = (*model)(graft::Tensor::zeros(batch));
    graft::Shape expected = plans.back().out_shape;
    expected.insert(expected.begin(), 1);
    if (y.shape() != expected)
      fuzz::fail("output " + graft::shape_str(y.shape()) + ", the plan says " + graft::shape_str(expected));
  });
  return 0;
}
