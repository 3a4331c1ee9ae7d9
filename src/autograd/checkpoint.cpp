// src/autograd/checkpoint.cpp — see checkpoint.h.
#include "autograd/checkpoint.h"

#include "autograd/engine.h"

namespace graft {

namespace {
struct CheckpointAttrs {
  CheckpointFn fn;            // owns what it captures (the modules it runs)
  std::vector<Tensor> state;  // the live tensors to restore after the recomputation
  size_t inputs = 0;          // the node's inputs are inputs..., then params...
};
}  // namespace

Tensor checkpoint(CheckpointFn fn, const std::vector<Tensor>& inputs, const std::vector<Tensor>& params,
                  const std::vector<Tensor>& state) {
  if (!grad_enabled()) return fn(inputs);  // inference: nothing to recompute later
  Tensor y;
  {
    NoGradGuard no_grad;
    y = fn(inputs);
  }
  std::vector<Tensor> node_inputs = inputs;
  node_inputs.insert(node_inputs.end(), params.begin(), params.end());
  return record("checkpoint", node_inputs, y, inputs, CheckpointAttrs{std::move(fn), state, inputs.size()},
                [](const Ctx<CheckpointAttrs>& ctx, const Tensor& gy) -> Grads {
                  const CheckpointAttrs& a = ctx.attrs;
                  std::vector<Tensor> snapshot;  // the state before the recomputation
                  for (const Tensor& t : a.state) snapshot.push_back(t.clone());
                  std::vector<Tensor> leaves;  // fresh leaves for the inputs that want a gradient
                  for (size_t i = 0; i < a.inputs; ++i) {
                    Tensor leaf = ctx.saved(i).detach();
                    if (ctx.needs_grad(i)) leaf.set_requires_grad(true);
                    leaves.push_back(leaf);
                  }
                  Tensor again;
                  {
                    EnableGradGuard recording;
                    again = a.fn(leaves);
                  }
                  for (size_t i = 0; i < a.state.size(); ++i) {
                    Tensor live = a.state[i];
                    live.copy_(snapshot[i]);
                  }
                  if (again.requires_grad()) backward(again, gy);  // params accumulate their .grad here
                  Grads grads(ctx.inputs());
                  for (size_t i = 0; i < a.inputs; ++i)
                    if (ctx.needs_grad(i)) grads[i] = leaves[i].grad();
                  return grads;  // nothing for params: they already have theirs
                });
}

}  // namespace graft
