// src/tensor/random.h — seeded random numbers for initialization, dropout and augmentation.
//
// One process-wide default generator (manual_seed sets it, like torch.manual_seed). graft's
// streams are not bit-identical to PyTorch's: parity tests load weights instead of relying on
// the same random draws. Filling is done on the CPU and copied to the device.
// Shapes: uniform_ and normal_ fill a float32 tensor of any shape in place, element by element
// in row-major order, so the same seed gives the same tensor on every device.
#pragma once

#include <cstdint>
#include <random>

#include "tensor/tensor.h"

namespace graft {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x9e3779b97f4a7c15ull) : engine_(seed) {}
  void seed(uint64_t s) { engine_.seed(s); }
  float uniform(float lo = 0.0f, float hi = 1.0f) {
    return std::uniform_real_distribution<float>(lo, hi)(engine_);
  }
  float normal(float mean = 0.0f, float stddev = 1.0f) {
    return std::normal_distribution<float>(mean, stddev)(engine_);
  }
  // Uniform integer in [0, n).
  int64_t randint(int64_t n) { return std::uniform_int_distribution<int64_t>(0, n - 1)(engine_); }
  uint64_t next() { return engine_(); }
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

Generator& default_generator();
void manual_seed(uint64_t seed);

void uniform_(Tensor& t, float lo, float hi, Generator& gen = default_generator());
void normal_(Tensor& t, float mean, float stddev, Generator& gen = default_generator());

}  // namespace graft
