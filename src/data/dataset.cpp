// src/data/dataset.cpp — Dataset helpers and Subset; see dataset.h.
#include "data/dataset.h"

#include <stdexcept>

namespace graft {

void Dataset::check_index(int64_t i) const {
  if (i < 0 || i >= size())
    throw std::out_of_range("dataset: index " + std::to_string(i) + " out of range for a dataset of " +
                            std::to_string(size()) + " samples");
}

Subset::Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  for (int64_t i : indices_)
    if (i < 0 || i >= base_->size())
      throw std::out_of_range("Subset: index " + std::to_string(i) + " out of range for a dataset of " +
                              std::to_string(base_->size()) + " samples");
}

Sample Subset::get(int64_t i) const { check_index(i); return base_->get(indices_[i]); }
int64_t Subset::label(int64_t i) const { check_index(i); return base_->label(indices_[i]); }
std::string Subset::source(int64_t i) const { check_index(i); return base_->source(indices_[i]); }

}  // namespace graft
