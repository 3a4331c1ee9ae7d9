// src/autograd/engine.h — reverse-mode automatic differentiation.
//
// Every differentiable op computes its output, then calls record() with its inputs and a
// backward function. If no input requires a gradient (or a NoGradGuard is alive) nothing is
// recorded: a frozen backbone builds no graph and costs nothing in backward.
//
// backward(loss) sorts the recorded graph topologically and sweeps it in reverse: each node
// gets dL/d(output) and returns dL/d(input) for each input. Gradients reaching the same tensor
// from several uses are summed — Note [Gradient accumulation]: a tensor used twice (a residual
// connection, a weight shared by two layers) receives the sum of both contributions, so
// everything accumulates with +=, and leaves keep accumulating across backward calls until
// zero_grad(), exactly as in PyTorch.
//
// After a node's backward has run, its saved tensors are released (PyTorch's default
// retain_graph=False): memory used by activations is returned as the sweep proceeds.
//
// Shapes: a gradient always has the shape of its tensor. backward() checks it for every input
// of every node ("backward of conv2d: expected shape A, got B"), so a backward function that
// returns a transposed or mis-sized gradient fails at once, naming the op.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace graft {

// Given dL/d(output), returns dL/d(input_i) for each input (an undefined Tensor where an
// input needs no gradient).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string name;            // the op, for error messages ("conv2d")
  std::vector<Tensor> inputs;  // the tensors this output was computed from
  BackwardFn backward;
};

// Gradient recording on/off for this thread (on by default).
bool grad_enabled();
void set_grad_enabled(bool on);

// RAII: no graph is recorded while one is alive (evaluation, feature extraction).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when recording is on and at least one input requires a gradient.
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches a backward node to `output` if needs_grad(inputs); returns output either way.
Tensor record(Tensor output, const std::string& name, std::vector<Tensor> inputs, BackwardFn backward);

// grad += g for a leaf (allocates on first use). Used by the engine and by tests.
void accumulate_grad(TensorImpl& leaf, const Tensor& g);

// The reverse sweep. See Tensor::backward.
void backward(const Tensor& root, const Tensor& grad_output = Tensor());

}  // namespace graft
