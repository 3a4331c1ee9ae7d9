// src/train/class_weights.h — class weights for imbalanced data, as sklearn's
// compute_class_weight('balanced'):
//
//   w_c = n_samples / (n_classes * count_c)
// so every class contributes the same total weight (count_c * w_c = n / L) to a weighted loss;
// on balanced data all weights are 1. They are the `weight` of cross_entropy / nll_loss.
// The other remedy resamples instead of reweighting: balanced_sample_weights below.
#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace graft {

std::vector<int64_t> class_counts(const Dataset& ds);  // [L]: samples of each class (labels only, no decoding)
// Throws, naming the class, when a class has no sample (its weight would be infinite).
std::vector<float> balanced_class_weights(const std::vector<int64_t>& counts,
                                          const std::vector<std::string>& class_names = {});

// One weight per sample, 1 / count of its class, for LoaderOptions::sample_weights: every class
// is drawn equally often (a class-balanced sampler; rare samples repeat within an epoch).
std::vector<double> balanced_sample_weights(const Dataset& ds);

}  // namespace graft
