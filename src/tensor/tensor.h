// src/tensor/tensor.h — the n-dimensional array that everything in graft is made of.
//
// A Tensor is a cheap handle (a shared pointer) to a TensorImpl: a shape, an element type,
// a device, an offset into a reference-counted Storage, and the autograd fields (requires_grad,
// grad, grad_fn). Copying a Tensor copies the handle, not the data — as in PyTorch.
//
// Layout: graft keeps every tensor contiguous and row-major, so strides are implied by the
// shape. Views (view, slice along dim 0) share storage and only change shape/offset.
//
// Shape letters used in comments across graft:
//   N batch, C input channels, H/W input height/width, K output channels (filters),
//   R/S kernel height/width, P/Q output height/width, F features, L classes (logits).
//   Images are [N,C,H,W]; linear weights are [out,in] as in PyTorch.
//
// Autograd: view, slice, clone and to are differentiable, as PyTorch's are: on a tensor that
// requires a gradient they record a node (src/autograd/engine.h), so gradients flow through
// them. The other member functions (fill_, copy_, zero_, data access) are raw data operations
// that never record: to work on the data of a tensor without its history, detach() it first.
// Differentiable arithmetic is in src/autograd/ops.h; the network ops are in src/layers/.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace graft {

using Shape = std::vector<int64_t>;

enum class DType { Float32, Int64 };
enum class Device { CPU, CUDA };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
const char* device_name(Device d);
// Parses "cpu" or "cuda"; throws with the accepted values otherwise.
Device parse_device(const std::string& s);
// "[2, 3, 224, 224]"
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

// A block of memory on one device. Freed (or returned to the caching allocator) when the
// last tensor that uses it goes away.
struct Storage {
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data = nullptr;
  size_t bytes = 0;
  Device device = Device::CPU;
};

struct Node;  // src/autograd/engine.h

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  DType dtype = DType::Float32;

  // Autograd (see src/autograd/engine.h).
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated gradient of a leaf, same shape
  std::shared_ptr<Node> grad_fn;     // the op that produced this tensor, null for leaves
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (like an empty Optional)
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation -------------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::CPU);
  static Tensor ones(const Shape& shape, Device device = Device::CPU);
  static Tensor full(const Shape& shape, float value, Device device = Device::CPU);
  static Tensor from_vector(const Shape& shape, const std::vector<float>& values,
                            Device device = Device::CPU);
  static Tensor from_labels(const std::vector<int64_t>& labels, Device device = Device::CPU);
  static Tensor scalar(float value, Device device = Device::CPU) { return full({}, value, device); }

  // ---- inspection -----------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(shape()); }
  // Elements to step over per index of each dimension. Always the contiguous row-major
  // strides: [N,C,H,W] -> [C*H*W, H*W, W, 1].
  Shape strides() const;
  DType dtype() const;
  Device device() const;
  bool is_cuda() const { return device() == Device::CUDA; }
  std::string str() const;  // "Tensor[2, 3] float32 cpu"

  // Raw pointers (device pointers for CUDA tensors). Checked: the dtype must match T.
  template <class T> T* data_ptr();
  template <class T> const T* data_ptr() const;
  float* data() { return data_ptr<float>(); }
  const float* data() const { return data_ptr<float>(); }

  // Copies to the host if needed. item() needs exactly one element.
  std::vector<float> to_vector() const;
  std::vector<int64_t> to_labels() const;
  float item() const;

  // ---- copies and views (differentiable: see the top of the file) --------------------
  Tensor to(Device device) const;    // same tensor if already there; d/dx: the gradient moved back
  Tensor clone() const;              // deep copy; d/dx = 1
  Tensor view(const Shape& shape) const;              // shares storage; one dim may be -1
  Tensor slice(int64_t start, int64_t end) const;     // rows [start, end) of dim 0, shares storage

  // ---- raw data operations (no autograd) ----------------------------------------------
  void copy_(const Tensor& src);     // same numel; any devices
  void fill_(float value);
  void zero_() { fill_(0.0f); }

  // ---- autograd ---------------------------------------------------------------------
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on);
  Tensor grad() const;               // undefined until a backward pass reached this leaf
  void zero_grad();                  // drops the accumulated gradient
  Tensor detach() const;             // same storage, cut from the graph
  bool is_leaf() const;
  // Keep the gradient of this non-leaf tensor in .grad during backward (leaves always do).
  void retain_grad() const;
  // Reverse-mode sweep from this tensor; with no argument it must be a scalar (dL/dL = 1).
  // retain_graph keeps the graph's saved tensors for another backward (Note [Released graphs]).
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false) const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  void check_defined(const char* what) const;
  std::shared_ptr<TensorImpl> impl_;
};

// Throws std::invalid_argument "op: expected shape A, got B" when they differ (see check.h for
// the general form, GRAFT_CHECK).
void check_same_shape(const char* op, const Tensor& expected, const Tensor& got);
void check_shape(const char* op, const char* what, const Tensor& t, const Shape& expected);
void check_dim(const char* op, const char* what, const Tensor& t, int64_t dims);
void check_same_device(const char* op, const Tensor& a, const Tensor& b);

}  // namespace graft
