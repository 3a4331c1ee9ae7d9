// src/train/class_weights.cpp — see class_weights.h.
#include "train/class_weights.h"

#include "tensor/check.h"

namespace graft {

std::vector<int64_t> class_counts(const Dataset& ds) {
  std::vector<int64_t> counts(static_cast<size_t>(ds.num_classes()), 0);
  for (int64_t i = 0; i < ds.size(); ++i) {
    const int64_t y = ds.label(i);
    GRAFT_CHECK_DATA(y >= 0 && y < ds.num_classes(), "class_counts", "sample ", i, " ('", ds.source(i), "') has label ",
                     y, " outside [0, ", ds.num_classes(), ")");
    ++counts[static_cast<size_t>(y)];
  }
  return counts;
}

std::vector<float> balanced_class_weights(const std::vector<int64_t>& counts, const std::vector<std::string>& names) {
  int64_t n = 0;
  for (int64_t c : counts) n += c;
  const double L = static_cast<double>(counts.size());
  std::vector<float> w;
  for (size_t c = 0; c < counts.size(); ++c) {
    GRAFT_CHECK_DATA(counts[c] > 0, "balanced_class_weights", "class ", c < names.size() ? "'" + names[c] + "'" : std::to_string(c),
                     " has no training sample, so its weight n / (classes * 0) is infinite; remove the class or give "
                     "the weights by hand");
    w.push_back(static_cast<float>(static_cast<double>(n) / (L * static_cast<double>(counts[c]))));
  }
  return w;
}

std::vector<double> balanced_sample_weights(const Dataset& ds) {
  const std::vector<int64_t> counts = class_counts(ds);
  std::vector<double> w(static_cast<size_t>(ds.size()));
  for (int64_t i = 0; i < ds.size(); ++i) w[i] = 1.0 / static_cast<double>(counts[ds.label(i)]);
  return w;
}

}  // namespace graft
