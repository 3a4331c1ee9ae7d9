// src/layers/init.cpp — see init.h.
#include "layers/init.h"

#include <cmath>

namespace graft {

int64_t fan_in(const Tensor& w) { return w.dim() < 2 ? w.numel() : w.numel() / w.size(0); }

void default_weight_init_(Tensor& w, Generator& gen) {
  // gain = sqrt(2 / (1 + a^2)) with a = sqrt(5) -> sqrt(1/3); bound = gain * sqrt(3 / fan_in).
  float bound = std::sqrt(1.0f / 3.0f) * std::sqrt(3.0f / static_cast<float>(fan_in(w)));
  uniform_(w, -bound, bound, gen);
}

void default_bias_init_(Tensor& b, int64_t fan, Generator& gen) {
  float bound = fan > 0 ? 1.0f / std::sqrt(static_cast<float>(fan)) : 0.0f;
  uniform_(b, -bound, bound, gen);
}

void kaiming_normal_fan_out_(Tensor& w, Generator& gen) {
  int64_t fan_out = w.numel() / w.size(1);
  normal_(w, 0.0f, std::sqrt(2.0f / static_cast<float>(fan_out)), gen);
}

}  // namespace graft
