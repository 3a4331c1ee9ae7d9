// tools/cmd_util.cpp — see cmd_util.h.
#include "cmd_util.h"

#include <algorithm>
#include <filesystem>

#include "autograd/engine.h"
#include "data/datasets.h"
#include "tensor/check.h"

namespace graft {

bool is_features_path(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext == ".h5" || ext == ".hdf5";
}

std::shared_ptr<Dataset> open_data(const std::string& path, const std::string& images_dir) {
  GRAFT_CHECK_DATA(std::filesystem::exists(path), "", "'", path,
                   "' does not exist: expected an image folder (one subfolder per class), "
                   "a CSV file of <file>,<label> rows, or a features .h5 from `graft features`");
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  if (ext == ".csv") return std::make_shared<CsvDataset>(path, images_dir);
  return open_dataset(path, /*train=*/true);
}

LoaderOptions loader_options(const tools::Args& a) {
  LoaderOptions lo;
  lo.batch_size = a.get_int("batch-size");
  lo.num_workers = static_cast<int>(a.get_int("workers"));
  lo.skip_bad = a.flag("skip-bad");
  return lo;
}

}  // namespace graft
