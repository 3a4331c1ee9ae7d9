// tests/test_modules.cpp — the one way to call a module: module(x), its forward hooks and the
// thread's global hooks; typed children that follow replace(); the autograd checkpoint.
#include <map>
#include <stdexcept>

#include "autograd/checkpoint.h"
#include "autograd/engine.h"
#include "autograd/ops.h"
#include "layers/activation.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "tensor/elementwise.h"
#include "testing.h"

using namespace graft;

namespace {

// y = fc(relu(x)) with a typed child, as the models hold theirs.
class Net : public Module {
 public:
  Net() : Module("Net") {
    act = register_module("act", std::make_shared<ReLU>());
    fc = register_module("fc", std::make_shared<Linear>(3, 2));
  }
  Child<ReLU> act;
  Child<Module> fc;  // the head: anything after replace("fc", ...)
  Child<Linear> fc_as_linear() const { return fc_typed_; }

 protected:
  Tensor forward(const Tensor& x) override { return fc(act(x)); }

 private:
  Child<Linear> fc_typed_ = Child<Linear>(this, 1);
};

}  // namespace

TEST_CASE("modules: forward hooks see inputs and outputs, may replace the output, and go away") {
  Linear fc(3, 2);
  const Tensor x = testing::random_tensor({4, 3}, 1);
  const Tensor plain = fc(x);
  int calls = 0;
  {
    HookHandle h = fc.register_forward_hook([&](Module& m, const std::vector<Tensor>& in, const Tensor& out) {
      ++calls;
      CHECK(&m == &fc);
      CHECK(in.size() == 1);
      CHECK(in[0].shape() == Shape{4, 3});
      return scale(out, 2.0f);  // replaces the output
    });
    const Tensor doubled = fc(x);
    CHECK_CLOSE("hooked output", doubled, scale(plain, 2.0f), 0, 0);
  }
  CHECK(calls == 1);
  CHECK_CLOSE("after the handle died", fc(x), plain, 0, 0);  // removed with its handle
  CHECK(calls == 1);
  // A handle that outlives its module is harmless.
  HookHandle outlived;
  {
    Linear other(3, 2);
    outlived = other.register_forward_hook([](Module&, const std::vector<Tensor>&, const Tensor&) { return Tensor(); });
  }
  outlived.remove();
}

TEST_CASE("modules: a global hook sees every module call, nested ones included") {
  Sequential seq{std::make_shared<Linear>(3, 5), std::make_shared<ReLU>(),
                 std::make_shared<Sequential>(std::initializer_list<ModulePtr>{std::make_shared<Linear>(5, 2)})};
  std::vector<std::pair<std::string, Shape>> seen;
  {
    HookHandle trace = add_global_forward_hook([&](Module& m, const std::vector<Tensor>&, const Tensor& y) {
      seen.emplace_back(m.type(), y.shape());
      return Tensor();
    });
    seq(testing::random_tensor({4, 3}, 2));
  }
  // Children finish before their parents: Linear, ReLU, (Linear, inner Sequential), outer Sequential.
  REQUIRE(seen.size() == 5);
  CHECK(seen[0] == std::pair<std::string, Shape>{"Linear", {4, 5}});
  CHECK(seen[1].first == "ReLU");
  CHECK(seen[2] == std::pair<std::string, Shape>{"Linear", {4, 2}});
  CHECK(seen[3].first == "Sequential");
  CHECK(seen[4] == std::pair<std::string, Shape>{"Sequential", {4, 2}});
  seq(testing::random_tensor({4, 3}, 2));
  CHECK(seen.size() == 5);  // the hook is gone
}

TEST_CASE("modules: typed children follow replace(), and say when the type no longer fits") {
  Net net;
  const Tensor x = testing::random_tensor({4, 3}, 3);
  CHECK(net(x).shape() == Shape{4, 2});
  CHECK(net.fc_as_linear()->out_features == 2);
  // The head replaced by name: the forward runs the new module, through the same typed child.
  auto head = std::make_shared<Sequential>(std::initializer_list<ModulePtr>{std::make_shared<Linear>(3, 7)});
  ModulePtr old = net.replace("fc", head);
  CHECK(old->type() == "Linear");
  CHECK(net(x).shape() == Shape{4, 7});
  CHECK(net.fc.module() == head);
  CHECK(net.named_parameters()[0].first == "fc.0.weight");
  // The handle typed as Linear now holds a Sequential: reading it as a Linear is an error.
  CHECK_THROWS_WITH(net.fc_as_linear()->out_features,
                    doctest::Contains("child 'fc' is now a Sequential, but the model uses it as a graft::Linear"));
  CHECK_THROWS_WITH(net.replace("fc.nothing", head), doctest::Contains("no module named 'fc.nothing'"));
}

TEST_CASE("modules: a module of one input refuses several") {
  ReLU relu;
  const Tensor a = testing::random_tensor({2}, 4);
  CHECK_THROWS_WITH(relu(std::vector<Tensor>{a, a}), doctest::Contains("ReLU: takes one tensor, got 2"));
  CHECK_CLOSE("one in a list", relu(std::vector<Tensor>{a}), relu(a), 0, 0);
}

TEST_CASE("checkpoint: recomputing in backward gives the plain gradients, and restores state") {
  // f(a, w) = sum(relu(a * w) * a): the inner product is recomputed, not kept.
  const Tensor a0 = testing::random_tensor({6}, 5), w0 = testing::random_tensor({6}, 6);
  auto plain = [&] {
    Tensor a = a0.clone().set_requires_grad(true), w = w0.clone().set_requires_grad(true);
    sum(relu(a * w) * a).backward();
    return std::make_pair(a.grad(), w.grad());
  };
  Tensor counter = Tensor::zeros({1});  // state the function updates: must count once
  auto checkpointed = [&] {
    Tensor a = a0.clone().set_requires_grad(true), w = w0.clone().set_requires_grad(true);
    Tensor inner = checkpoint(
        [w, counter](const std::vector<Tensor>& in) mutable {
          Tensor c = counter;
          c.fill_(c.item() + 1);
          return relu(in[0] * w);
        },
        {a}, {w}, {counter});
    sum(inner * a).backward();
    return std::make_pair(a.grad(), w.grad());
  };
  const auto [ga, gw] = plain();
  const auto [ca, cw] = checkpointed();
  CHECK_CLOSE("dL/da", ca, ga, 0, 0);  // the same float operations, in the same order: exact
  CHECK_CLOSE("dL/dw", cw, gw, 0, 0);
  CHECK(counter.item() == 1.0f);  // the recomputation's update was undone
}
