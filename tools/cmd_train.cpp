// tools/cmd_train.cpp — `graft train`: train an image classifier on a folder, a CSV, Fashion-MNIST
// IDX files or a features file, and leave behind best.h5, last.h5, metrics.csv and report.html.
//
// The epochs are the library's loop (src/train/fit.h: train steps over the shuffled batches,
// then the validation loss and top-1 in eval mode); this command adds its callbacks: early
// stopping on the validation loss, best.h5 on every improvement, last.h5 and metrics.csv after
// every epoch, the progress bar. Frozen batch norm keeps its statistics by itself.
// Modes, all from the same options:
//   feature extraction  --freeze backbone: no graph is recorded through the frozen part (its
//                       parameters need no gradient), and when the train transform has no random
//                       step the backbone's outputs are computed ONCE (model with the head
//                       replaced by Identity, eval mode) and the head trains on those rows.
//   fine-tuning         --freeze none --backbone-lr 1e-4: two parameter groups.
//   last N layers       --freeze all-but-last:N.        From scratch: --weights none.
// Recipes (docs/usage.md#recipes): per-step and plateau schedules, mixup/cutmix, label smoothing,
// class weights, gradient clipping and accumulation, an EMA of the weights — options of the
// library loop and callbacks, built in one block below.
// Resuming (--resume): last.h5 holds the model, the optimizer state, the epoch, the best score
// and the default generator's state (dropout); the loader's order and augmentation are
// functions of (seed, epoch), so epochs after a resume draw exactly what they would have.
// Interrupted runs: Ctrl-C or SIGTERM finishes the step in hand, saves last.h5 mid-epoch
// (train/fit.h Note [Interrupted epochs]: --resume continues at the next batch), prints the
// command to resume and exits 130 / 143; a second Ctrl-C exits at once (train/interrupt.h).
// Data-parallel (--distributed, started by mpirun or srun): every process trains on its shard
// of each epoch with --batch-size images per step, gradients averaged over the processes
// (src/dist/distributed.h); only rank 0 prints and writes files.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>

#include <unistd.h>

#include "args.h"
#include "autograd/engine.h"
#include "autograd/ops.h"
#include "train/checkpoint.h"
#include "train/fit.h"
#include "train/interrupt.h"
#include "cmd_util.h"
#include "commands.h"
#include "data/datasets.h"
#include "data/split.h"
#include "dist/distributed.h"
#include "dist/nccl_comm.h"
#include "layers/basic.h"
#include "layers/loss.h"
#include "layers/sequential.h"
#include "layers/soft_targets.h"
#include "train/metrics.h"
#include "train/class_weights.h"
#include "train/ema.h"
#include "train/fine_tune.h"
#include "train/lr_find.h"
#include "train/mixup.h"
#include "gradcam.h"
#include "model_setup.h"
#include "models/models.h"
#include "optim/adam.h"
#include "optim/scheduler.h"
#include "optim/sgd.h"
#include "progress.h"
#include "report.h"
#include "models/spec.h"
#include "tensor/check.h"

namespace graft {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<double> parse_fractions(const std::string& text) {
  std::vector<double> f;
  std::stringstream ss(text);
  std::string part;
  double sum = 0;
  while (std::getline(ss, part, ',')) {
    try {
      f.push_back(std::stod(part));
    } catch (const std::exception&) {
      throw tools::ArgError("graft train: --split expects fractions like 0.7,0.2,0.1, got '" + text + "'");
    }
    sum += f.back();
  }
  if (f.empty() || f.size() > 3 || std::abs(sum - 1) > 1e-6)
    throw tools::ArgError("graft train: --split expects 1 to 3 fractions (train,valid,test) that sum to 1, got '" + text +
                          "'");
  return f;
}

struct Data {
  std::shared_ptr<const Dataset> train, valid, test;
  std::vector<std::string> class_names;
  bool features = false;
};

Data open_training_data(const tools::Args& a) {
  Data d;
  const std::string images = a.get("images");
  auto split = [&](std::shared_ptr<Dataset> all) {
    std::vector<double> fr = parse_fractions(a.get("split"));
    if (fr.size() == 1) {
      d.train = all;
      return;
    }
    auto parts = random_split(all, fr, static_cast<uint64_t>(a.get_int("seed")), a.flag("stratified"));
    d.train = parts[0];
    d.valid = parts[1];
    if (parts.size() > 2) d.test = parts[2];
  };
  int sources = a.given("data") + a.given("csv") + a.given("features") + a.given("train");
  if (sources != 1)
    throw tools::ArgError("graft train: give exactly one of --data DIR, --csv FILE, --features FILE or --train DIR "
                          "(with --valid DIR [--test DIR])");
  if (a.given("train")) {
    d.train = open_data(a.get("train"), images);
    if (a.given("valid")) d.valid = open_data(a.get("valid"), images);
    if (a.given("test")) d.test = open_data(a.get("test"), images);
  } else {
    const std::string path = a.given("data") ? a.get("data") : a.given("csv") ? a.get("csv") : a.get("features");
    auto all = open_data(path, images);
    if (a.given("valid")) {
      d.train = all;
      d.valid = open_data(a.get("valid"), images);
      if (a.given("test")) d.test = open_data(a.get("test"), images);
    } else {
      split(all);
    }
  }
  d.class_names = d.train->class_names();
  GRAFT_CHECK_DATA(d.train->size() > 0, "", "the training set is empty");
  for (auto* other : {d.valid.get(), d.test.get()})
    GRAFT_CHECK_DATA(!other || other->class_names() == d.class_names, "",
                     "the validation/test data has classes different from the training data's (",
                     other->num_classes(), " vs ", d.class_names.size(),
                     "); use folders with the same class subfolders");
  d.features = a.given("features") || is_features_path(a.get("data")) || is_features_path(a.get("train"));
  if (d.valid && d.valid->size() == 0) d.valid = nullptr;  // a tiny dataset split to nothing
  if (d.test && d.test->size() == 0) d.test = nullptr;
  return d;
}

// The loss of one batch: out [B,L] (or [B,1] for bce), y [B] int64, or [B,L] float soft
// targets (mixup/cutmix). nll's log-probabilities go through the same smoothed and soft-target
// losses as logits: log_softmax leaves them unchanged (layers/soft_targets.h).
// `weight`: the class weights [L] (--class-weights) or undefined.
Tensor batch_loss(const std::string& loss, const Tensor& out, const Tensor& y, double smoothing, const Tensor& weight) {
  if (y.dtype() == DType::Float32 && y.dim() == 2) return soft_target_cross_entropy(out, y);
  if (smoothing > 0 && loss != "bce") return cross_entropy_smoothed(out, y, smoothing, weight);
  if (loss == "nll") return nll_loss(out, y, weight);
  if (loss == "cross-entropy") return cross_entropy(out, y, weight);
  std::vector<int64_t> labels = y.to_labels();
  std::vector<float> t(labels.begin(), labels.end());
  return bce_with_logits(out, Tensor::from_vector({static_cast<int64_t>(t.size()), 1}, t, out.device()));
}

std::unique_ptr<Optimizer> make_optimizer(const tools::Args& a, std::vector<ParamGroup> groups) {
  const std::string name = a.get("optimizer");
  const float momentum = static_cast<float>(a.get_float("momentum"));
  if (name == "sgd") return std::make_unique<SGD>(std::move(groups), momentum);
  if (name == "adam") return std::make_unique<Adam>(std::move(groups));
  return std::make_unique<AdamW>(std::move(groups));
}

// ---- recipes (issue 16): schedules stepped per batch or on plateaus, mixup/cutmix --------------
// "onecycle[:PCT]", "warmup-cosine[:EPOCHS[:FACTOR]]", "plateau[:PATIENCE[:FACTOR]]": the name and
// up to two numbers after it (NaN where not given).
struct ScheduleText {
  std::string name;
  double a = std::nan(""), b = std::nan("");
};
ScheduleText parse_schedule(const std::string& text) {
  ScheduleText t;
  std::stringstream ss(text);
  std::getline(ss, t.name, ':');
  std::string part;
  for (double* v : {&t.a, &t.b})
    if (std::getline(ss, part, ':')) try {
        *v = std::stod(part);
      } catch (const std::exception&) {
        throw tools::ArgError("graft train: --schedule " + text + ": '" + part + "' is not a number");
      }
  return t;
}
bool is_step_schedule(const std::string& text) {
  const std::string n = parse_schedule(text).name;
  return n == "onecycle" || n == "warmup-cosine" || n == "plateau";
}
double or_default(double v, double def) { return std::isnan(v) ? def : v; }

// The schedules that need the loader's steps per epoch (or none): OneCycleLR up to each group's
// lr (--lr, --backbone-lr), LinearLR warmup then cosine, ReduceLROnPlateau on the validation loss.
struct StepSchedule {
  std::unique_ptr<LRScheduler> per_step;
  std::unique_ptr<ReduceLROnPlateau> plateau;
  std::unique_ptr<Callback> callback;
};
// `base_lrs`: the groups' lrs as the options set them (a resumed optimizer holds scheduled ones).
// `steps_done`: optimizer steps already taken (a resumed run, an interrupted epoch's included).
StepSchedule make_step_schedule(const std::string& text, Optimizer& opt, const std::vector<float>& base_lrs,
                                int64_t epochs, int64_t steps_per_epoch, int64_t steps_done) {
  StepSchedule s;
  if (!is_step_schedule(text)) return s;
  const std::vector<float> now = [&] {
    std::vector<float> v;
    for (ParamGroup& g : opt.param_groups()) v.push_back(g.lr);
    return v;
  }();
  for (size_t i = 0; i < base_lrs.size(); ++i) opt.param_groups()[i].lr = base_lrs[i];
  const ScheduleText t = parse_schedule(text);
  const int64_t total = epochs * steps_per_epoch;
  if (t.name == "onecycle") {
    OneCycleLR::Options o;
    o.total_steps = total;
    o.pct_start = or_default(t.a, 0.3);
    std::vector<double> max_lrs;
    for (const ParamGroup& g : opt.param_groups()) max_lrs.push_back(g.lr);
    s.per_step = std::make_unique<OneCycleLR>(opt, max_lrs, o);
  } else if (t.name == "warmup-cosine") {
    const double warm_epochs = or_default(t.a, 1);
    const int64_t warm = std::max<int64_t>(1, static_cast<int64_t>(std::llround(warm_epochs * steps_per_epoch)));
    if (warm >= total)
      throw tools::ArgError("graft train: --schedule " + text + ": the warmup (" + std::to_string(warm) +
                            " steps) must be shorter than the run (" + std::to_string(total) + " steps)");
    s.per_step = std::make_unique<WarmupCosineLR>(opt, warm, total, or_default(t.b, 1.0 / 3));
  } else {
    ReduceLROnPlateau::Options o;
    o.patience = static_cast<int64_t>(or_default(t.a, 10));
    o.factor = or_default(t.b, 0.1);
    s.plateau = std::make_unique<ReduceLROnPlateau>(opt, o);
    s.callback = std::make_unique<ScheduleOnPlateau>(*s.plateau);
    for (size_t i = 0; i < now.size(); ++i) opt.param_groups()[i].lr = now[i];
    return s;  // a resumed run keeps its reduced lrs (optimizer state); the counters start afresh
  }
  if (steps_done > 0) s.per_step->set_last_epoch(steps_done);
  s.callback = std::make_unique<SchedulePerStep>(*s.per_step);
  return s;
}

// `graft lr-find` (= graft train --lr-find): the range test on the training batches, then
// <out>/lr_find.html (the curve) and lr_find.csv; the weights are left as they were.
int run_lr_find(const tools::Args& a, Module& model, Optimizer& opt, const LossFn& loss, DataLoader& train,
                Device device, const std::string& out_dir) {
  LrFindOptions o;
  o.start_lr = a.get_float("lr-find-start");
  o.end_lr = a.get_float("lr-find-end");
  o.steps = a.get_int("lr-find-steps");
  const LrFindResult r = lr_find(model, opt, loss, train, device, o);
  std::string csv = "lr,loss,smoothed_loss\n";
  tools::Series raw{"loss", "#bbbbbb", {}}, smooth{"smoothed", "#1f77b4", {}};
  for (size_t i = 0; i < r.lrs.size(); ++i) {
    csv += std::to_string(r.lrs[i]) + "," + std::to_string(r.losses[i]) + "," + std::to_string(r.smoothed[i]) + "\n";
    raw.points.emplace_back(std::log10(r.lrs[i]), r.losses[i]);
    smooth.points.emplace_back(std::log10(r.lrs[i]), r.smoothed[i]);
  }
  char line[256];
  std::snprintf(line, sizeof line, "%zu steps from lr %g to %g%s. Suggested lr: %g (steepest descent of the smoothed "
                "loss), %g (the minimum's lr / 10, safer).", r.lrs.size(), o.start_lr, r.lrs.empty() ? 0 : r.lrs.back(),
                r.diverged ? ", stopped when the loss diverged" : "", r.steepest_lr, r.min_lr_div10);
  tools::write_file_atomic(out_dir + "/lr_find.csv", csv);
  tools::write_file_atomic(out_dir + "/lr_find.html",
                           "<!doctype html><html><head><meta charset=\"utf-8\"><title>graft lr-find</title></head><body>"
                           "<h1>Learning-rate range test</h1><p>" + tools::html_escape(line) + "</p>" +
                           tools::svg_line_chart("loss against the learning rate", "log10(lr)", "training loss",
                                                 {raw, smooth}, 640, 360) +
                           "<p>The weights were put back afterwards: train with the lr you pick.</p></body></html>\n");
  std::printf("graft lr-find: %s\nwrote %s/lr_find.html, %s/lr_find.csv\n", line, out_dir.c_str(), out_dir.c_str());
  return 0;
}

std::unique_ptr<LRScheduler> make_scheduler(const std::string& text, Optimizer& opt, int64_t epochs) {
  if (text == "none" || is_step_schedule(text)) return nullptr;  // per-step schedules: make_step_schedule
  if (text == "cosine") return std::make_unique<CosineAnnealingLR>(opt, epochs);
  if (text.rfind("step:", 0) == 0) {
    int64_t step = 0;
    float gamma = 0.1f;
    if (std::sscanf(text.c_str(), "step:%lld:%f", reinterpret_cast<long long*>(&step), &gamma) >= 1 && step > 0)
      return std::make_unique<StepLR>(opt, step, gamma);
  }
  throw tools::ArgError("graft train: --schedule expects none, cosine, step:STEP[:GAMMA] (e.g. step:7:0.1), "
                        "onecycle[:PCT], warmup-cosine[:EPOCHS[:FACTOR]] or plateau[:PATIENCE[:FACTOR]], got '" + text + "'");
}

// The backbone outputs (the head's inputs) of every sample, in dataset order: the model with
// its head swapped for Identity, in eval mode, without gradients.
std::shared_ptr<TensorDataset> backbone_features(tools::ModelSetup& s, const Dataset& ds, const Pipeline& pipe,
                                                 int workers, bool skip_bad) {
  ModulePtr head = tools::head_module(s);
  s.model->replace(s.replaced, std::make_shared<Identity>());
  Tensor feats;
  std::vector<int64_t> rows;  // dataset index of each feature row
  try {
    LoaderOptions lo;
    lo.batch_size = 64;
    lo.num_workers = workers;
    lo.skip_bad = skip_bad;
    // --distributed: each rank runs the backbone over 1/N of the images, and every rank gets
    // all the rows (the shards of the later epochs are drawn anew from the whole set).
    auto view = std::shared_ptr<const Dataset>(&ds, [](const Dataset*) {});
    DataLoader loader(view, pipe, dist::evaluation_shard(lo));
    feats = dist::collect_outputs_over_ranks(*s.model, loader, s.device, &rows);
    if (!loader.skipped().empty()) std::fputs(loader.skipped_report().c_str(), stderr);
  } catch (...) {
    s.model->replace(s.replaced, head);
    throw;
  }
  s.model->replace(s.replaced, head);
  feats = reshape(feats, {feats.size(0), feats.numel() / feats.size(0)});
  std::vector<std::string> sources;
  std::vector<int64_t> labels;
  for (int64_t i : rows) sources.push_back(ds.source(i)), labels.push_back(ds.label(i));
  return std::make_shared<TensorDataset>(feats, labels, sources, ds.class_names());
}

int run_train(const tools::Args& a, const std::vector<std::string>& words);

}  // namespace

int cmd_lr_find(const std::vector<std::string>& words) {
  std::vector<std::string> w = words;
  w.push_back("--lr-find");
  return cmd_train(w);
}

int cmd_train(const std::vector<std::string>& words) {
  tools::ArgParser p("graft train",
                     "Train an image classifier: a pretrained VGG16/ResNet18/DenseNet121 with a new head (feature\n"
                     "extraction or fine-tuning), a small CNN from a text spec, or a head on precomputed features.\n"
                     "Writes <out>/best.h5 (for eval/predict), last.h5 (for --resume), metrics.csv, report.html.");
  p.add_string("data", "", "ImageFolder (one subfolder per class) or Fashion-MNIST IDX folder, split by --split")
      .add_string("csv", "", "CSV of <file>,<label> rows (images in --images DIR), split by --split")
      .add_string("images", "", "folder the CSV's file names are relative to (default: the CSV's folder)")
      .add_string("features", "", "features .h5 written by `graft features` (trains a head on it)")
      .add_string("train", "", "training folder (with --valid, --test)")
      .add_string("valid", "", "validation folder")
      .add_string("test", "", "test folder")
      .add_string("split", "0.8,0.2", "train,valid[,test] fractions of one dataset (e.g. 0.7,0.2,0.1); '1' = no split")
      .add_flag("stratified", "split each class by the fractions (keeps class proportions)")
      .add_int("seed", 0, "seed for the split, initialization, shuffling and augmentation");
  tools::add_model_options(p, "resnet18", true);
  p.add_string("train-transform", "", "training transform (default: random_resized_crop=224,hflip,normalize=imagenet "
                                      "for pretrained models, resize to --input-size for spec models; add "
                                      "trivial_augment, rand_augment=N:M, auto_augment, random_erasing=P for torchvision's policies)")
      .add_string("eval-transform", "", "evaluation transform (default: the weights' preprocess, e.g. "
                                        "resize=256,center_crop=224,normalize=imagenet)")
      .add_string("loss", "auto", "nll, cross-entropy, bce (one output, 2 classes), or auto (nll after logsoftmax)", false,
                  {"auto", "nll", "cross-entropy", "bce"})
      .add_string("optimizer", "adam", "sgd, adam or adamw", false, {"sgd", "adam", "adamw"})
      .add_float("lr", 1e-3, "learning rate")
      .add_float("backbone-lr", 0, "learning rate of the layers outside the head (0: the same as --lr)")
      .add_float("momentum", 0.9, "SGD momentum")
      .add_float("weight-decay", 0, "weight decay (L2 for sgd/adam, decoupled for adamw)")
      .add_string("schedule", "none", "none, cosine, step:STEP[:GAMMA] (per epoch); onecycle[:PCT], "
                                      "warmup-cosine[:EPOCHS[:FACTOR]] (per batch); plateau[:PATIENCE[:FACTOR]]")
      .add_int("epochs", 10, "epochs to train (with --resume: the total, counting those done)")
      .add_int("batch-size", 32, "images per batch")
      .add_int("patience", 0, "stop after this many epochs without a lower validation loss (0: never)")
      .add_int("workers", 2, "data loading threads (0: load in the main thread)")
      .add_int("cache-mb", 0, "keep up to this many MiB of decoded images (after the transform's leading "
                              "non-random steps) in memory, so later epochs skip decoding (0: decode every epoch)")
      .add_flag("skip-bad", "leave unreadable images out (listed at the end) instead of stopping at the first")
      .add_flag("no-feature-cache", "with a frozen backbone, run it every epoch instead of computing its features once")
      .add_int("grid", 16, "validation images shown with their predictions in the report")
      .add_string("out", "run", "output folder")
      .add_flag("resume", "continue the run in --out from its last.h5")
      // recipes (docs/usage.md#recipes)
      .add_float("label-smoothing", 0, "label smoothing of the cross-entropy (e.g. 0.1)")
      .add_float("mixup", 0, "mixup alpha: lam ~ Beta(A, A) per batch (e.g. 0.2; 0: off)")
      .add_float("cutmix", 0, "cutmix alpha (e.g. 1.0; 0: off)")
      .add_float("mixup-prob", 1, "chance that a batch is mixed at all (with --mixup/--cutmix)")
      .add_float("switch-prob", 0.5, "with both --mixup and --cutmix: chance of cutmix for a mixed batch")
      .add_float("clip-grad", 0, "clip the gradients' total 2-norm to this (0: off)")
      .add_int("accumulate", 1, "batches per optimizer step (an effective batch of N x --batch-size)")
      .add_string("class-weights", "none", "none, auto (n / (classes * count), sklearn's 'balanced') or one weight "
                                           "per class, e.g. 1,2.5,1")
      .add_flag("balanced-sampler", "draw every class equally often (with replacement) instead of each image once")
      .add_string("fine-tune", "", "E1,E2[,LR_MULT]: fastai's fine_tune: E1 epochs with only the head training, then "
                                   "E2 epochs of all layers, the layer groups' lrs from --lr/2/LR_MULT (default 100) up "
                                   "to --lr/2, both one-cycle (--epochs N: stop after epoch N of E1+E2)")
      .add_flag("lr-find", "run the learning-rate range test instead of training (what `graft lr-find` does)")
      .add_float("lr-find-end", 10, "lr-find: the last lr tried (the first is --lr-find-start)")
      .add_float("lr-find-start", 1e-7, "lr-find: the first lr tried")
      .add_int("lr-find-steps", 100, "lr-find: batches, one per lr")
      .add_float("ema", 0, "keep an average of the weights with this decay (e.g. 0.999), validated every epoch; "
                           "writes ema.h5 and best_ema.h5")
      .add_flag("quiet", "no progress bar");
  add_distributed_options(p);
  p.add_flag("sync-bn", "with --distributed: batch norm uses the statistics of all processes' batches together")
      .add_float("bucket-mb", 25, "with --distributed: gradients are averaged in buckets of about this many MiB")
      .add_example("graft train --data flowers --split 0.5,0.25,0.25 --model vgg16 --pretrained --freeze backbone "
                   "--head 'linear(256) relu dropout(0.4) linear(n) logsoftmax' --patience 3 --out run",
                   "VGG16 feature extraction with early stopping (seed 000)")
      .add_example("graft train --data photos --split 0.8,0.2 --model resnet18 --pretrained --freeze backbone "
                   "--head 'linear(n)' --optimizer sgd --lr 0.001 --momentum 0.9 --loss cross-entropy",
                   "ResNet18 with RandomResizedCrop + flip and SGD momentum (seed 003)")
      .add_example("graft train --data cats_dogs --model 'spec:conv(8,5) relu maxpool(2) conv(4,3) relu maxpool(3) "
                   "flatten linear(128) relu linear(1)' --input-size 3x64x64 --loss bce --weights none",
                   "a small CNN from scratch, BCE with one output (seed 004)")
      .add_example("graft train --data photos --model densenet121 --pretrained --backbone-lr 1e-5 --lr 1e-3",
                   "fine-tune all layers, the backbone 100x slower")
      .add_example("graft train --features feats.h5 --head 'linear(n)'", "a new last layer on extracted features")
      .add_example("graft train --out run --resume --epochs 20", "continue an interrupted run")
      .add_example("mpirun -np 4 graft train --data photos --model resnet18 --pretrained --batch-size 16 --distributed",
                   "4 processes, 64 images per step");
  tools::Args a = p.parse(words);
  if (tools::print_help_if_asked(p, a)) return 0;
  if (!a.flag("distributed")) return run_train(a, words);
  return run_distributed("graft train", a, [&] { return run_train(a, words); });
}

namespace {

int run_train(const tools::Args& a, const std::vector<std::string>& words) {
  const std::string out_dir = a.get("out");
  const uint64_t seed = static_cast<uint64_t>(a.get_int("seed"));
  const int64_t epochs = a.get_int("epochs"), batch_size = a.get_int("batch-size");
  const int workers = static_cast<int>(a.get_int("workers"));
  if (epochs < 1 || batch_size < 1) throw tools::ArgError("graft train: --epochs and --batch-size must be at least 1");
  std::filesystem::create_directories(out_dir);
  const bool distributed = a.flag("distributed");
  const dist::World& world = dist::world();  // {0, 1} without --distributed
  if (distributed)
    std::printf("distributed: %lld images per step in all (--batch-size %lld per process)\n",
                static_cast<long long>(batch_size * world.size), static_cast<long long>(batch_size));

  // ---- data and model -------------------------------------------------------------------------
  Data data = open_training_data(a);
  const int64_t n = static_cast<int64_t>(data.class_names.size());
  manual_seed(seed);
  tools::ModelOptions mo = tools::model_options(a);
  tools::ModelSetup s;
  if (data.features) {
    const int64_t F = data.train->get(0).tensor.numel();
    s.model_name = "head";
    s.head_spec = mo.head.empty() ? "linear(n)" : mo.head;
    s.input_shape = {F};
    s.device = parse_device(mo.device);
    s.model = build_head(s.head_spec, F, n);
    s.model->to(s.device);
  } else {
    s = tools::build_model(mo, n);
  }
  std::string loss_name = a.get("loss");
  if (loss_name == "auto")
    loss_name = (s.head_spec.find("logsoftmax") != std::string::npos) ? "nll" : "cross-entropy";
  GRAFT_CHECK_DATA(loss_name != "bce" || n == 2, "",
                   "--loss bce is for 2 classes with one output, but the data has ", n,
                   " classes; use --loss cross-entropy");

  const std::string train_t = a.given("train-transform") ? a.get("train-transform") : s.train_transform;
  const std::string eval_t = a.given("eval-transform") ? a.get("eval-transform") : s.eval_transform;
  Pipeline train_pipe = data.features ? Pipeline() : Pipeline::parse(train_t);
  Pipeline eval_pipe = data.features ? Pipeline() : Pipeline::parse(eval_t);

  const std::string arch_text = s.model_name + (s.head_spec.empty() ? "" : " head=" + s.head_spec);
  const std::string last_path = out_dir + "/last.h5", best_path = out_dir + "/best.h5";
  TrainingState state;
  state.architecture = arch_text;
  state.settings = tools::shell_join(std::vector<std::string>{"graft", "train"}) + " " + tools::shell_join(words);
  const NamedGenerators gens = {{"default", &default_generator()}};

  // ---- --fine-tune (fastai's fine_tune, train/fine_tune.h): the code below runs once per phase ----
  // Phase 1 trains the head alone (features cached when the transform allows), phase 2 every
  // layer with discriminative lrs; both one-cycle. last.h5 keeps the phase (run_state.fine_tune_phase),
  // so --resume continues either phase, or starts phase 2 from a checkpoint at the boundary.
  const bool fine_tune = a.given("fine-tune");
  FineTuneOptions ft;
  int phase = 0;             // 0: no --fine-tune; 1: head only; 2: all layers
  int64_t stop_epoch = epochs;  // the last epoch this invocation trains
  bool resume_at_boundary = false;  // last.h5 ends phase 1: phase 2 starts with a fresh optimizer
  if (fine_tune) {
    for (const char* o : {"freeze", "schedule", "backbone-lr", "ema", "features", "lr-find"})
      if (a.given(o))
        throw tools::ArgError(std::string("graft train: --fine-tune decides the freezing and the schedule itself; drop --") +
                              o + " (docs/usage.md#recipes)");
    if (distributed) throw tools::ArgError("graft train: --fine-tune runs in one process in this version; drop --distributed");
    GRAFT_CHECK_DATA(!data.features && !s.replaced.empty(), "--fine-tune",
                     "needs a model with a new head (--head SPEC: the layers that train alone in phase 1)");
    ft = parse_fine_tune(a.get("fine-tune"));
    ft.base_lr = a.get_float("lr");
    stop_epoch = a.given("epochs") ? std::min(epochs, ft.frozen_epochs + ft.epochs) : ft.frozen_epochs + ft.epochs;
    phase = 1;
    if (a.flag("resume") && std::filesystem::exists(last_path)) {
      const Checkpoint ck = load_checkpoint(last_path, arch_text);
      const std::vector<double>* ph = ck.state.number("fine_tune_phase");
      GRAFT_CHECK_DATA(ph && ph->size() == 1, "--resume --fine-tune", last_path, " was not written by a --fine-tune "
                       "run (no attribute run_state.fine_tune_phase); resume it without --fine-tune");
      phase = static_cast<int>((*ph)[0]);
      if (phase == 1 && ck.state.progress.epoch >= ft.frozen_epochs && ck.state.progress.partial.batches == 0)
        phase = 2, resume_at_boundary = true;
    }
  }
  std::unique_ptr<dist::DataParallel> data_parallel_ptr;  // one for the run (not with --fine-tune)
  bool cache = false;
  Module* trained = s.model.get();  // what runs in the training loop
  Pipeline loop_eval_pipe = eval_pipe;
  LoaderOptions eval_lo;
  std::string skipped_report;
  std::shared_ptr<const Dataset> valid_ds, test_ds;  // features when cached
  const int last_phase = fine_tune ? 2 : 0;
  for (bool first = true; phase <= last_phase; ++phase, first = false) {
  const bool resuming = a.flag("resume") && first;
  if (fine_tune && phase == 2 && state.progress.epoch >= stop_epoch) break;  // --epochs N ended with phase 1
  const int64_t phase_first = phase == 2 ? ft.frozen_epochs : 0;  // epochs before this phase
  const int64_t phase_epochs = fine_tune ? (phase == 1 ? ft.frozen_epochs : ft.epochs) : epochs;
  const int64_t fit_epochs = fine_tune ? std::min(stop_epoch, phase_first + phase_epochs) : epochs;
  std::vector<LayerGroup> ft_groups;
  if (fine_tune) {
    fine_tune_freeze(*s.model, phase, s.replaced);
    ft_groups = fine_tune_groups(*s.model, s.model_name, s.replaced);
    s.frozen_note.clear();
  }

  // Frozen backbone + deterministic train transform -> compute the backbone's features once.
  const bool head_only_trainable = [&] {
    if (data.features || !tools::head_is_last(s)) return false;
    auto head = tools::head_module(s);
    return s.model->num_parameters(true) == head->num_parameters(true) && head->num_parameters(true) > 0;
  }();
  const bool mixing = a.get_float("mixup") > 0 || a.get_float("cutmix") > 0;  // mixes images, not features
  cache = head_only_trainable && !a.flag("no-feature-cache") && !mixing &&
                     train_pipe.deterministic_prefix() == train_pipe.steps.size() &&
                     train_pipe.tensor_steps.empty();  // random_erasing is random too

  std::shared_ptr<const Dataset> train_ds = data.train;
  valid_ds = data.valid, test_ds = data.test;
  trained = s.model.get();
  Pipeline loop_train_pipe = train_pipe;
  loop_eval_pipe = eval_pipe;
  if (cache) {
    auto t0 = Clock::now();
    std::printf("only the head trains and the train transform is deterministic: computing the backbone features once ...\n");
    for (const auto& [name, m] : s.model->named_modules())
      if (m->type() == "Dropout" && name.rfind(s.replaced, 0) != 0) {
        std::printf("  note: the frozen part has dropout ('%s'); features are computed in eval mode, so it is off "
                    "(--no-feature-cache keeps it on)\n", name.c_str());
        break;
      }
    std::fflush(stdout);
    train_ds = backbone_features(s, *data.train, train_pipe, workers, a.flag("skip-bad"));
    if (valid_ds) valid_ds = backbone_features(s, *data.valid, eval_pipe, workers, a.flag("skip-bad"));
    if (test_ds) test_ds = backbone_features(s, *data.test, eval_pipe, workers, a.flag("skip-bad"));
    trained = tools::head_module(s).get();
    loop_train_pipe = loop_eval_pipe = Pipeline();
    std::printf("  %lld feature rows of %lld values in %.1f s\n", static_cast<long long>(train_ds->size()),
                static_cast<long long>(train_ds->get(0).tensor.numel()), seconds_since(t0));
  }

  // ---- optimizer: one group, or backbone + head groups ------------------------------------------
  std::vector<ParamGroup> groups;
  const float lr = static_cast<float>(a.get_float("lr")), wd = static_cast<float>(a.get_float("weight-decay"));
  const double backbone_lr = a.get_float("backbone-lr");
  if (phase == 2) {  // the layer groups, at fastai's even_mults of --lr / 2
    const std::vector<double> lrs = fine_tune_lrs(ft, static_cast<int64_t>(ft_groups.size()));
    for (size_t i = 0; i < ft_groups.size(); ++i)
      groups.push_back(ParamGroup{ft_groups[i].params, static_cast<float>(lrs[i]), wd});
  } else if (backbone_lr > 0 && !data.features && !cache) {
    auto head = tools::head_module(s);
    std::vector<Tensor> head_params = head ? head->parameters(true) : std::vector<Tensor>{};
    std::vector<Tensor> backbone;
    for (const Tensor& t : s.model->parameters(true))
      if (std::none_of(head_params.begin(), head_params.end(), [&](const Tensor& h) { return h.data() == t.data(); }))
        backbone.push_back(t);
    groups.push_back(ParamGroup{backbone, static_cast<float>(backbone_lr), wd});
    groups.push_back(ParamGroup{head_params, lr, wd});
  } else {
    groups.push_back(ParamGroup{trained->parameters(true), lr, wd});
  }
  GRAFT_CHECK_DATA(trained->num_parameters(true) > 0, "", "nothing to train: every parameter is frozen (--freeze ",
                   mo.freeze, ")");
  GRAFT_CHECK(distributed || !a.flag("sync-bn"), "graft train", "--sync-bn is for --distributed runs");
  GRAFT_CHECK(!a.flag("sync-bn") || s.device == Device::CPU, "graft train",
              "--sync-bn runs on the CPU in this version; use --device cpu, or leave batch norm per process");
  auto opt = make_optimizer(a, std::move(groups));
  std::vector<float> base_lrs;  // before a resume restores the scheduled lrs (per-step schedules start from these)
  for (const ParamGroup& g : opt->param_groups()) base_lrs.push_back(g.lr);
  auto sched = make_scheduler(a.get("schedule"), *opt, epochs);

  // ---- resume ----------------------------------------------------------------------------------
  if (resuming) {
    GRAFT_CHECK_DATA(std::filesystem::exists(last_path), "--resume", "no checkpoint ", last_path,
                     " (was the run started with --out ", out_dir, "?)");
    const std::string settings = state.settings;
    if (resume_at_boundary) {  // phase 1's optimizer state stays behind: phase 2 starts a fresh one
      NamedTensors phase1_optimizer;
      state = load_training_checkpoint_tensors(last_path, arch_text, *s.model, &phase1_optimizer, gens);
    } else {
      state = load_training_checkpoint(last_path, arch_text, *s.model, opt.get(), gens);
    }
    state.settings = settings;
    if (sched) sched->set_last_epoch(state.progress.epoch);
    if (state.progress.partial.batches > 0)
      std::printf("resumed %s in epoch %lld after batch %lld (best validation loss %.4f)\n", last_path.c_str(),
                  static_cast<long long>(state.progress.epoch + 1),
                  static_cast<long long>(state.progress.partial.batches), state.progress.best_valid_loss);
    else
      std::printf("resumed %s at epoch %lld (best validation loss %.4f)\n", last_path.c_str(),
                  static_cast<long long>(state.progress.epoch), state.progress.best_valid_loss);
  }

  std::printf("graft train: %s, %lld classes, %lld train / %lld valid / %lld test samples, %s\n", arch_text.c_str(),
              static_cast<long long>(n), static_cast<long long>(data.train->size()),
              static_cast<long long>(data.valid ? data.valid->size() : 0),
              static_cast<long long>(data.test ? data.test->size() : 0), device_name(s.device));
  for (const auto& note : s.frozen_note) std::printf("  %s\n", note.c_str());
  std::printf("  parameters: %lld total, %lld trainable; loss %s, optimizer %s, lr %g\n",
              static_cast<long long>(s.model->num_parameters()), static_cast<long long>(s.model->num_parameters(true)),
              loss_name.c_str(), a.get("optimizer").c_str(), lr);
  if (fine_tune) {
    const OneCycleLR::Options oc = fine_tune_one_cycle(phase, 1);
    std::printf("fine-tune phase %d of 2: epochs %lld-%lld, %s; one-cycle (pct_start %g, div %g, final lr = max / 1e5)\n",
                phase, static_cast<long long>(phase_first + 1), static_cast<long long>(phase_first + phase_epochs),
                phase == 1 ? "backbone frozen (its batch norm uses its running statistics), only the head trains"
                           : "all layers train (batch norm in training mode), discriminative lrs",
                oc.pct_start, oc.div_factor);
    for (size_t i = 0; i < ft_groups.size(); ++i) {
      char what[64] = "frozen";
      if (phase == 2 || i + 1 == ft_groups.size())
        std::snprintf(what, sizeof what, "max lr %.3g", phase == 2 ? fine_tune_lrs(ft, static_cast<int64_t>(ft_groups.size()))[i] : double(lr));
      std::printf("  layer group %zu: %-62s %9lld values  %s\n", i, ft_groups[i].name.c_str(),
                  static_cast<long long>(ft_groups[i].numel), what);
    }
  }
  std::fflush(stdout);

  LoaderOptions train_lo;
  train_lo.batch_size = batch_size;
  train_lo.shuffle = true;
  train_lo.seed = seed;
  train_lo.num_workers = workers;
  // Decoded images stay in memory only when asked (--cache-mb), and only up to that budget: a
  // folder larger than RAM trains in bounded memory (docs/usage.md#interrupted-runs-full-disks-and-memory).
  train_lo.cache = a.get_int("cache-mb") > 0 && !cache && !data.features;
  train_lo.cache_max_bytes = a.get_int("cache-mb") << 20;
  train_lo.skip_bad = a.flag("skip-bad");
  if (a.flag("balanced-sampler")) train_lo.sample_weights = balanced_sample_weights(*train_ds);  // recipes
  eval_lo = train_lo;  // the whole sets, after the epochs (rank 0 alone)
  eval_lo.shuffle = false;
  eval_lo.sample_weights.clear();
  // During the epochs: a shard per process; validation's is not padded (a padded sample would
  // count twice in the validation loss).
  const LoaderOptions valid_lo = dist::evaluation_shard(eval_lo);
  train_lo.rank = world.rank;
  train_lo.world_size = world.size;
  DataLoader train_loader(train_ds, loop_train_pipe, train_lo);
  std::unique_ptr<DataLoader> valid_loader;
  if (valid_ds) valid_loader = std::make_unique<DataLoader>(valid_ds, loop_eval_pipe, valid_lo);

  // ---- recipes: class weights of the loss (before the loss function that uses them) -------------
  Tensor class_weights;
  if (a.get("class-weights") != "none") {
    if (loss_name == "bce" || mixing)
      throw tools::ArgError("graft train: --class-weights needs --loss cross-entropy or nll, without --mixup/--cutmix");
    std::vector<float> w;
    if (a.get("class-weights") == "auto") {
      w = balanced_class_weights(class_counts(*data.train), data.class_names);
    } else {
      std::stringstream ss(a.get("class-weights"));
      for (std::string part; std::getline(ss, part, ',');) try {
          w.push_back(std::stof(part));
        } catch (const std::exception&) {
          throw tools::ArgError("graft train: --class-weights expects none, auto or numbers like 1,2.5,1; got '" +
                                a.get("class-weights") + "'");
        }
      if (static_cast<int64_t>(w.size()) != n)
        throw tools::ArgError("graft train: --class-weights gives " + std::to_string(w.size()) + " weights for " +
                              std::to_string(n) + " classes");
    }
    std::printf("  class weights:");
    for (size_t c = 0; c < w.size(); ++c) std::printf(" %s %.4g", data.class_names[c].c_str(), w[c]);
    std::printf("\n");
    class_weights = Tensor::from_vector({n}, w, s.device);
  }

  // ---- the epochs: the library's loop (train/fit.h) with this command's callbacks -----------------
  const LossFn loss_fn = [&](const Tensor& out, const Tensor& y) {
    GRAFT_CHECK_DATA(loss_name != "bce" || (out.dim() == 2 && out.size(1) == 1), "",
                     "--loss bce needs one output per image, but the model gives ", out.shape(),
                     "; end the head with linear(1)");
    return batch_loss(loss_name, out, y, a.get_float("label-smoothing"), class_weights);
  };
  const int64_t patience = a.get_int("patience") > 0 ? a.get_int("patience") : std::numeric_limits<int64_t>::max();
  EarlyStopping early(patience);
  std::unique_ptr<ScheduleEveryEpoch> schedule = sched ? std::make_unique<ScheduleEveryEpoch>(*sched) : nullptr;
  // ---- files: best.h5 on a new best, last.h5 and metrics.csv after every epoch ------------------
  // Every file is written to <name>.tmp and renamed (tensor/hdf5_io.h save_tensors), so a full
  // disk, kill -9 or a power cut leaves the previous file. A failed save stops the run with a
  // message naming the file and the checkpoint to resume from (continuing would train epochs
  // that could not be saved).
  const std::string resume_command =
      tools::shell_join(std::vector<std::string>{"graft", "train"}) + " " + tools::shell_join(words) +
      (a.flag("resume") ? "" : " --resume");
  int64_t last_saved_epoch = state.progress.epoch;  // the epoch last.h5 holds
  ReduceLROnPlateau* plateau = nullptr;  // set below with --schedule plateau: its counters go into last.h5
  auto save_last = [&](const FitProgress& progress) {
    state.progress = progress;
    state.numbers.clear();
    if (fine_tune) state.numbers.push_back({"fine_tune_phase", {static_cast<double>(phase)}});
    if (plateau) {
      const ReduceLROnPlateau::Counters& c = plateau->counters();
      state.numbers.push_back({"plateau", {c.best, static_cast<double>(c.bad_epochs), static_cast<double>(c.cooldown_left)}});
    }
    save_training_checkpoint(last_path, *s.model, opt.get(), state, gens,
                             tools::checkpoint_weights_info(s, data.class_names, eval_t),
                             tools::checkpoint_description(s, eval_t, loss_name));
  };
  auto saving = [&](int64_t epoch, const std::function<void()>& save) {
    try {
      save();
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string(e.what()) + "\ntraining stopped after epoch " + std::to_string(epoch) +
                               (std::filesystem::exists(last_path)
                                    ? "; " + last_path + " holds epoch " + std::to_string(last_saved_epoch) +
                                          ": resume with\n  " + resume_command
                                    : std::string("; no checkpoint was written")));
    }
  };
  LambdaCallback files;
  files.epoch_end = [&](FitState& st) {
    saving(st.epoch, [&] {
      if (st.improved) tools::save_model_checkpoint(best_path, s, data.class_names, eval_t, loss_name);
      save_last(st.progress);
      last_saved_epoch = st.epoch;
      tools::write_metrics_csv(out_dir + "/metrics.csv", st.progress.history);
    });
  };
  tools::ProgressCallback progress(a.flag("quiet"), a.get_int("patience"));
  if (!data_parallel_ptr)
    data_parallel_ptr = std::make_unique<dist::DataParallel>(static_cast<size_t>(a.get_float("bucket-mb") * (1 << 20)),
                                                             a.flag("sync-bn"));
  dist::DataParallel& data_parallel = *data_parallel_ptr;
  std::vector<Callback*> callbacks;  // (with --distributed, data_parallel goes first: see below)
  callbacks.push_back(&early);
  if (schedule) callbacks.push_back(schedule.get());
  if (world.rank == 0) callbacks.push_back(&files), callbacks.push_back(&progress);  // one writer
  // ---- recipes: per-step / plateau schedules, mixup and cutmix, accumulation, clipping ---------
  if ((a.get_float("label-smoothing") > 0 || mixing) && loss_name == "bce")
    throw tools::ArgError("graft train: --label-smoothing, --mixup and --cutmix need --loss cross-entropy or nll");
  if (a.get_int("accumulate") < 1) throw tools::ArgError("graft train: --accumulate must be at least 1");
  StepSchedule step_schedule = make_step_schedule(a.get("schedule"), *opt, base_lrs, epochs,
                                                  steps_per_epoch(train_loader, a.get_int("accumulate")),
                                                  state.progress.epoch * steps_per_epoch(train_loader, a.get_int("accumulate")) +
                                                      state.progress.partial.steps);
  if (step_schedule.plateau) {  // a resumed run continues the counters (best, bad epochs, cooldown)
    plateau = step_schedule.plateau.get();
    if (const std::vector<double>* c = state.number("plateau"); resuming && c && c->size() == 3)
      plateau->set_counters({(*c)[0], static_cast<int64_t>((*c)[1]), static_cast<int64_t>((*c)[2])});
  }
  if (fine_tune) {  // this phase's one-cycle, from the groups' max lrs (train/fine_tune.h)
    const int64_t spe = steps_per_epoch(train_loader, a.get_int("accumulate"));
    std::vector<double> max_lrs;
    for (size_t i = 0; i < base_lrs.size(); ++i) opt->param_groups()[i].lr = base_lrs[i], max_lrs.push_back(base_lrs[i]);
    step_schedule.per_step = std::make_unique<OneCycleLR>(*opt, max_lrs, fine_tune_one_cycle(phase, phase_epochs * spe));
    const int64_t done = (state.progress.epoch - phase_first) * spe + state.progress.partial.steps;
    if (done > 0) step_schedule.per_step->set_last_epoch(done);
    step_schedule.callback = std::make_unique<SchedulePerStep>(*step_schedule.per_step);
  }
  if (step_schedule.callback) callbacks.insert(callbacks.begin() + 1, step_schedule.callback.get());
  std::unique_ptr<Mixup> mixup;
  if (mixing) {
    MixupOptions mo_;
    mo_.mixup_alpha = a.get_float("mixup");
    mo_.cutmix_alpha = a.get_float("cutmix");
    mo_.prob = a.get_float("mixup-prob");
    mo_.switch_prob = a.get_float("switch-prob");
    mo_.label_smoothing = a.get_float("label-smoothing");  // folded into the soft targets, as timm
    mo_.seed = seed;
    mixup = std::make_unique<Mixup>(mo_, n);
    callbacks.insert(callbacks.begin(), mixup.get());
  }
  std::unique_ptr<ModelEma> ema;
  LambdaCallback ema_files;  // ema.h5 every epoch (for --resume), best_ema.h5 on the average's best validation loss
  const std::string ema_path = out_dir + "/ema.h5", best_ema_path = out_dir + "/best_ema.h5";
  if (a.get_float("ema") > 0) {
    ema = std::make_unique<ModelEma>(*trained, a.get_float("ema"), valid_loader.get(), s.device);
    if (resuming && std::filesystem::exists(ema_path))
      ema->capture_average([&] { load_weights(*s.model, ema_path, true); });
    callbacks.insert(callbacks.begin() + (mixup ? 1 : 0), ema.get());  // evaluates before ema_files saves
    ema_files.epoch_end = [&](FitState&) {
      ema->with_average([&] {
        tools::save_model_checkpoint(ema_path, s, data.class_names, eval_t, loss_name);
        if (ema->improved) tools::save_model_checkpoint(best_ema_path, s, data.class_names, eval_t, loss_name);
      });
      if (valid_loader && !a.flag("quiet"))
        std::printf("  ema %g: valid loss %.4f acc %.2f%%%s\n", ema->decay, ema->last.mean_cross_entropy,
                    100 * ema->last.top1, ema->improved ? "  *best (best_ema.h5)" : "");
    };
    if (world.rank == 0) callbacks.push_back(&ema_files);  // one writer
  }

  // First: rank 0's weights before anything reads them (EMA's first average), and the ranks'
  // sums before anything decides on them (early stopping, schedules on plateau, best.h5).
  if (distributed) callbacks.insert(callbacks.begin(), &data_parallel);

  if (a.flag("lr-find")) {
    GRAFT_CHECK(!distributed, "graft train", "--lr-find runs in one process; drop --distributed (the lr it finds is "
                "for the global batch: run it with --batch-size of all processes together)");
    return run_lr_find(a, *trained, *opt, loss_fn, train_loader, s.device, out_dir);
  }

  FitOptions fo;
  fo.epochs = fit_epochs;
  fo.device = s.device;
  fo.progress = state.progress;
  fo.accumulate = a.get_int("accumulate");
  fo.clip_grad_norm = a.get_float("clip-grad");
  // Ctrl-C / SIGTERM: the step in hand finishes, last.h5 is saved (train/interrupt.h). Not with
  // --distributed: the ranks would have to agree on the step to stop at.
  std::optional<InterruptGuard> interrupt_guard;
  if (!distributed) {
    interrupt_guard.emplace();
    fo.stop_requested = [] { return interrupt_signal() != 0; };
  }
  try {
    state.progress = fit(*trained, *opt, loss_fn, train_loader, valid_loader.get(), fo, callbacks);
    if (state.progress.interrupted) {
      const int sig = interrupt_signal();
      const PartialEpoch& q = state.progress.partial;
      saving(state.progress.epoch, [&] {
        save_last(state.progress);
        if (ema) ema->with_average([&] { tools::save_model_checkpoint(ema_path, s, data.class_names, eval_t, loss_name); });
      });
      const std::string where =
          q.batches > 0 ? "epoch " + std::to_string(state.progress.epoch + 1) + " batch " + std::to_string(q.batches) +
                              " of " + std::to_string(train_loader.num_batches())
                        : "the end of epoch " + std::to_string(state.progress.epoch);
      std::fflush(stdout);
      std::fprintf(stderr, "%sgraft train: interrupted (%s) at %s; saved %s; resume with:\n  %s\n",
                   isatty(STDOUT_FILENO) ? "\n" : "", signal_name(sig), where.c_str(), last_path.c_str(),
                   resume_command.c_str());
      return 128 + sig;  // 130 for SIGINT, 143 for SIGTERM, as a shell reports a process killed by them
    }
  } catch (const NonFiniteLoss& e) {  // say which checkpoint is the last good one
    throw NonFiniteLoss(std::string(e.what()) + (std::filesystem::exists(last_path)
                                                     ? "; " + last_path + " holds epoch " +
                                                           std::to_string(state.progress.epoch) + ""
                                                     : "; no checkpoint was written yet"));
  }
  if (!train_loader.skipped().empty()) skipped_report += train_loader.skipped_report();
  if (early.stopped()) break;  // no phase 2 after early stopping in phase 1
  }  // phases

  if (distributed) {
    if (const dist::GradientReducer* r = data_parallel_ptr->reducer(); r && r->steps() > 0)
      std::printf("distributed: %lld steps, %d gradient buckets (%d started during backward); all-reduce %.3f s "
                  "per step, of which %.3f s waited for after backward\n",
                  static_cast<long long>(r->steps()), r->num_buckets(), r->buckets_started_early(),
                  r->seconds_reducing() / double(r->steps()), r->seconds_waiting() / double(r->steps()));
    // No more collectives: leave now, so that the other ranks are not waiting (and spinning)
    // in MPI_Finalize while rank 0 evaluates the test set and writes the report alone.
    dist::barrier("the end of training");
    dist::nccl_finalize();
    dist::finalize();
    if (world.rank != 0) return 0;
  }

  if (!skipped_report.empty()) std::fputs(skipped_report.c_str(), stderr);

  // ---- the best weights on the test set, and the report -----------------------------------------
  if (std::filesystem::exists(best_path)) load_weights(*s.model, best_path, true);
  tools::ReportData report;
  report.command_line = state.settings;
  report.settings = a.values();
  report.settings.emplace_back("train transform", data.features ? "(features)" : train_pipe.str());
  report.settings.emplace_back("eval transform", data.features ? "(features)" : eval_pipe.str());
  report.settings.emplace_back("backbone features cached", cache ? "yes" : "no");
  report.history = state.progress.history;
  report.class_names = data.class_names;
  auto evaluate_on = [&](const std::shared_ptr<const Dataset>& ds) {
    DataLoader l(ds, loop_eval_pipe, eval_lo);
    return evaluate(*trained, l, s.device);
  };
  if (valid_ds) {
    EvalResult r = evaluate_on(valid_ds);
    report.has_confusion = true;
    report.confusion = r.confusion;
  }
  if (test_ds) {
    EvalResult r = evaluate_on(test_ds);
    std::printf("test (best weights, %lld images): top-1 %.2f%%  top-%lld %.2f%%  cross-entropy %.4f\n",
                static_cast<long long>(r.count), 100 * r.top1, static_cast<long long>(r.k), 100 * r.topk,
                r.mean_cross_entropy);
    report.sections.emplace_back("Test set", "<pre>" + tools::html_escape(format_eval_table(r, data.class_names)) +
                                                 "</pre>");
    if (!valid_ds) report.has_confusion = true, report.confusion = r.confusion;
  }
  // A grid of validation images (the real images, through the eval transform and the whole model).
  // Spread evenly over the set (image i * size / n), not its first n: an ImageFolder is sorted by
  // class, so the first 16 images would all be of the first class.
  std::shared_ptr<const Dataset> grid_ds = data.valid ? data.valid : data.train;
  const int64_t grid_n = std::min<int64_t>(a.get_int("grid"), grid_ds->size());
  if (!data.features && grid_n > 0) {
    std::vector<int64_t> idx(static_cast<size_t>(grid_n));
    for (int64_t i = 0; i < grid_n; ++i) idx[i] = i * grid_ds->size() / grid_n;
    DataLoader l(grid_ds, eval_pipe, eval_lo);
    Batch b = l.make_batch(idx, 0, 0);
    std::vector<int64_t> pred, truth = b.labels.to_labels();
    {
      NoGradGuard no_grad;
      s.model->eval();
      pred = predictions((*s.model)(b.inputs.to(s.device)).to(Device::CPU));
    }
    const int64_t per = b.inputs.numel() / b.inputs.size(0);
    for (int64_t i = 0; i < static_cast<int64_t>(pred.size()); ++i) {
      tools::GridImage g;
      Shape chw(b.inputs.shape().begin() + 1, b.inputs.shape().end());
      g.image = Tensor::empty(chw);
      std::copy_n(b.inputs.data() + i * per, per, g.image.data());
      g.predicted = data.class_names[pred[i]];
      g.truth = data.class_names[truth[i]];
      g.caption = std::filesystem::path(grid_ds->source(b.indices[i])).filename().string();
      report.grid.push_back(g);
    }
    report.mean = eval_pipe.mean;
    report.std = eval_pipe.std;
    // The same images with Grad-CAM of the predicted class (the function eval's report uses).
    auto cams = tools::grad_cam_section(*s.model, s.model_name, report.grid, pred, s.device, eval_pipe.mean,
                                        eval_pipe.std, data.valid ? "the validation images" : "the training images");
    if (!cams.first.empty()) report.sections.push_back(cams);
  }
  tools::write_html_report(out_dir + "/report.html", report);
  std::printf("wrote %s (best weights), %s, %s/metrics.csv, %s/report.html\n", best_path.c_str(), last_path.c_str(),
              out_dir.c_str(), out_dir.c_str());
  return 0;
}

}  // namespace
}  // namespace graft
