// docs/exercises/ex07_names.cpp — Chapter 7 of docs/tour.md: how a model's attribute names
// become state_dict keys and HDF5 dataset names.
//
// A miniature ResNet written the way src/models/resnet.cpp writes ResNet18 (the same names as
// torchvision: conv1, bn1, layer1.0.downsample.1, fc). Module::state_dict() walks the tree and
// joins the names with dots: a module's parameters, then its buffers, then its children in
// registration order. Counting the keys by hand:
//   conv1.weight                                   1
//   bn1.{weight,bias,running_mean,running_var,num_batches_tracked}   5
//   layer1.0.conv1.weight, layer1.0.bn1.*          1 + 5
//   layer1.0.conv2.weight, layer1.0.bn2.*          1 + 5
//   layer1.0.downsample.0.weight, .1.*             1 + 5
//   fc.weight, fc.bias                             2
//                                          total  26
// save_tensors writes one HDF5 dataset per key with exactly that name; loading is a
// name-to-name copy that refuses a missing, unexpected or mis-shaped key.
// Run: meson test -C build ex07_names --verbose
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <algorithm>
#include <filesystem>

#include "autograd/ops.h"
#include "exercise.h"
#include "layers/activation.h"
#include "layers/adaptive_avg_pool2d.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "tensor/hdf5_io.h"

using namespace graft;

namespace {

// x: [N,in,H,W] -> [N,out,H/stride,W/stride]; relu(bn2(conv2(relu(bn1(conv1 x)))) + downsample(x))
class Block : public Module {
 public:
  Block(int64_t in, int64_t out, int64_t stride) : Module("BasicBlock") {
    conv1 = register_module("conv1", std::make_shared<Conv2d>(in, out, 3, stride, 1, /*bias=*/false));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(out));
    conv2 = register_module("conv2", std::make_shared<Conv2d>(out, out, 3, 1, 1, /*bias=*/false));
    bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(out));
    downsample = register_module("downsample", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                                                   std::make_shared<Conv2d>(in, out, 1, stride, 0, false),
                                                   std::make_shared<BatchNorm2d>(out)}));
  }
 protected:
  Tensor forward(const Tensor& x) override {
    Tensor h = relu(bn1(conv1(x)));
    h = bn2(conv2(h));
    return relu(h + downsample(x));
  }

 private:
  Child<Conv2d> conv1, conv2;  // typed handles to the child slots (layers/module.h)
  Child<BatchNorm2d> bn1, bn2;
  Child<Sequential> downsample;
};

// x: [N,1,H,W] -> logits [N,classes]
class TinyResNet : public Module {
 public:
  explicit TinyResNet(int64_t classes) : Module("ResNet") {
    conv1 = register_module("conv1", std::make_shared<Conv2d>(1, 4, 3, 1, 1, false));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(4));
    layer1 = register_module("layer1", std::make_shared<Sequential>(
                                           std::initializer_list<ModulePtr>{std::make_shared<Block>(4, 8, 2)}));
    fc = register_module("fc", std::make_shared<Linear>(8, classes));
  }
 protected:
  Tensor forward(const Tensor& x) override {
    Tensor h = layer1(relu(bn1(conv1(x))));
    return fc(flatten(adaptive_avg_pool2d(h, 1, 1)));
  }

 public:
  Child<Conv2d> conv1;
  Child<BatchNorm2d> bn1;
  Child<Sequential> layer1;
  Child<Linear> fc;
};

}  // namespace

TEST_CASE("ex07: module names -> state_dict keys -> HDF5 datasets") {
  TinyResNet model(3);
  CHECK(model(Tensor::zeros({2, 1, 8, 8})).shape() == Shape{2, 3});

  NamedTensors sd = model.state_dict();
  std::vector<std::string> keys;
  for (auto& [k, t] : sd) keys.push_back(k);
  std::printf("  %zu keys, in order:\n", keys.size());
  for (auto& [k, t] : sd) std::printf("    %-36s %s\n", k.c_str(), shape_str(t.shape()).c_str());
  CHECK(keys.size() == 26);
  CHECK(keys.front() == "conv1.weight");
  CHECK(keys[1] == "bn1.weight");
  CHECK(keys[5] == "bn1.num_batches_tracked");
  CHECK(keys[6] == "layer1.0.conv1.weight");
  CHECK(keys[18] == "layer1.0.downsample.0.weight");
  CHECK(keys[22] == "layer1.0.downsample.1.running_var");
  CHECK(keys.back() == "fc.bias");

  // One HDF5 dataset per key, with the key as its name (HDF5 lists them sorted by name).
  const std::string path = (std::filesystem::temp_directory_path() / "graft_ex07_tiny_resnet.h5").string();
  save_tensors(path, sd);
  {
    H5File f(path, H5File::Mode::Read);
    std::vector<std::string> sorted = keys;
    std::sort(sorted.begin(), sorted.end());
    CHECK(f.keys() == sorted);
    CHECK(f.shape_of("layer1.0.downsample.0.weight") == Shape{8, 4, 1, 1});
  }

  // Loading is a name-to-name copy.
  TinyResNet copy(3);
  copy.load_state_dict(load_tensors(path), /*strict=*/true, path);
  CHECK(copy.fc->weight.to_vector() == model.fc->weight.to_vector());

  // A model with another head: strict loading names the key and both shapes.
  TinyResNet five(5);
  try {
    five.load_state_dict(load_tensors(path), true, path);
    FAIL("a [3, 8] fc.weight loaded into a [5, 8] one");
  } catch (const std::runtime_error& e) {
    std::printf("  error: %s\n", e.what());
    const std::string msg = e.what();
    CHECK(msg.find("fc.weight") != std::string::npos);
    CHECK(msg.find("[3, 8]") != std::string::npos);
    CHECK(msg.find("[5, 8]") != std::string::npos);
  }
  // Non-strict loading skips the head and reports it: the usual transfer-learning load.
  LoadReport r = five.load_state_dict(load_tensors(path), false, path);
  CHECK(r.mismatched.size() == 2);  // fc.weight and fc.bias
  std::filesystem::remove(path);
}
