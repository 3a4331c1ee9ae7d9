// tools/cmd_util.h — small pieces the model-using commands (train, features, eval, predict) share:
// opening a dataset named on the command line, running a model over a loader, and a dataset of
// precomputed feature rows (the frozen-backbone cache of `graft train`).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "args.h"
#include "data/loader.h"
#include "layers/module.h"
#include "tensor/tensor.h"

namespace graft {

// A folder (ImageFolder, or Fashion-MNIST IDX files), a .csv (with `images_dir`, default the
// CSV's folder) or a features .h5. Throws naming the path when it does not exist.
std::shared_ptr<Dataset> open_data(const std::string& path, const std::string& images_dir = "");

// The loader settings of a command's --batch-size, --workers and --skip-bad options.
LoaderOptions loader_options(const tools::Args& a);
// Whether open_data(path) gives a features file (.h5 / .hdf5) rather than images.
bool is_features_path(const std::string& path);

// features: [N,F] float32, labels: [N]; samples are rows (copies). Sources name the original files.
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor features, std::vector<int64_t> labels, std::vector<std::string> sources,
                std::vector<std::string> class_names);
  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  Sample get(int64_t i) const override;
  int64_t label(int64_t i) const override { check_index(i); return labels_[i]; }
  std::string source(int64_t i) const override { check_index(i); return sources_[i]; }
  const std::vector<std::string>& class_names() const override { return classes_; }

 private:
  Tensor features_;
  std::vector<int64_t> labels_;
  std::vector<std::string> sources_, classes_;
};

// Runs `model` in eval mode without gradients over every batch of `loader` (epoch 0), calling
// fn(batch, outputs) with outputs on the CPU: [B, L].
void run_model(Module& model, DataLoader& loader, Device device, const std::function<void(const Batch&, const Tensor&)>& fn);

// All outputs stacked: [N, L] on the CPU, rows in loader order (no shuffle: dataset order).
// `indices` (if given) receives the dataset index of each row: images left out by skip_bad
// have no row.
Tensor collect_outputs(Module& model, DataLoader& loader, Device device, std::vector<int64_t>* indices = nullptr);

}  // namespace graft
