// tools/cmd_demo.cpp — `graft demo`: transfer learning on real data (Fashion-MNIST), on the CPU.
//
// The story the demo tells, in four stages:
//   1. Pretrain a small CNN from scratch on five Fashion-MNIST classes (by default Sandal,
//      Shirt, Sneaker, Bag, Ankle boot: 30,000 images; --pretrain-classes) and save it — our
//      "ImageNet".
//   2. A new task: the other five classes (T-shirt/top, Trouser, Pullover, Dress, Coat) with
//      only a few labelled images per class (default 100).
//   3. Learn it three ways: (a) frozen pretrained backbone + new head, features computed once;
//      (b) fine-tuning all layers, the backbone at a 10x lower learning rate; (c) from scratch.
//   4. Print test accuracy and time per method, and write <out>/report.html
//      (tools/lib/report.h): the comparison table, loss and held-out accuracy per epoch for
//      each method, the confusion matrix and a grid of test images with predicted and true
//      labels for the best method, and the command line.
// Measured (docs/usage.md, graft demo): transfer is ahead by 1.4-1.8 points with 100 and 20
// labels per class, and the frozen backbone is always the fastest. The default split (pretrain
// on footwear, bags and shirts; learn tops, trousers, dresses, coats) is the one of the two
// halves where transfer helps more.
// The held-out images (100 per class of the new task, never trained on) give the accuracy per
// epoch; the test set is only used once per method, at the end.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <sstream>
#include <string>

#include "autograd/engine.h"
#include "args.h"
#include "commands.h"
#include "data/datasets.h"
#include "data/split.h"
#include "layers/activation.h"
#include "layers/basic.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/pool2d.h"
#include "layers/sequential.h"
#include "optim/adam.h"
#include "report.h"
#include "tensor/check.h"
#include "tensor/hdf5_io.h"
#include "tensor/random.h"
#include "train/fit.h"

namespace graft {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Images [N,1,28,28] in [0,1] and labels [N] of the chosen classes, relabelled 0..k-1.
struct Split {
  Tensor x, y;
  int64_t size() const { return x.defined() ? x.size(0) : 0; }
};

Split select(const IdxDataset& ds, const std::vector<int64_t>& classes, const std::vector<int64_t>& only = {}) {
  std::vector<int64_t> idx;
  if (!only.empty()) {
    idx = only;
  } else {
    for (int64_t i = 0; i < ds.size(); ++i)
      if (std::find(classes.begin(), classes.end(), ds.label(i)) != classes.end()) idx.push_back(i);
  }
  Split s;
  s.x = Tensor::empty({static_cast<int64_t>(idx.size()), 1, 28, 28});
  std::vector<int64_t> labels;
  float* px = s.x.data();
  for (int64_t i : idx) {
    Sample sm = ds.get(i);
    for (uint8_t v : sm.image.data) *px++ = v / 255.0f;
    labels.push_back(std::find(classes.begin(), classes.end(), ds.label(i)) - classes.begin());
  }
  s.y = Tensor::from_labels(labels);
  return s;
}

// The small CNN: `features` (the backbone we transfer) and `classifier` (the head we replace).
// Parameter names as a PyTorch module with the same attributes: features.0.weight, ...
class SmallCNN : public Module {
 public:
  explicit SmallCNN(int64_t num_classes) : Module("SmallCNN") {
    features = register_module("features", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
        std::make_shared<Conv2d>(1, 16, 3, 1, 1), std::make_shared<BatchNorm2d>(16), std::make_shared<ReLU>(),
        std::make_shared<MaxPool2d>(2),  // [16,14,14]
        std::make_shared<Conv2d>(16, 32, 3, 1, 1), std::make_shared<BatchNorm2d>(32), std::make_shared<ReLU>(),
        std::make_shared<MaxPool2d>(2),  // [32,7,7]
        std::make_shared<Flatten>()}));
    classifier = register_module("classifier", make_head(num_classes));
  }
  static std::shared_ptr<Sequential> make_head(int64_t num_classes) {
    return std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
        std::make_shared<Linear>(32 * 7 * 7, 128), std::make_shared<ReLU>(), std::make_shared<Dropout>(0.3f),
        std::make_shared<Linear>(128, num_classes)});
  }
  Child<Sequential> features;
  Child<Module> classifier;

 protected:
  Tensor forward(const Tensor& x) override { return classifier(features(x)); }
};

// A loader over a split (its rows in memory): shuffled for training, in order otherwise.
std::unique_ptr<DataLoader> loader_of(const Split& s, int64_t batch, bool shuffle, uint64_t seed) {
  LoaderOptions o;
  o.batch_size = batch;
  o.shuffle = shuffle;
  o.seed = seed;
  o.num_workers = 0;  // the rows are in memory: nothing to decode
  return std::make_unique<DataLoader>(std::make_shared<TensorDataset>(s.x, s.y.to_labels(), std::vector<std::string>{},
                                                                      std::vector<std::string>{}),
                                      Pipeline(), o);
}

// Accuracy, mean cross-entropy and the predicted classes of `model` on a split (eval mode).
struct Evaluation {
  double accuracy = 0, loss = 0;
  std::vector<int64_t> predicted;
};
Evaluation evaluate_split(Module& model, const Split& s) {
  auto loader = loader_of(s, 500, false, 0);
  Evaluation ev;
  EvalAccumulator acc(1);
  predict_batches(model, *loader, Device::CPU, [&](const Batch& b, const Tensor& out) {
    acc.add(out, b.labels);
    for (int64_t p : predictions(out)) ev.predicted.push_back(p);
  });
  const EvalResult r = acc.result();
  ev.accuracy = r.top1;
  ev.loss = r.mean_cross_entropy;
  return ev;
}
double accuracy(Module& model, const Split& s) { return evaluate_split(model, s).accuracy; }

// Trains with cross-entropy for `epochs` over shuffled mini-batches — the library's loop — and
// prints one line per epoch (or only the last with quiet_epochs). With `valid`, the held-out
// loss and accuracy of every epoch are in the returned history (the report's learning curves).
std::vector<EpochMetrics> train(Module& model, Optimizer& opt, const Split& split, int64_t epochs, int64_t batch,
                                uint64_t seed, const std::string& label, bool quiet_epochs = false,
                                const Split* valid = nullptr) {
  auto train_loader = loader_of(split, batch, true, seed);
  auto valid_loader = valid ? loader_of(*valid, 500, false, 0) : nullptr;
  LambdaCallback print;
  print.epoch_end = [&](FitState& s) {
    if (quiet_epochs && s.epoch != epochs) return;
    std::printf("  %-12s epoch %2lld/%lld  loss %.4f  (%.1f s, %.0f img/s)\n", label.c_str(),
                static_cast<long long>(s.epoch), static_cast<long long>(epochs), s.metrics.train_loss,
                s.metrics.seconds, static_cast<double>(split.size()) / s.metrics.seconds);
    std::fflush(stdout);
  };
  FitOptions fo;
  fo.epochs = epochs;
  fo.topk = 1;
  const LossFn ce = [](const Tensor& out, const Tensor& y) { return cross_entropy(out, y); };
  return fit(model, opt, ce, *train_loader, valid_loader.get(), fo, {&print}).history;
}

std::vector<ParamGroup> one_group(Module& m, float lr) { return {ParamGroup{m.parameters(true), lr}}; }

}  // namespace

int cmd_demo(const std::vector<std::string>& words) {
  tools::ArgParser parser("graft demo",
                          "Transfer learning on Fashion-MNIST (Debian package dataset-fashion-mnist), on the CPU:\n"
                          "pretrain a small CNN on 5 classes, then learn the other 5 from a few labelled images per\n"
                          "class three ways (frozen backbone + new head, fine-tuning, from scratch) and compare.");
  parser.add_string("data", "/usr/share/datasets/fashion-mnist", "folder with the IDX files")
      .add_string("out", "demo-out", "where the pretrained model and the report are written")
      .add_int("per-class", 100, "labelled images per class for the new task")
      .add_int("pretrain-epochs", 4, "epochs over the 30,000 pretraining images")
      .add_int("epochs", 30, "epochs for each method on the new task")
      .add_int("seed", 0, "random seed (initialization, shuffling, which images are labelled)")
      .add_string("pretrain-classes", "5,6,7,8,9",
                  "Fashion-MNIST classes (0-9) of the pretraining task; the new task is the other classes")
      .add_flag("reuse-pretrained", "skip the pretraining when <out>/pretrained.h5 exists (from an earlier run)")
      .add_example("graft demo", "the full demo (a few minutes on two cores)")
      .add_example("graft demo --per-class 20 --pretrain-epochs 1", "fewer labels (docs/usage.md has measured numbers)")
      .add_example("graft demo --reuse-pretrained --per-class 50", "the new task again, with the saved pretrained CNN");
  tools::Args args = parser.parse(words);
  if (tools::print_help_if_asked(parser, args)) return 0;
  const std::string data_dir = args.get("data"), out_dir = args.get("out");
  const int64_t per_class = args.get_int("per-class"), pretrain_epochs = args.get_int("pretrain-epochs"),
                epochs = args.get_int("epochs");
  const uint64_t seed = static_cast<uint64_t>(args.get_int("seed"));
  GRAFT_CHECK_DATA(std::filesystem::exists(data_dir), "graft demo", "no Fashion-MNIST at '", data_dir,
                   "': install it with `apt-get install dataset-fashion-mnist` or pass --data DIR");
  std::filesystem::create_directories(out_dir);
  auto t_all = Clock::now();

  IdxDataset train_all = IdxDataset::from_folder(data_dir, true, false, kFashionMnistClasses);
  IdxDataset test_all = IdxDataset::from_folder(data_dir, false, false, kFashionMnistClasses);
  std::vector<int64_t> source_classes, target_classes;
  {
    std::stringstream list(args.get("pretrain-classes"));
    for (std::string item; std::getline(list, item, ',');) {
      size_t used = 0;
      int64_t c = -1;
      try {
        c = std::stoll(item, &used);
      } catch (const std::exception&) {
      }
      if (used != item.size() || c < 0 || c > 9)
        throw tools::ArgError("graft demo: --pretrain-classes expects class numbers 0-9 separated by commas, got '" +
                              item + "'");
      source_classes.push_back(c);
    }
    for (int64_t c = 0; c < 10; ++c)
      if (std::find(source_classes.begin(), source_classes.end(), c) == source_classes.end())
        target_classes.push_back(c);
    if (source_classes.empty() || target_classes.empty())
      throw tools::ArgError("graft demo: --pretrain-classes must leave classes for both tasks");
  }
  auto is_target = [&](int64_t label) {
    return std::find(target_classes.begin(), target_classes.end(), label) != target_classes.end();
  };
  auto names = [&](const std::vector<int64_t>& cs) {
    std::string s;
    for (int64_t c : cs) s += (s.empty() ? "" : ", ") + kFashionMnistClasses[c];
    return s;
  };

  // ---- 1. pretraining ---------------------------------------------------------------------
  Split pre_train = select(train_all, source_classes), pre_test = select(test_all, source_classes);
  std::printf("graft demo: transfer learning on Fashion-MNIST (%s)\n\n", data_dir.c_str());
  std::printf("1. Pretrain a small CNN from scratch on %lld images of %s\n",
              static_cast<long long>(pre_train.size()), names(source_classes).c_str());
  manual_seed(seed);
  SmallCNN pretrained(static_cast<int64_t>(source_classes.size()));
  std::string saved = out_dir + "/pretrained.h5";
  if (args.flag("reuse-pretrained") && std::filesystem::exists(saved)) {
    pretrained.load_state_dict(load_tensors(saved), /*strict=*/true, saved);
    std::printf("   reusing %s (--reuse-pretrained): test accuracy on the 5 pretraining classes %.2f%%\n\n",
                saved.c_str(), 100 * accuracy(pretrained, pre_test));
  } else {
    {
      Adam opt(one_group(pretrained, 1e-3f));
      auto t0 = Clock::now();
      train(pretrained, opt, pre_train, pretrain_epochs, 64, seed, "pretrain");
      std::printf("   test accuracy on the 5 pretraining classes: %.2f%%  (%.0f s)\n",
                  100 * accuracy(pretrained, pre_test), seconds_since(t0));
    }
    save_tensors(saved, pretrained.state_dict(), [](H5File& f) { f.set_attr("architecture", std::string("smallcnn")); });
    std::printf("   saved to %s\n\n", saved.c_str());
  }

  // ---- 2. the new task ----------------------------------------------------------------------
  std::vector<int64_t> target_labels;
  std::vector<int64_t> target_idx;
  for (int64_t i = 0; i < train_all.size(); ++i)
    if (is_target(train_all.label(i))) {
      target_idx.push_back(i);
      target_labels.push_back(train_all.label(i));
    }
  std::vector<int64_t> picked;
  for (int64_t k : n_per_class_indices(target_labels, per_class, seed + 1)) picked.push_back(target_idx[k]);
  // Held-out images for the per-epoch curves: 100 per class among those not picked for training.
  std::vector<int64_t> rest_idx, rest_labels;
  for (size_t k = 0; k < target_idx.size(); ++k)
    if (!std::binary_search(picked.begin(), picked.end(), target_idx[k])) {
      rest_idx.push_back(target_idx[k]);
      rest_labels.push_back(target_labels[k]);
    }
  std::vector<int64_t> held;
  for (int64_t k : n_per_class_indices(rest_labels, 100, seed + 3)) held.push_back(rest_idx[k]);
  Split few = select(train_all, target_classes, picked), new_test = select(test_all, target_classes);
  Split held_out = select(train_all, target_classes, held);
  std::printf("2. New task: %s — %lld labelled images (%lld per class), %lld held-out images for the curves, "
              "%lld test images\n\n",
              names(target_classes).c_str(), static_cast<long long>(few.size()), static_cast<long long>(per_class),
              static_cast<long long>(held_out.size()), static_cast<long long>(new_test.size()));

  struct Row {
    std::string method;
    double acc, secs;
    int64_t trainable;
    std::vector<EpochMetrics> history;
    std::vector<int64_t> test_predicted;
  };
  std::vector<Row> rows;
  auto load_pretrained = [&](SmallCNN& m) {
    m.load_state_dict(load_tensors(saved), /*strict=*/false, saved);  // the 5-class head is skipped
    m.replace("classifier", SmallCNN::make_head(static_cast<int64_t>(target_classes.size())));
  };

  // Trains `trained` (the CNN, or only its head on cached features) and adds the method's row.
  auto train_and_test = [&](const char* method, const char* label, Module& trained, Optimizer& opt,
                            const Split& train_set, const Split& held_set, const Split& test_set, const SmallCNN& m,
                            Clock::time_point t0) {
    std::vector<EpochMetrics> history = train(trained, opt, train_set, epochs, 32, seed, label, true, &held_set);
    Evaluation ev = evaluate_split(trained, test_set);
    rows.push_back({method, ev.accuracy, seconds_since(t0), m.num_parameters(true), history, ev.predicted});
  };

  // (a) Feature extraction: frozen backbone in eval mode, features computed once, new head.
  std::printf("3a. Frozen pretrained backbone + new head (features computed once)\n");
  {
    auto t0 = Clock::now();
    manual_seed(seed + 2);
    SmallCNN m(static_cast<int64_t>(target_classes.size()));
    load_pretrained(m);
    m.features->freeze();
    // The backbone's outputs, once, in eval mode (its batch-norm statistics stay as pretrained).
    auto features_of = [&](const Split& split) {
      auto loader = loader_of(split, 500, false, 0);
      return Split{collect_outputs(*m.features, *loader, Device::CPU), split.y};
    };
    const Split feats_train = features_of(few), feats_test = features_of(new_test), feats_held = features_of(held_out);
    Module& head = *m.classifier.module();
    Adam opt(one_group(head, 1e-3f));
    train_and_test("frozen backbone + new head", "head", head, opt, feats_train, feats_held, feats_test, m, t0);
  }
  // (b) Fine-tuning: all layers, the backbone at a 10x lower learning rate.
  std::printf("3b. Fine-tuning all layers (backbone lr 1e-4, head lr 1e-3)\n");
  {
    auto t0 = Clock::now();
    manual_seed(seed + 2);
    SmallCNN m(static_cast<int64_t>(target_classes.size()));
    load_pretrained(m);
    Adam opt({ParamGroup{m.features->parameters(), 1e-4f}, ParamGroup{m.classifier->parameters(), 1e-3f}});
    train_and_test("fine-tuning all layers", "fine-tune", m, opt, few, held_out, new_test, m, t0);
  }
  // (c) From scratch: the same network, random initialization.
  std::printf("3c. The same CNN from scratch\n");
  {
    auto t0 = Clock::now();
    manual_seed(seed + 2);
    SmallCNN m(static_cast<int64_t>(target_classes.size()));
    Adam opt(one_group(m, 1e-3f));
    train_and_test("from scratch", "scratch", m, opt, few, held_out, new_test, m, t0);
  }

  // ---- 4. the table ---------------------------------------------------------------------------
  std::printf("\n4. Test accuracy on the new task (%lld test images, %lld labelled training images)\n\n",
              static_cast<long long>(new_test.size()), static_cast<long long>(few.size()));
  std::printf("   %-28s %10s %12s %9s\n", "method", "accuracy", "trainable", "time");
  for (const Row& r : rows)
    std::printf("   %-28s %9.2f%% %12lld %8.1fs\n", r.method.c_str(), 100 * r.acc, static_cast<long long>(r.trainable),
                r.secs);
  double best_transfer = std::max(rows[0].acc, rows[1].acc);
  const double gap = 100 * (best_transfer - rows[2].acc);
  if (gap > 0)
    std::printf("\n   transfer beats scratch by %.1f points with %lld labels per class.", gap,
                static_cast<long long>(per_class));
  else
    std::printf("\n   scratch matches or beats transfer (by %.1f points) with %lld labels per class: the pretrained\n"
                "   features do not help this time (see docs/usage.md, graft demo).",
                -gap, static_cast<long long>(per_class));
  std::printf(" Total time %.0f s.\n", seconds_since(t_all));

  // ---- 5. the report ----------------------------------------------------------------------------
  tools::ReportData report;
  report.title = "graft demo: transfer learning on Fashion-MNIST";
  report.command_line = tools::shell_join([&] {
    std::vector<std::string> cmd{"graft", "demo"};
    cmd.insert(cmd.end(), words.begin(), words.end());
    return cmd;
  }());
  report.settings = args.values();
  std::vector<std::string> target_names;
  for (int64_t c : target_classes) target_names.push_back(kFashionMnistClasses[c]);
  report.class_names = target_names;
  const char* colors[] = {"#1f77b4", "#2ca02c", "#d62728"};
  std::vector<tools::Series> loss_series, acc_series;
  for (size_t r = 0; r < rows.size(); ++r) {
    report.comparison.push_back({rows[r].method, rows[r].acc, rows[r].secs,
                                 std::to_string(rows[r].trainable) + " trainable parameters, " +
                                     std::to_string(per_class) + " labelled images per class"});
    tools::Series loss{rows[r].method, colors[r], {}}, acc{rows[r].method, colors[r], {}};
    for (const auto& m : rows[r].history) {
      loss.points.push_back({static_cast<double>(m.epoch), m.train_loss});
      acc.points.push_back({static_cast<double>(m.epoch), m.valid_acc});
    }
    loss_series.push_back(loss);
    acc_series.push_back(acc);
  }
  size_t best = 0;
  for (size_t r = 1; r < rows.size(); ++r)
    if (rows[r].acc > rows[best].acc) best = r;
  report.sections.push_back(
      {"Learning curves",
       "<p>Training loss per epoch, and accuracy on " + std::to_string(held_out.size()) +
           " held-out images of the new task (never trained on) after each epoch.</p>" +
           tools::svg_line_chart("training loss", "epoch", "cross-entropy", loss_series) +
           tools::svg_line_chart("held-out accuracy", "epoch", "accuracy", acc_series)});
  // The best method's test predictions: confusion matrix and the first 30 test images.
  report.has_confusion = true;
  report.confusion = ConfusionMatrix(static_cast<int64_t>(target_classes.size()));
  std::vector<int64_t> truth = new_test.y.to_labels();
  for (size_t i = 0; i < truth.size(); ++i) report.confusion.add(truth[i], rows[best].test_predicted[i]);
  for (int64_t i = 0; i < std::min<int64_t>(30, new_test.size()); ++i)
    report.grid.push_back({new_test.x.slice(i, i + 1).view({1, 28, 28}).clone(),
                           target_names[rows[best].test_predicted[i]], target_names[truth[i]],
                           "test image " + std::to_string(i)});
  report.sections.push_back({"About the grid and the confusion matrix",
                             "<p>Both show the test predictions of the best method, <b>" +
                                 tools::html_escape(rows[best].method) + "</b>.</p>"});
  const std::string report_path = out_dir + "/report.html";
  tools::write_html_report(report_path, report);
  std::printf("   report: %s\n", report_path.c_str());
  return 0;
}

}  // namespace graft
