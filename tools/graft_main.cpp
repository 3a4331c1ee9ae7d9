// tools/graft_main.cpp — `graft <command> [options]`: dispatch to the subcommands.
//
// Each subcommand lives in its own file (tools/cmd_<name>.cpp) as a function of its words that
// returns the exit code; add it to the table below. tools/lib/args.h has the dispatcher and the
// option parser they share.
#include <vector>

#include "args.h"
#include "commands.h"

int main(int argc, char** argv) {
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
