// src/tensor/tensor.cpp — Tensor handles, storage and raw data operations (see tensor.h).
#include "tensor/tensor.h"

#include <sstream>
#include <stdexcept>

#include "autograd/engine.h"
#include "tensor/check.h"
#include "tensor/device.h"
#include "tensor/elementwise.h"

namespace graft {

size_t dtype_size(DType t) { return t == DType::Float32 ? 4 : 8; }
const char* dtype_name(DType t) { return t == DType::Float32 ? "float32" : "int64"; }
const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::CPU;
  if (s == "cuda" || s == "gpu") return Device::CUDA;
  GRAFT_FAIL("", "unknown device '", s, "': expected 'cpu' or 'cuda'");
}

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Storage::Storage(size_t nbytes, Device dev) : bytes(nbytes), device(dev) {
  data = device_malloc(dev, nbytes);
}
Storage::~Storage() { device_free(device, data, bytes); }

// ---- creation ----------------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) GRAFT_CHECK(d >= 0, "Tensor::empty", "negative size in shape ", shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>(shape_numel(shape) * dtype_size(dtype), device);
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (dtype == DType::Float32) {
    t.fill_(0.0f);
  } else {
    std::vector<int64_t> z(t.numel(), 0);
    device_copy(t.data_ptr<int64_t>(), device, z.data(), Device::CPU, z.size() * 8);
  }
  return t;
}

Tensor Tensor::ones(const Shape& shape, Device device) { return full(shape, 1.0f, device); }

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, DType::Float32, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values, Device device) {
  GRAFT_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "Tensor::from_vector", "shape ", shape,
              " needs ", shape_numel(shape), " values, got ", values.size());
  Tensor t = empty(shape, DType::Float32, device);
  device_copy(t.data(), device, values.data(), Device::CPU, values.size() * 4);
  return t;
}

Tensor Tensor::from_labels(const std::vector<int64_t>& labels, Device device) {
  Tensor t = empty({static_cast<int64_t>(labels.size())}, DType::Int64, device);
  device_copy(t.data_ptr<int64_t>(), device, labels.data(), Device::CPU, labels.size() * 8);
  return t;
}

// ---- inspection ---------------------------------------------------------------------------

void Tensor::check_defined(const char* what) const {
  GRAFT_CHECK_AS(std::logic_error, impl_, what, "the tensor is undefined");
}

const Shape& Tensor::shape() const {
  check_defined("Tensor::shape");
  return impl_->shape;
}

int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  int64_t i = d < 0 ? d + n : d;
  GRAFT_CHECK_INDEX(i >= 0 && i < n, "Tensor::size", "dimension ", d, " out of range for shape ", shape());
  return impl_->shape[i];
}

Shape Tensor::strides() const {
  Shape st(shape().size(), 1);
  for (int64_t i = static_cast<int64_t>(st.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * impl_->shape[i + 1];
  return st;
}

DType Tensor::dtype() const {
  check_defined("Tensor::dtype");
  return impl_->dtype;
}

Device Tensor::device() const {
  check_defined("Tensor::device");
  return impl_->storage->device;
}

std::string Tensor::str() const {
  if (!impl_) return "Tensor(undefined)";
  return "Tensor" + shape_str(shape()) + " " + dtype_name(dtype()) + " " + device_name(device());
}

template <class T>
static DType dtype_of();
template <> DType dtype_of<float>() { return DType::Float32; }
template <> DType dtype_of<int64_t>() { return DType::Int64; }

template <class T>
T* Tensor::data_ptr() {
  check_defined("Tensor::data_ptr");
  GRAFT_CHECK_AS(std::logic_error, impl_->dtype == dtype_of<T>(), "Tensor::data_ptr", "tensor is ", impl_->dtype,
                 ", asked for ", dtype_of<T>());
  return static_cast<T*>(impl_->storage->data) + impl_->offset;
}
template <class T>
const T* Tensor::data_ptr() const {
  return const_cast<Tensor*>(this)->data_ptr<T>();
}
template float* Tensor::data_ptr<float>();
template const float* Tensor::data_ptr<float>() const;
template int64_t* Tensor::data_ptr<int64_t>();
template const int64_t* Tensor::data_ptr<int64_t>() const;

std::vector<float> Tensor::to_vector() const {
  std::vector<float> out(numel());
  device_copy(out.data(), Device::CPU, data(), device(), out.size() * 4);
  return out;
}

std::vector<int64_t> Tensor::to_labels() const {
  std::vector<int64_t> out(numel());
  device_copy(out.data(), Device::CPU, data_ptr<int64_t>(), device(), out.size() * 8);
  return out;
}

float Tensor::item() const {
  GRAFT_CHECK(numel() == 1, "Tensor::item", "expected a single element, got shape ", shape());
  return to_vector()[0];
}

// ---- copies and views ------------------------------------------------------------------------
//
// Each is a raw operation (the first part of the function) and, when the tensor requires a
// gradient, a recorded node with its backward right beneath it.

namespace {
struct ViewAttrs {
  Shape input_shape;
};
struct SliceAttrs {
  int64_t start;
};
struct ToAttrs {
  Device from;
};
}  // namespace

Tensor Tensor::to(Device target) const {
  if (device() == target) return *this;
  Tensor t = empty(shape(), dtype(), target);
  t.copy_(*this);
  return record("to", {*this}, t, {}, ToAttrs{device()}, [](const Ctx<ToAttrs>& ctx, const Tensor& gy) -> Grads {
    return {gy.to(ctx.attrs.from)};  // d/dx: the gradient moved back to x's device
  });
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape(), dtype(), device());
  t.copy_(*this);
  return record("clone", {*this}, t, {}, [](const Ctx<>&, const Tensor& gy) -> Grads { return {gy}; });
}

Tensor Tensor::view(const Shape& new_shape) const {
  Shape s = new_shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      GRAFT_CHECK(infer < 0, "Tensor::view", "only one dimension can be -1");
      infer = static_cast<int64_t>(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0 && known > 0 && numel() % known == 0) s[infer] = numel() / known;
  GRAFT_CHECK(shape_numel(s) == numel(), "Tensor::view", "cannot view shape ", shape(), " (", numel(),
              " elements) as ", new_shape);
  Tensor v = detach();
  v.impl_->shape = s;
  return record("view", {*this}, v, {}, ViewAttrs{shape()}, [](const Ctx<ViewAttrs>& ctx, const Tensor& gy) -> Grads {
    return {gy.view(ctx.attrs.input_shape)};  // the same numbers in the input's shape
  });
}

Tensor Tensor::slice(int64_t start, int64_t end) const {
  GRAFT_CHECK_INDEX(dim() > 0 && start >= 0 && end <= size(0) && start <= end, "Tensor::slice", "rows [", start, ", ",
                    end, ") out of range for shape ", shape());
  const int64_t row = size(0) ? numel() / size(0) : 0;
  Tensor v = detach();
  v.impl_->shape[0] = end - start;
  v.impl_->offset += start * row;
  return record("slice", {*this}, v, {}, SliceAttrs{start}, [](const Ctx<SliceAttrs>& ctx, const Tensor& gy) -> Grads {
    // dx: zero except rows [start, end), which receive dy
    Tensor gx = Tensor::zeros(ctx.input_shape(0), DType::Float32, gy.device());
    gx.slice(ctx.attrs.start, ctx.attrs.start + gy.size(0)).copy_(gy);
    return {gx};
  });
}

void Tensor::copy_(const Tensor& src) {
  GRAFT_CHECK(src.numel() == numel() && src.dtype() == dtype(), "Tensor::copy_", "destination ", *this,
              " cannot take source ", src);
  device_copy(static_cast<char*>(impl_->storage->data) + impl_->offset * dtype_size(dtype()), device(),
              static_cast<const char*>(src.impl_->storage->data) + src.impl_->offset * dtype_size(dtype()),
              src.device(), numel() * dtype_size(dtype()));
}

void Tensor::fill_(float value) { kernels::fill(device(), *this, value); }

// ---- autograd accessors (the engine is in src/autograd/engine.cpp) -----------------------------

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool on) {
  check_defined("Tensor::set_requires_grad");
  GRAFT_CHECK(!on || dtype() == DType::Float32, "Tensor::set_requires_grad",
              "only float32 tensors can require gradients, got ", dtype());
  GRAFT_CHECK_AS(std::logic_error, on || !impl_->grad_fn, "Tensor::set_requires_grad(false)",
                 "the tensor is not a leaf (an op computed it): use detach()");
  impl_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  check_defined("Tensor::grad");
  return Tensor(impl_->grad);
}

void Tensor::zero_grad() {
  check_defined("Tensor::zero_grad");
  impl_->grad.reset();
}

Tensor Tensor::detach() const {
  check_defined("Tensor::detach");
  auto impl = std::make_shared<TensorImpl>(*impl_);
  impl->requires_grad = false;
  impl->grad.reset();
  impl->grad_fn.reset();
  return Tensor(std::move(impl));
}

bool Tensor::is_leaf() const { return !impl_ || !impl_->grad_fn; }

void Tensor::retain_grad() const {
  check_defined("Tensor::retain_grad");
  GRAFT_CHECK(requires_grad(), "Tensor::retain_grad", "the tensor does not require a gradient");
  if (impl_->grad_fn) impl_->grad_fn->retained = impl_;
}

void Tensor::backward(const Tensor& grad_output, bool retain_graph) const {
  graft::backward(*this, grad_output, retain_graph);
}

// ---- shape checks ------------------------------------------------------------------------------

void check_same_shape(const char* op, const Tensor& expected, const Tensor& got) {
  GRAFT_CHECK(expected.shape() == got.shape(), op, "shape mismatch: expected ", expected.shape(), ", got ",
              got.shape());
}

void check_shape(const char* op, const char* what, const Tensor& t, const Shape& expected) {
  GRAFT_CHECK(t.shape() == expected, op, what, " must have shape ", expected, ", got ", t.shape());
}

void check_dim(const char* op, const char* what, const Tensor& t, int64_t dims) {
  GRAFT_CHECK(t.dim() == dims, op, what, " must have ", dims, " dimensions, got shape ", t.shape());
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  GRAFT_CHECK(a.device() == b.device(), op, "tensors are on different devices (", a.device(), " and ", b.device(),
              "); move them with .to(device) first");
}

}  // namespace graft
