// src/autograd/engine.cpp — linking nodes, the topological sort and the reverse sweep (see
// engine.h).
#include "autograd/engine.h"

#include <unordered_map>
#include <unordered_set>

#include "tensor/check.h"
#include "tensor/elementwise.h"

namespace graft {

namespace {
thread_local bool g_grad_enabled = true;
thread_local BackwardObserver* g_observer = nullptr;
thread_local int g_backward_depth = 0;  // > 1: a backward inside a node (a checkpoint)

struct DepthGuard {
  DepthGuard() { ++g_backward_depth; }
  ~DepthGuard() { --g_backward_depth; }
};
}  // namespace

void set_backward_observer(BackwardObserver* observer) { g_observer = observer; }

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

void throw_released(const char* op) {
  GRAFT_FAIL_DATA("backward", "trying to backward through the graph a second time (or to read saved tensors "
                  "after they were freed): the tensors that '", op,
                  "' saved were freed by an earlier backward() over this graph. Run the forward pass again, or "
                  "call backward(grad, /*retain_graph=*/true) the first time to keep them");
}

bool link_node(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs, Tensor& output,
               std::vector<bool>* needs) {
  node->next.resize(inputs.size());
  node->input_shapes.resize(inputs.size());
  needs->assign(inputs.size(), false);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& in = inputs[i];
    if (!in.defined()) continue;
    node->input_shapes[i] = in.shape();
    if (!in.requires_grad()) continue;
    (*needs)[i] = true;
    if (in.impl()->grad_fn) node->next[i].node = in.impl()->grad_fn;
    else node->next[i].leaf = in.impl_ptr();
  }
  output.impl()->requires_grad = true;
  output.impl()->grad_fn = node;
  return true;
}

void accumulate_grad(TensorImpl& leaf, const Tensor& g) {
  if (!leaf.grad) {
    leaf.grad = g.detach().clone().impl_ptr();  // own copy: g may alias a buffer of the op
  } else {
    Tensor acc(leaf.grad);
    add_(acc, g);  // Note [Gradient accumulation]
  }
}

void backward(const Tensor& root, const Tensor& grad_output, bool retain_graph) {
  GRAFT_CHECK(root.defined(), "backward", "the tensor is undefined");
  GRAFT_CHECK(root.requires_grad(), "backward",
              "the tensor does not require a gradient (was it computed under NoGradGuard, or are all parameters "
              "frozen?)");
  Tensor seed = grad_output;
  if (!seed.defined()) {
    GRAFT_CHECK(root.numel() == 1, "backward", "without an explicit gradient the output must be a scalar, got shape ",
                root.shape());
    seed = Tensor::full(root.shape(), 1.0f, root.device());
  }
  check_same_shape("backward (grad_output)", root, seed);
  NoGradGuard no_grad;  // the sweep itself records nothing
  DepthGuard depth;
  BackwardObserver* observer = g_backward_depth == 1 ? g_observer : nullptr;
  if (!root.impl()->grad_fn) {  // the root is a leaf
    accumulate_grad(*root.impl(), seed);
    if (observer) {
      observer->grad_ready(*root.impl());
      observer->backward_end();
    }
    return;
  }

  // Topological order of the nodes by an iterative depth-first search (deep nets would
  // overflow a recursive one): a node comes after every node it feeds. A released node is an
  // error found here, before any gradient has been computed or accumulated.
  std::vector<Node*> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack{{root.impl()->grad_fn.get(), 0}};
  seen.insert(stack.back().first);
  while (!stack.empty()) {
    Node* node = stack.back().first;
    size_t& next = stack.back().second;
    if (next == 0 && node->released()) throw_released(node->name);
    if (next < node->next.size()) {
      Node* child = node->next[next++].node.get();
      if (child && seen.insert(child).second) stack.push_back({child, 0});
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }

  // For the observer: how many nodes still have to add to each leaf's gradient.
  std::unordered_map<TensorImpl*, int> pending;
  if (observer)
    for (Node* node : order)
      for (const Edge& e : node->next)
        if (e.leaf) ++pending[e.leaf.get()];
  auto leaves_done = [&](Node* node) {  // node has run (or had no gradient): its leaves are one step closer
    if (!observer) return;
    for (const Edge& e : node->next)
      if (e.leaf && --pending[e.leaf.get()] == 0) observer->grad_ready(*e.leaf);
  };

  // Reverse sweep: `order` has producers before consumers, so walk it backwards; a node runs
  // once every consumer has added its contribution. The root node is kept alive by `root`.
  std::unordered_map<Node*, Tensor> grads;
  grads[root.impl()->grad_fn.get()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = *it;
    auto found = grads.find(node);
    if (found == grads.end()) {  // no gradient flowed here
      leaves_done(node);
      continue;
    }
    const Tensor g = std::move(found->second);
    grads.erase(found);
    if (auto out = node->retained.lock()) accumulate_grad(*out, g);
    std::vector<Tensor> input_grads = node->apply(g);
    GRAFT_ASSERT(input_grads.size() == node->next.size(), "backward", "the backward of ", node->name, " returned ",
                 input_grads.size(), " gradients for ", node->next.size(), " inputs");
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Edge& edge = node->next[i];
      const Tensor& gi = input_grads[i];
      if (!gi.defined() || (!edge.node && !edge.leaf)) continue;
      GRAFT_CHECK(gi.shape() == node->input_shapes[i], "backward", "the backward of ", node->name,
                  " returned a gradient of shape ", gi.shape(), " for input ", i, " of shape ",
                  node->input_shapes[i]);
      if (edge.leaf) {
        accumulate_grad(*edge.leaf, gi);
        continue;
      }
      auto slot = grads.find(edge.node.get());
      if (slot == grads.end())
        grads.emplace(edge.node.get(), gi);
      else
        slot->second = add(slot->second, gi);  // Note [Gradient accumulation]
    }
    if (!retain_graph) node->release();  // Note [Released graphs]
    leaves_done(node);
  }
  if (observer) observer->backward_end();
}

}  // namespace graft
