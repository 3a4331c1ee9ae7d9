// src/models/summary.h — a Keras-style table of a model: every leaf module's name, type,
// output shape and parameter counts, then the totals.
//
// Output shapes come from one forward pass on a zero input of the given shape, under
// NoGradGuard and in eval mode (so batch norm statistics are not touched; the previous
// train/eval modes are restored afterwards), with a global forward hook (layers/module.h)
// recording what each module returned. Parameter counts need no forward pass.
//
//   name                 type         output shape        params    trainable
//   features.0           Conv2d       [1, 64, 224, 224]   1,792     0
//   ...
//   total 135,335,076 parameters, 1,074,532 trainable
#pragma once

#include <string>
#include <vector>

#include "layers/module.h"

namespace graft {

struct SummaryRow {
  std::string name, type;
  Shape output;  // empty when the forward pass did not run this module
  int64_t params = 0, trainable = 0;
};

struct ModelSummary {
  std::vector<SummaryRow> rows;  // leaf modules, in registration order
  int64_t total_params = 0, trainable_params = 0;
  std::string str() const;       // the table
};

// input_shape: e.g. {1, 3, 224, 224}; an empty shape skips the forward pass (no output shapes).
ModelSummary summarize(Module& model, const Shape& input_shape = {1, 3, 224, 224});

}  // namespace graft
