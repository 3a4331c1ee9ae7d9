// src/data/split.h — train/val/test splits, subsets and n-per-class selections.
//
// random_split: the indices 0..N-1 are shuffled with the seed, then cut into consecutive
// parts of floor(f_i * N) samples; the remainder goes one by one to the first parts (as
// torch.utils.data.random_split does with fractions). Stratified: the same cut within each class,
// so each part keeps the class proportions. Results are sorted index lists (deterministic for
// a seed; the loader shuffles them anyway).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "data/dataset.h"

namespace graft {

// fractions must be positive and sum to 1 (within 1e-6), e.g. {0.7, 0.2, 0.1}.
std::vector<std::vector<int64_t>> split_indices(const std::vector<int64_t>& labels, const std::vector<double>& fractions,
                                                uint64_t seed, bool stratified = false);
std::vector<std::shared_ptr<Subset>> random_split(std::shared_ptr<const Dataset> ds, const std::vector<double>& fractions,
                                                  uint64_t seed, bool stratified = false);
// At most n samples of each class (seeded random choice), in index order.
std::vector<int64_t> n_per_class_indices(const std::vector<int64_t>& labels, int64_t n, uint64_t seed);
std::shared_ptr<Subset> n_per_class(std::shared_ptr<const Dataset> ds, int64_t n, uint64_t seed);
// All labels of a dataset (no decoding).
std::vector<int64_t> dataset_labels(const Dataset& ds);

}  // namespace graft
