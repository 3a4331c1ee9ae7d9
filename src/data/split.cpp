// src/data/split.cpp — see split.h.
#include "data/split.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>

namespace graft {

namespace {
void shuffle(std::vector<int64_t>& v, std::mt19937_64& rng) {
  // Fisher-Yates with our own index draw: std::shuffle's sequence is library-specific.
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

std::vector<int64_t> part_sizes(int64_t n, const std::vector<double>& fractions) {
  std::vector<int64_t> sizes;
  int64_t used = 0;
  for (double f : fractions) {
    sizes.push_back(int64_t(std::floor(double(n) * f)));
    used += sizes.back();
  }
  for (size_t i = 0; used < n; i = (i + 1) % sizes.size(), ++used) ++sizes[i];
  return sizes;
}
}  // namespace

std::vector<int64_t> dataset_labels(const Dataset& ds) {
  std::vector<int64_t> l(static_cast<size_t>(ds.size()));
  for (int64_t i = 0; i < ds.size(); ++i) l[i] = ds.label(i);
  return l;
}

std::vector<std::vector<int64_t>> split_indices(const std::vector<int64_t>& labels, const std::vector<double>& fractions,
                                                uint64_t seed, bool stratified) {
  double total = 0;
  for (double f : fractions) {
    if (!(f > 0)) throw std::invalid_argument("split: every fraction must be > 0, got " + std::to_string(f));
    total += f;
  }
  if (fractions.empty() || std::fabs(total - 1.0) > 1e-6)
    throw std::invalid_argument("split: fractions must sum to 1 (e.g. 0.7,0.2,0.1), they sum to " + std::to_string(total));
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int64_t>> parts(fractions.size());
  std::map<int64_t, std::vector<int64_t>> groups;
  for (size_t i = 0; i < labels.size(); ++i) groups[stratified ? labels[i] : 0].push_back(int64_t(i));
  for (auto& [cls, idx] : groups) {
    shuffle(idx, rng);
    auto sizes = part_sizes(int64_t(idx.size()), fractions);
    int64_t at = 0;
    for (size_t p = 0; p < parts.size(); ++p) {
      parts[p].insert(parts[p].end(), idx.begin() + at, idx.begin() + at + sizes[p]);
      at += sizes[p];
    }
  }
  for (auto& p : parts) std::sort(p.begin(), p.end());
  return parts;
}

std::vector<std::shared_ptr<Subset>> random_split(std::shared_ptr<const Dataset> ds, const std::vector<double>& fractions,
                                                  uint64_t seed, bool stratified) {
  std::vector<std::shared_ptr<Subset>> out;
  for (auto& idx : split_indices(dataset_labels(*ds), fractions, seed, stratified))
    out.push_back(std::make_shared<Subset>(ds, idx));
  return out;
}

std::vector<int64_t> n_per_class_indices(const std::vector<int64_t>& labels, int64_t n, uint64_t seed) {
  if (n <= 0) throw std::invalid_argument("n_per_class: n must be positive, got " + std::to_string(n));
  std::mt19937_64 rng(seed);
  std::map<int64_t, std::vector<int64_t>> groups;
  for (size_t i = 0; i < labels.size(); ++i) groups[labels[i]].push_back(int64_t(i));
  std::vector<int64_t> out;
  for (auto& [cls, idx] : groups) {
    shuffle(idx, rng);
    out.insert(out.end(), idx.begin(), idx.begin() + std::min<int64_t>(n, int64_t(idx.size())));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::shared_ptr<Subset> n_per_class(std::shared_ptr<const Dataset> ds, int64_t n, uint64_t seed) {
  return std::make_shared<Subset>(ds, n_per_class_indices(dataset_labels(*ds), n, seed));
}

}  // namespace graft
