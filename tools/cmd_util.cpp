// tools/cmd_util.cpp — see cmd_util.h.
#include "cmd_util.h"

#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "autograd/engine.h"
#include "data/datasets.h"
#include "dist/comm.h"
#include "dist/nccl_comm.h"
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

void add_distributed_options(tools::ArgParser& p) {
  p.add_flag("distributed", "data-parallel over the processes started by mpirun/srun (see docs/usage.md)")
      .add_float("dist-timeout", 300, "with --distributed: seconds to wait for the other processes before stopping all");
}

int run_distributed(const std::string& command, const tools::Args& a, const std::function<int()>& body) {
  if (!a.flag("distributed")) return body();
  dist::init();
  dist::set_timeout(a.get_float("dist-timeout"));
  const dist::World& w = dist::world();
  const bool gpu = parse_device(a.get("device")) == Device::CUDA;
  if (!std::getenv("OMP_NUM_THREADS"))
    omp_set_num_threads(std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / w.local_size));
  if (w.rank != 0 && !std::freopen("/dev/null", "w", stdout))
    throw std::runtime_error("distributed: cannot silence the output of rank " + std::to_string(w.rank));
  std::printf("distributed: %d processes (%d on this machine), %s\n", w.size, w.local_size,
              gpu ? "a GPU each, gradients over NCCL" : (std::to_string(omp_get_max_threads()) + " threads each").c_str());
  std::fflush(stdout);
  try {
    if (gpu) dist::nccl_init();  // this rank's GPU, and NCCL's communicator
    const int rc = body();
    dist::nccl_finalize();
    dist::finalize();
    return rc;
  } catch (const std::exception& e) {
    if (w.size > 1) dist::abort(command + ": " + e.what());
    throw;
  }
}

}  // namespace graft
