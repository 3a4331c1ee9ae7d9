// src/tensor/random.cpp — see random.h.
#include "tensor/random.h"

#include <vector>

namespace graft {

Generator& default_generator() {
  static Generator gen;
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().seed(seed); }

void uniform_(Tensor& t, float lo, float hi, Generator& gen) {
  std::vector<float> v(t.numel());
  for (float& x : v) x = gen.uniform(lo, hi);
  t.copy_(Tensor::from_vector(t.shape(), v));
}

void normal_(Tensor& t, float mean, float stddev, Generator& gen) {
  std::vector<float> v(t.numel());
  for (float& x : v) x = gen.normal(mean, stddev);
  t.copy_(Tensor::from_vector(t.shape(), v));
}

}  // namespace graft
