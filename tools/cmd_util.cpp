// tools/cmd_util.cpp — see cmd_util.h.
#include "cmd_util.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "autograd/engine.h"
#include "data/datasets.h"

namespace graft {

bool is_features_path(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext == ".h5" || ext == ".hdf5";
}

std::shared_ptr<Dataset> open_data(const std::string& path, const std::string& images_dir) {
  if (!std::filesystem::exists(path))
    throw std::runtime_error("'" + path + "' does not exist: expected an image folder (one subfolder per class), "
                             "a CSV file of <file>,<label> rows, or a features .h5 from `graft features`");
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  if (ext == ".csv") return std::make_shared<CsvDataset>(path, images_dir);
  return open_dataset(path, /*train=*/true);
}

TensorDataset::TensorDataset(Tensor features, std::vector<int64_t> labels, std::vector<std::string> sources,
                             std::vector<std::string> class_names)
    : features_(std::move(features)), labels_(std::move(labels)), sources_(std::move(sources)),
      classes_(std::move(class_names)) {
  check_dim("TensorDataset", "features", features_, 2);
  if (features_.size(0) != static_cast<int64_t>(labels_.size()))
    throw std::invalid_argument("TensorDataset: " + std::to_string(features_.size(0)) + " feature rows but " +
                                std::to_string(labels_.size()) + " labels");
  sources_.resize(labels_.size());
}

Sample TensorDataset::get(int64_t i) const {
  check_index(i);
  const int64_t F = features_.size(1);
  Sample s;
  s.tensor = Tensor::empty({F});
  std::copy_n(features_.data() + i * F, F, s.tensor.data());
  s.label = labels_[i];
  s.source = sources_[i];
  return s;
}

void run_model(Module& model, DataLoader& loader, Device device,
               const std::function<void(const Batch&, const Tensor&)>& fn) {
  NoGradGuard no_grad;
  model.eval();
  loader.for_each_batch(0, [&](Batch& b) {
    Tensor out = model(b.inputs.to(device));
    fn(b, out.to(Device::CPU));
  });
}

Tensor collect_outputs(Module& model, DataLoader& loader, Device device, std::vector<int64_t>* indices) {
  Tensor all;
  int64_t row = 0;
  if (indices) indices->clear();
  run_model(model, loader, device, [&](const Batch& b, const Tensor& out) {
    if (indices) indices->insert(indices->end(), b.indices.begin(), b.indices.end());
    if (!all.defined()) {
      Shape s = out.shape();
      s[0] = loader.dataset().size();
      all = Tensor::empty(s);
    }
    all.slice(row, row + out.size(0)).copy_(out);
    row += out.size(0);
  });
  if (!all.defined()) throw std::runtime_error("no sample of the dataset could be read (" + std::to_string(loader.dataset().size()) + " samples)");
  return row == all.size(0) ? all : all.slice(0, row);
}

LoaderOptions loader_options(const tools::Args& a) {
  LoaderOptions lo;
  lo.batch_size = a.get_int("batch-size");
  lo.num_workers = static_cast<int>(a.get_int("workers"));
  lo.skip_bad = a.flag("skip-bad");
  return lo;
}

}  // namespace graft
