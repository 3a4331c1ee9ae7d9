// tools/graft_main.cpp — `graft <command> [options]`: dispatch to the subcommands.
//
// Each subcommand lives in its own file (tools/cmd_<name>.cpp) as a function of its words that
// returns the exit code; add it to the table below. tools/lib/args.h has the dispatcher and the
// option parser they share.
//
// Threads on a shared machine: libgomp's default wait policy lets an idle OpenMP thread spin
// (GOMP_SPINCOUNT 300000) before it sleeps, and graft's kernels end every parallel region in a
// barrier. With other processes on the cores, a spinning thread takes the core that the thread
// it waits for needs, and graft ran ~10x slower (docs/benchmarks.md). libgomp reads
// OMP_WAIT_POLICY once, when it is loaded, so setting it from main() is too late: graft runs
// itself again once with OMP_WAIT_POLICY=passive (waiting threads sleep at once). A user's own
// OMP_WAIT_POLICY (or GOMP_SPINCOUNT) wins; GRAFT_SET_WAIT_POLICY marks the second run, which
// then removes both variables again so that the programs graft starts (PyTorch in
// `graft bench --pytorch`, data-parallel ranks) see the user's environment unchanged.
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "args.h"
#include "commands.h"

namespace {

constexpr const char* kMarker = "GRAFT_SET_WAIT_POLICY";

bool set_nonempty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0';
}

// Returns only when graft should run as it is: the policy is the user's, or this is the second
// run, or the exec failed (then the default policy, which is slower on a loaded machine only).
void run_with_passive_wait(char** argv) {
  if (std::getenv(kMarker)) {  // the second run: libgomp has read the policy; undo our variables
    unsetenv(kMarker);
    unsetenv("OMP_WAIT_POLICY");
    return;
  }
  if (set_nonempty("OMP_WAIT_POLICY") || set_nonempty("GOMP_SPINCOUNT")) return;  // the user's choice
  setenv("OMP_WAIT_POLICY", "passive", 1);
  setenv(kMarker, "1", 1);
  execv("/proc/self/exe", argv);  // same arguments; the exit code is the new image's
  unsetenv(kMarker);              // no /proc (or no exec): carry on with libgomp's default
  unsetenv("OMP_WAIT_POLICY");
}

}  // namespace

int main(int argc, char** argv) {
  run_with_passive_wait(argv);
  static const std::vector<graft::tools::Command> commands = {
      {"train", "train an image classifier (pretrained backbone + new head, fine-tuning, or from scratch)", graft::cmd_train},
      {"lr-find", "the learning-rate range test: loss against an exponentially rising lr, a suggested lr (train's options)",
       graft::cmd_lr_find},
      {"eval", "accuracy (top-1, top-k, per class), confusion matrix and cross-entropy of a model on data", graft::cmd_eval},
      {"predict", "the top-k classes of images with their probabilities", graft::cmd_predict},
      {"export", "write a model as an ONNX file (spec models, heads, ResNet18)", graft::cmd_export},
      {"explain", "Grad-CAM heatmaps (PNG) of the image regions behind a model's predictions", graft::cmd_explain},
      {"features", "write a backbone's features of every image to HDF5 (for train --features)", graft::cmd_features},
      {"demo", "transfer learning on Fashion-MNIST: frozen backbone vs fine-tuning vs scratch", graft::cmd_demo},
      {"bench", "images/s of the models (inference, training, frozen backbone), optionally vs PyTorch",
       graft::cmd_bench},
      {"split", "split one ImageFolder into train/valid/test folders by fractions and a seed", graft::cmd_split},
      {"summary", "the module table of a model: output shapes, parameters, trainable parameters", graft::cmd_summary},
  };
  return graft::tools::dispatch(argc, argv, commands);
}
