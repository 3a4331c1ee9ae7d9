// tools/cmd_util.h — small pieces the model-using commands (train, features, eval, predict) share:
// opening a dataset named on the command line, and the loader options of the command line.
// (Running a model over a loader is the library's: predict_batches / collect_outputs in
// train/fit.h.)
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

// ---- data-parallel runs: mpirun / srun ... graft CMD --distributed (src/dist) ----------------

// --distributed and --dist-timeout.
void add_distributed_options(tools::ArgParser& p);
// Without --distributed: body(). With it: joins the processes mpirun / srun started (MPI; NCCL
// with --device cuda; this machine's cores shared between its ranks unless OMP_NUM_THREADS
// says otherwise; stdout silenced on every rank but 0: one progress bar, not N), runs body()
// and leaves. If body() throws on one rank, every rank is stopped with its message: the others
// would otherwise wait for that rank's next collective until the timeout.
int run_distributed(const std::string& command, const tools::Args& a, const std::function<int()>& body);

}  // namespace graft
