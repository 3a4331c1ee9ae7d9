// src/autograd/engine.cpp — topological sort and reverse sweep (see engine.h).
#include "autograd/engine.h"

#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "tensor/elementwise.h"

namespace graft {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

Tensor record(Tensor output, const std::string& name, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!needs_grad(inputs)) return output;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  output.impl()->requires_grad = true;
  output.impl()->grad_fn = std::move(node);
  return output;
}

void accumulate_grad(TensorImpl& leaf, const Tensor& g) {
  if (!leaf.grad) {
    leaf.grad = g.clone().impl_ptr();  // own copy: g may alias a buffer of the op
  } else {
    Tensor acc(leaf.grad);
    add_(acc, g);  // Note [Gradient accumulation]
  }
}

void backward(const Tensor& root, const Tensor& grad_output) {
  if (!root.requires_grad())
    throw std::logic_error(
        "backward: the tensor does not require a gradient (was it computed under NoGradGuard, "
        "or are all parameters frozen?)");
  Tensor seed = grad_output;
  if (!seed.defined()) {
    if (root.numel() != 1)
      throw std::invalid_argument("backward: without an explicit gradient the output must be a scalar, got shape " +
                                  shape_str(root.shape()));
    seed = Tensor::full(root.shape(), 1.0f, root.device());
  }
  check_same_shape("backward (grad_output)", root, seed);

  // Topological order by an iterative depth-first search (deep nets would overflow recursion).
  // `order` holds owning pointers: intermediate tensors are otherwise only kept alive by the
  // nodes that the sweep releases as it goes.
  std::vector<std::shared_ptr<TensorImpl>> order;
  std::unordered_set<TensorImpl*> seen;
  std::vector<std::pair<std::shared_ptr<TensorImpl>, size_t>> stack{{root.impl_ptr(), 0}};
  seen.insert(root.impl());
  while (!stack.empty()) {
    Node* fn = stack.back().first->grad_fn.get();
    size_t& next = stack.back().second;
    if (fn && next < fn->inputs.size()) {
      const std::shared_ptr<TensorImpl>& child = fn->inputs[next++].impl_ptr();
      if (child && child->requires_grad && !seen.count(child.get())) {
        seen.insert(child.get());
        stack.push_back({child, 0});
      }
    } else {
      order.push_back(std::move(stack.back().first));
      stack.pop_back();
    }
  }

  // Reverse sweep: `order` has inputs before outputs, so walk it backwards.
  std::unordered_map<TensorImpl*, Tensor> grads;
  grads[root.impl()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl* t = it->get();
    auto found = grads.find(t);
    if (found == grads.end()) continue;  // no gradient flowed here
    Tensor g = std::move(found->second);
    grads.erase(found);
    if (!t->grad_fn) {  // a leaf: keep the gradient
      accumulate_grad(*t, g);
      continue;
    }
    std::shared_ptr<Node> fn = t->grad_fn;
    std::vector<Tensor> input_grads = fn->backward(g);
    if (input_grads.size() != fn->inputs.size())
      throw std::logic_error("backward of " + fn->name + " returned " + std::to_string(input_grads.size()) +
                             " gradients for " + std::to_string(fn->inputs.size()) + " inputs");
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Tensor& in = fn->inputs[i];
      const Tensor& gi = input_grads[i];
      if (!in.requires_grad() || !gi.defined()) continue;
      check_same_shape(("backward of " + fn->name).c_str(), in, gi);
      auto slot = grads.find(in.impl());
      if (slot == grads.end())
        grads.emplace(in.impl(), gi);
      else
        slot->second = add(slot->second, gi);  // Note [Gradient accumulation]
    }
    // Free saved activations now (retain_graph=False).
    fn->backward = nullptr;
    fn->inputs.clear();
    t->grad_fn.reset();
  }
}

}  // namespace graft
