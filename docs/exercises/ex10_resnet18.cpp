// docs/exercises/ex10_resnet18.cpp — Chapter 10 of docs/tour.md: ResNet18 put together for
// transfer learning (and the names of chapter 7 on the real model).
//
//   make_model("resnet18"): 62 parameter tensors + 20 batch norms x 3 buffers = 122 state_dict
//   keys, 11,689,512 parameters (torchvision's numbers).
//   replace_head(..., 5 classes): fc becomes Linear(512, 5): 512*5 + 5 = 2,565 parameters, so
//   the model has 11,689,512 - 513,000 + 2,565 = 11,179,077 parameters.
//   freeze_prefixes(conv1, bn1, layer1..layer4): only fc trains (2 tensors, 2,565 parameters),
//   and a frozen batch norm keeps its running statistics in training (BatchNorm2d::frozen()).
//   One epoch of fit() (train/fit.h) over one [2,3,32,32] batch, one SGD step: the backbone
//   builds no graph, so only fc gets a gradient, and the frozen batch norm statistics do not
//   change.
// Spatial sizes for a 32x32 input: conv1 /2 -> 16, maxpool /2 -> 8, layer2..4 /2 -> 4, 2, 1.
// Run: meson test -C build ex10_resnet18 --verbose
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "exercise.h"
#include "data/datasets.h"
#include "data/loader.h"
#include "layers/batch_norm2d.h"
#include "layers/loss.h"
#include "models/models.h"
#include "optim/sgd.h"
#include "tensor/random.h"
#include "train/fit.h"

using namespace graft;

TEST_CASE("ex10: ResNet18 with a new head and a frozen backbone") {
  manual_seed(0);
  ModulePtr model = make_model("resnet18");
  NamedTensors sd = model->state_dict();
  std::printf("  resnet18: %zu state_dict keys, %lld parameters\n", sd.size(),
              static_cast<long long>(model->num_parameters()));
  CHECK(sd.size() == 122);
  CHECK(model->num_parameters() == 11689512);
  bool found = false;
  for (auto& [k, t] : sd)
    if (k == "layer2.0.downsample.1.running_var") found = t.shape() == Shape{128};
  CHECK(found);

  replace_head(*model, "resnet18", "linear(n)", 5);
  CHECK(model->num_parameters() == 11179077);
  freeze_prefixes(*model, {"conv1", "bn1", "layer1", "layer2", "layer3", "layer4"});
  NamedTensors trainable = model->named_parameters(/*trainable_only=*/true);
  REQUIRE(trainable.size() == 2);
  CHECK(trainable[0].first == "fc.weight");
  CHECK(trainable[1].first == "fc.bias");
  CHECK(model->num_parameters(true) == 2565);

  model->train();
  auto bn = std::dynamic_pointer_cast<BatchNorm2d>(model->get("layer1.0.bn1"));
  REQUIRE(bn);
  CHECK(bn->frozen());  // its weight and bias are frozen: it normalizes with its running statistics
  CHECK(model->get("fc")->is_training());
  const std::vector<float> mean_before = bn->running_mean.to_vector();

  // One epoch of the library's training loop over one batch of 2 images: one step.
  Tensor x = Tensor::empty({2, 3, 32, 32});
  uniform_(x, -1.0f, 1.0f);
  auto data = std::make_shared<TensorDataset>(x, std::vector<int64_t>{0, 3}, std::vector<std::string>{},
                                              std::vector<std::string>{"a", "b", "c", "d", "e"});
  LoaderOptions lo;
  lo.batch_size = 2;
  lo.num_workers = 0;
  DataLoader loader(data, Pipeline(), lo);
  SGD opt(model->parameters(true), 0.001f, 0.9f);  // seed 003's settings
  FitOptions fo;
  fo.epochs = 1;
  const LossFn ce = [](const Tensor& out, const Tensor& y) { return cross_entropy(out, y); };
  int steps = 0;
  LambdaCallback count;
  count.batch_end = [&](FitState&, const Batch&, const StepResult& r) {
    ++steps;
    CHECK(r.outputs.shape() == Shape{2, 5});
  };
  const FitProgress p = fit(*model, opt, ce, loader, nullptr, fo, {&count});
  CHECK(steps == 1);
  std::printf("  loss %.4f; fc.weight.grad defined: %d; conv1.weight.grad defined: %d\n", p.history[0].train_loss,
              model->get("fc")->named_parameters()[0].second.grad().defined(),
              model->get("conv1")->named_parameters()[0].second.grad().defined());
  CHECK(model->get("fc")->named_parameters()[0].second.grad().defined());
  CHECK_FALSE(model->get("conv1")->named_parameters()[0].second.grad().defined());
  CHECK(bn->running_mean.to_vector() == mean_before);  // frozen: statistics untouched
}
