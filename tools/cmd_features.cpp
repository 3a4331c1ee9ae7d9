// tools/cmd_features.cpp — `graft features`: run a headless backbone over a dataset and write
// features [N,F], labels [N], file names and class names to HDF5 (data/datasets.h
// save_features; h5py reads it: f["features"][()]). The head module (classifier.6 / fc /
// classifier, or --replace NAME) is replaced by Identity, the model runs in eval mode without
// gradients, and each output is flattened: ResNet18 -> 512 values, DenseNet121 -> 1024,
// VGG16 -> 4096 (the input of classifier.6). `graft train --features FILE --head SPEC` then
// trains a head on the rows, and any other classifier can read them.
#include <cstdio>
#include <filesystem>

#include "args.h"
#include "autograd/ops.h"
#include "cmd_util.h"
#include "train/fit.h"
#include "commands.h"
#include "data/datasets.h"
#include "data/split.h"
#include "dist/distributed.h"
#include "layers/basic.h"
#include "model_setup.h"
#include "tensor/check.h"
#include "tensor/hdf5_io.h"

namespace graft {

namespace {
int features(const tools::Args& a);
}  // namespace

int cmd_features(const std::vector<std::string>& words) {
  tools::ArgParser p("graft features",
                     "Extract backbone features (the input of the model's head) for every image of a dataset\n"
                     "and write them to HDF5: datasets features [N,F], labels [N], files [N]; attribute class_names.");
  p.add_positional("data", "ImageFolder, CSV file (with --images) or Fashion-MNIST IDX folder");
  p.add_string("images", "", "folder the CSV's file names are relative to (default: the CSV's folder)")
      .add_string("checkpoint", "", "a model trained by graft train (best.h5) instead of --model/--weights")
      .add_string("transform", "", "transform spec (default: the weights' preprocess, e.g. "
                                   "resize=256,center_crop=224,normalize=imagenet)")
      .add_string("out", "", "output .h5 file", true)
      .add_int("batch-size", 32, "images per batch")
      .add_int("workers", 2, "data loading threads")
      .add_flag("skip-bad", "leave unreadable images out (listed) instead of stopping at the first");
  tools::add_model_options(p, "resnet18", false);
  add_distributed_options(p);
  p.add_example("graft features photos --model densenet121 --pretrained --out feats.h5",
                "DenseNet121 features (1024 per image) for another classifier (seed 004)")
      .add_example("graft train --features feats.h5 --head 'linear(n)' --out head-run", "then train a head on them")
      .add_example("mpirun -np 4 graft features photos --model resnet18 --pretrained --out feats.h5 --distributed",
                   "4 processes, each a quarter of the images; rank 0 writes the file");
  tools::Args a = p.parse(words);
  if (tools::print_help_if_asked(p, a)) return 0;
  return run_distributed("graft features", a, [&] { return features(a); });
}

namespace {

int features(const tools::Args& a) {
  auto ds = open_data(a.positional("data")[0], a.get("images"));
  tools::ModelSetup s;
  if (a.given("checkpoint")) {
    s = tools::load_model_checkpoint(a.get("checkpoint"), a.get("device"));
    GRAFT_CHECK_DATA(s.model_name != "head", "", "checkpoint '", a.get("checkpoint"),
                     "' is a head trained on features; it has no backbone");
  } else {
    tools::ModelOptions o = tools::model_options(a);
    if (o.weights.empty() && !o.pretrained && o.model.rfind("spec:", 0) != 0) o.pretrained = true;
    s = tools::build_model(o, ds->num_classes());  // `n` in a spec: the data's classes
  }
  GRAFT_CHECK_DATA(!s.replaced.empty() && tools::head_is_last(s), "graft features", "the head '", s.replaced,
                   "' is not the model's last module, so the model without it is not a backbone; pass --replace NAME "
                   "with the last layer's name");
  const std::string transform = a.given("transform") ? a.get("transform") : s.eval_transform;
  Pipeline pipe = Pipeline::parse(transform);
  s.model->replace(s.replaced, std::make_shared<Identity>());
  DataLoader loader(ds, pipe, dist::evaluation_shard(loader_options(a)));  // --distributed: this rank's share
  std::printf("graft features: %s without '%s' over %lld images (%s) ...\n", s.model_name.c_str(), s.replaced.c_str(),
              static_cast<long long>(ds->size()), pipe.str().c_str());
  std::fflush(stdout);
  std::vector<int64_t> rows;
  Tensor feats = dist::collect_outputs_over_ranks(*s.model, loader, s.device, &rows);
  if (!loader.skipped().empty()) std::fputs(loader.skipped_report().c_str(), stderr);
  if (!dist::is_main()) return 0;  // rank 0 writes the file
  feats = reshape(feats, {feats.size(0), feats.numel() / feats.size(0)});
  std::vector<std::string> files;
  std::vector<int64_t> labels;
  for (int64_t i : rows) files.push_back(ds->source(i)), labels.push_back(ds->label(i));
  const std::string out = a.get("out");
  if (std::filesystem::path(out).has_parent_path()) std::filesystem::create_directories(std::filesystem::path(out).parent_path());
  save_features(out, feats, labels, files, ds->class_names());
  {
    H5File f(out, H5File::Mode::ReadWrite);  // where the features came from
    f.set_attr("backbone", s.model_name);
    f.set_attr("backbone_weights", s.weights_path);
    f.set_attr("removed_head", s.replaced);
    f.set_attr("transform", pipe.str());
  }
  std::printf("wrote %s: features [%lld, %lld], %lld classes\n", out.c_str(), static_cast<long long>(feats.size(0)),
              static_cast<long long>(feats.size(1)), static_cast<long long>(ds->num_classes()));
  return 0;
}

}  // namespace
}  // namespace graft
