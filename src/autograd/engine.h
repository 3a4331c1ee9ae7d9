// src/autograd/engine.h — reverse-mode automatic differentiation.
//
// Every differentiable op is written as a Function in the sense of torch.autograd.Function:
// the forward computes the output, then record() attaches a backward node to it — right
// beneath the forward, in the same function:
//
//   Tensor y = ...forward...;
//   return record("relu", {x}, y, /*save=*/{y}, [](const Ctx<>& ctx, const Tensor& gy) -> Grads {
//     const Tensor& y = ctx.saved(0);              // detached by record(): no reference cycle
//     return {ctx.needs_grad(0) ? relu_backward(y, gy) : Tensor()};
//   });
//
// The backward is a plain function (a lambda without captures: the compiler refuses a
// capturing one). What it needs comes through its context: the tensors the forward saved
// (record() detaches them itself), the op's non-tensor values (`Attrs`: a params struct, a
// flag), and which inputs want a gradient (PyTorch's ctx.needs_input_grad). So a backward can
// neither keep its own output alive nor hold a pointer that dies before it runs.
//
// If no input requires a gradient (or a NoGradGuard is alive) record() attaches nothing: a
// frozen backbone builds no graph and costs nothing in backward.
//
// backward(loss) orders the graph topologically and sweeps it in reverse: each node gets
// dL/d(its output) and returns dL/d(input) for each input. Gradients reaching the same tensor
// from several uses are summed — Note [Gradient accumulation]: a tensor used twice (a residual
// connection, a weight shared by two layers) receives the sum of both contributions, so
// everything accumulates with +=, and leaves keep accumulating across backward calls until
// zero_grad(), exactly as in PyTorch.
//
// Note [Released graphs]: after a node's backward has run, its saved tensors are freed
// (PyTorch's default retain_graph=false), so activation memory is returned as the sweep goes.
// The node stays in the graph, marked released: a later backward that reaches it again raises
// PyTorch's error instead of computing a wrong gradient; backward(..., retain_graph=true)
// keeps the saved tensors for another sweep. Intermediate tensors never become leaves.
//
// Shapes: a gradient always has the shape of its tensor. backward() checks it for every input
// of every node ("backward of conv2d: expected shape A, got B"), so a backward function that
// returns a transposed or mis-sized gradient fails at once, naming the op.
#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace graft {

// ---- gradient mode ------------------------------------------------------------------------

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

// RAII: recording on again inside a NoGradGuard (a checkpoint's recomputation in backward).
class EnableGradGuard {
 public:
  EnableGradGuard() : previous_(grad_enabled()) { set_grad_enabled(true); }
  ~EnableGradGuard() { set_grad_enabled(previous_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

// True when recording is on and at least one input requires a gradient.
bool needs_grad(const std::vector<Tensor>& inputs);

// ---- the graph ----------------------------------------------------------------------------

struct Node;

// Where the gradient of one input goes: the node that produced it, or — for a leaf (a
// parameter, an input that requires a gradient) — the leaf itself, whose .grad accumulates.
// Both empty: the input needs no gradient.
struct Edge {
  std::shared_ptr<Node> node;
  std::shared_ptr<TensorImpl> leaf;
};

// One recorded op. The graph holds no tensor data of its own except what the op saved: the
// edges point at nodes, so intermediate outputs are freed when nothing else uses them.
struct Node {
  explicit Node(const char* op) : name(op) {}
  virtual ~Node() = default;
  // dL/d(input i) for each input from dL/d(output) (an undefined Tensor where none is needed).
  virtual std::vector<Tensor> apply(const Tensor& grad_output) = 0;
  // Frees what the forward saved (Note [Released graphs]).
  virtual void release() = 0;
  // Whether the backward needs saved tensors that release() freed.
  virtual bool released() const = 0;

  const char* name;                      // the op, for messages ("conv2d")
  std::vector<Edge> next;                // one per input
  std::vector<Shape> input_shapes;       // one per input, for the shape check
  std::weak_ptr<TensorImpl> retained;    // the output, when Tensor::retain_grad() asked for its .grad
};

// ---- defining a differentiable op ---------------------------------------------------------

struct NoAttrs {};
using Grads = std::vector<Tensor>;

// A backward function's view of its forward (see the top of the file).
template <class Attrs = NoAttrs>
class Ctx {
 public:
  // Saved tensor i, detached. Throws if the graph was released (Note [Released graphs]).
  const Tensor& saved(size_t i) const;
  // Whether input i wants a gradient (compute only those).
  bool needs_grad(size_t input) const { return needs_grad_[input]; }
  const Shape& input_shape(size_t input) const { return input_shapes_->at(input); }
  size_t inputs() const { return needs_grad_.size(); }

  Attrs attrs;  // the op's non-tensor values (kept after release: they are small)

 private:
  template <class A>
  friend struct FunctionNode;
  std::vector<Tensor> saved_;
  std::vector<bool> needs_grad_;
  const std::vector<Shape>* input_shapes_ = nullptr;
  const char* op_ = "";
  bool released_ = false;
};

template <class Attrs>
using BackwardFn = Grads (*)(const Ctx<Attrs>& ctx, const Tensor& grad_output);

// Attaches a backward node to `output` when needs_grad(inputs); returns output either way.
// `save`: the tensors the backward reads (detached here; undefined ones are kept undefined).
template <class Attrs>
Tensor record(const char* op, std::vector<Tensor> inputs, Tensor output, std::vector<Tensor> save, Attrs attrs,
              std::type_identity_t<BackwardFn<Attrs>> backward);
inline Tensor record(const char* op, std::vector<Tensor> inputs, Tensor output, std::vector<Tensor> save,
                     BackwardFn<NoAttrs> backward) {
  return record<NoAttrs>(op, std::move(inputs), std::move(output), std::move(save), NoAttrs{}, backward);
}

// ---- running backward ---------------------------------------------------------------------

// grad += g for a leaf (allocates on first use). Used by the engine and by tests.
void accumulate_grad(TensorImpl& leaf, const Tensor& g);

// The reverse sweep from `root`. Without grad_output the root must be a scalar (dL/dL = 1).
// retain_graph keeps the saved tensors so that the graph can be swept again.
void backward(const Tensor& root, const Tensor& grad_output = Tensor(), bool retain_graph = false);

// ---- watching the sweep (data-parallel training: src/dist/reducer.h) ------------------------

// Told during backward() as soon as a leaf's gradient is final for this sweep (the last node
// that feeds it has run), and once at the end of the sweep. That is what lets a data-parallel
// run start averaging a bucket of gradients while backward is still computing the others.
// Only the outermost backward() reports: a checkpoint's recomputation runs a backward of its
// own inside a node (autograd/checkpoint.h). Its params are inputs of that node, so they are
// reported when the node has run; a leaf that only an inner backward reaches is reported by
// nobody, so an observer must treat leaves it was not told about as ready at backward_end().
class BackwardObserver {
 public:
  virtual ~BackwardObserver() = default;
  virtual void grad_ready(TensorImpl& leaf) = 0;
  virtual void backward_end() = 0;
};
// For backward() calls in this thread; nullptr: none (the default).
void set_backward_observer(BackwardObserver* observer);

// ---- implementation of the templates ----------------------------------------------------------

[[noreturn]] void throw_released(const char* op);
// Fills node->next, input_shapes and the output's grad_fn; false when nothing needs a gradient.
bool link_node(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs, Tensor& output,
               std::vector<bool>* needs_grad);

template <class Attrs>
const Tensor& Ctx<Attrs>::saved(size_t i) const {
  if (released_) throw_released(op_);
  return saved_.at(i);
}

template <class Attrs>
struct FunctionNode final : Node {
  FunctionNode(const char* op, BackwardFn<Attrs> fn, Attrs attrs, const std::vector<Tensor>& save)
      : Node(op), backward(fn) {
    ctx.attrs = std::move(attrs);
    ctx.op_ = op;
    ctx.saved_.reserve(save.size());
    for (const Tensor& t : save) ctx.saved_.push_back(t.defined() ? t.detach() : Tensor());
    ctx.input_shapes_ = &input_shapes;
  }
  std::vector<bool>* needs_grad() { return &ctx.needs_grad_; }
  std::vector<Tensor> apply(const Tensor& grad_output) override { return backward(ctx, grad_output); }
  void release() override {
    if (ctx.saved_.empty()) return;  // nothing saved: nothing to lose, it can run again
    ctx.saved_.clear();
    ctx.saved_.shrink_to_fit();
    ctx.released_ = true;
  }
  bool released() const override { return ctx.released_; }

  Ctx<Attrs> ctx;
  BackwardFn<Attrs> backward;
};

template <class Attrs>
Tensor record(const char* op, std::vector<Tensor> inputs, Tensor output, std::vector<Tensor> save, Attrs attrs,
              std::type_identity_t<BackwardFn<Attrs>> backward) {
  if (!needs_grad(inputs)) return output;
  auto node = std::make_shared<FunctionNode<Attrs>>(op, backward, std::move(attrs), save);
  link_node(node, inputs, output, node->needs_grad());
  return output;
}

}  // namespace graft
