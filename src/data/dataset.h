// src/data/dataset.h — the Dataset interface: a numbered collection of (sample, label).
//
// A sample is either an image (decoded lazily in get(), possibly in a loader worker thread)
// or a ready float tensor (IDX digits, precomputed features). Labels are class indices into
// class_names(). Implementations must make get() safe to call from several threads at once.
//
// Shapes: Sample::image is H x W x C uint8 (HWC, see image.h), turned into a float [C,H,W]
// tensor by a Pipeline; Sample::tensor is a ready float32 tensor ([F] for features); the label
// is one int64 class index in [0, num_classes()). The DataLoader stacks samples into [N,...].
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/image.h"
#include "tensor/tensor.h"

namespace graft {

struct Sample {
  Image image;     // set by image datasets
  Tensor tensor;   // set by tensor datasets (then image is empty)
  int64_t label = -1;
  std::string source;  // file name (or "file#index") for error messages and reports
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Sample get(int64_t i) const = 0;            // throws ImageError for unreadable images
  virtual int64_t label(int64_t i) const = 0;         // cheap: no decoding (used by splits)
  virtual std::string source(int64_t i) const = 0;    // file name of sample i
  virtual const std::vector<std::string>& class_names() const = 0;
  int64_t num_classes() const { return static_cast<int64_t>(class_names().size()); }

 protected:
  void check_index(int64_t i) const;  // std::out_of_range naming the index and the size
};

// A view of some samples of another dataset (for splits), in the given order.
class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices);
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  Sample get(int64_t i) const override;
  int64_t label(int64_t i) const override;
  std::string source(int64_t i) const override;
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }
  const std::vector<int64_t>& indices() const { return indices_; }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
};

}  // namespace graft
