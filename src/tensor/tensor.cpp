// src/tensor/tensor.cpp — Tensor handles, storage and raw data operations (see tensor.h).
#include "tensor/tensor.h"

#include <sstream>
#include <stdexcept>

#include "autograd/engine.h"
#include "tensor/device.h"

namespace graft {

size_t dtype_size(DType t) { return t == DType::Float32 ? 4 : 8; }
const char* dtype_name(DType t) { return t == DType::Float32 ? "float32" : "int64"; }
const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::CPU;
  if (s == "cuda" || s == "gpu") return Device::CUDA;
  throw std::invalid_argument("unknown device '" + s + "': expected 'cpu' or 'cuda'");
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
  for (int64_t d : shape)
    if (d < 0) throw std::invalid_argument("Tensor::empty: negative size in shape " + shape_str(shape));
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
  if (static_cast<int64_t>(values.size()) != shape_numel(shape))
    throw std::invalid_argument("Tensor::from_vector: shape " + shape_str(shape) + " needs " +
                                std::to_string(shape_numel(shape)) + " values, got " +
                                std::to_string(values.size()));
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
  if (!impl_) throw std::logic_error(std::string(what) + ": the tensor is undefined");
}

const Shape& Tensor::shape() const {
  check_defined("Tensor::shape");
  return impl_->shape;
}

int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  int64_t i = d < 0 ? d + n : d;
  if (i < 0 || i >= n)
    throw std::out_of_range("Tensor::size: dimension " + std::to_string(d) + " out of range for shape " +
                            shape_str(shape()));
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
  if (impl_->dtype != dtype_of<T>())
    throw std::logic_error(std::string("Tensor::data_ptr: tensor is ") + dtype_name(impl_->dtype) +
                           ", asked for " + dtype_name(dtype_of<T>()));
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
  if (numel() != 1)
    throw std::invalid_argument("Tensor::item: expected a single element, got shape " + shape_str(shape()));
  return to_vector()[0];
}

// ---- data operations ------------------------------------------------------------------------

Tensor Tensor::to(Device target) const {
  if (device() == target) return *this;
  Tensor t = empty(shape(), dtype(), target);
  t.copy_(*this);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape(), dtype(), device());
  t.copy_(*this);
  return t;
}

void Tensor::copy_(const Tensor& src) {
  if (src.numel() != numel() || src.dtype() != dtype())
    throw std::invalid_argument("Tensor::copy_: destination " + str() + " cannot take source " + src.str());
  device_copy(static_cast<char*>(impl_->storage->data) + impl_->offset * dtype_size(dtype()), device(),
              static_cast<const char*>(src.impl_->storage->data) + src.impl_->offset * dtype_size(dtype()),
              src.device(), numel() * dtype_size(dtype()));
}

void Tensor::fill_(float value) { device_fill(device(), data(), numel(), value); }

Tensor Tensor::view(const Shape& new_shape) const {
  Shape s = new_shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) throw std::invalid_argument("Tensor::view: only one dimension can be -1");
      infer = static_cast<int64_t>(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0 && known > 0 && numel() % known == 0) s[infer] = numel() / known;
  if (shape_numel(s) != numel())
    throw std::invalid_argument("Tensor::view: cannot view shape " + shape_str(shape()) + " (" +
                                std::to_string(numel()) + " elements) as " + shape_str(new_shape));
  auto impl = std::make_shared<TensorImpl>(*impl_);
  impl->shape = s;
  impl->requires_grad = false;
  impl->grad.reset();
  impl->grad_fn.reset();
  return Tensor(std::move(impl));
}

Tensor Tensor::slice(int64_t start, int64_t end) const {
  if (dim() == 0 || start < 0 || end > size(0) || start > end)
    throw std::out_of_range("Tensor::slice: rows [" + std::to_string(start) + ", " + std::to_string(end) +
                            ") out of range for shape " + shape_str(shape()));
  int64_t row = size(0) ? numel() / size(0) : 0;
  auto impl = std::make_shared<TensorImpl>(*impl_);
  impl->shape[0] = end - start;
  impl->offset += start * row;
  impl->requires_grad = false;
  impl->grad.reset();
  impl->grad_fn.reset();
  return Tensor(std::move(impl));
}

// ---- autograd accessors (the engine is in src/autograd/engine.cpp) -----------------------------

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool on) {
  check_defined("Tensor::set_requires_grad");
  if (on && dtype() != DType::Float32)
    throw std::invalid_argument("Tensor::set_requires_grad: only float32 tensors can require gradients");
  if (!on && impl_->grad_fn)
    throw std::logic_error("Tensor::set_requires_grad(false) on a non-leaf tensor: use detach()");
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

void Tensor::backward(const Tensor& grad_output) const { graft::backward(*this, grad_output); }

// ---- shape checks ------------------------------------------------------------------------------

void check_same_shape(const char* op, const Tensor& expected, const Tensor& got) {
  if (expected.shape() != got.shape())
    throw std::invalid_argument(std::string(op) + ": shape mismatch: expected " + shape_str(expected.shape()) +
                                ", got " + shape_str(got.shape()));
}

void check_shape(const char* op, const char* what, const Tensor& t, const Shape& expected) {
  if (t.shape() != expected)
    throw std::invalid_argument(std::string(op) + ": " + what + " must have shape " + shape_str(expected) +
                                ", got " + shape_str(t.shape()));
}

void check_dim(const char* op, const char* what, const Tensor& t, int64_t dims) {
  if (t.dim() != dims)
    throw std::invalid_argument(std::string(op) + ": " + what + " must have " + std::to_string(dims) +
                                " dimensions, got shape " + shape_str(t.shape()));
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  if (a.device() != b.device())
    throw std::invalid_argument(std::string(op) + ": tensors are on different devices (" +
                                device_name(a.device()) + " and " + device_name(b.device()) +
                                "); move them with .to(device) first");
}

}  // namespace graft
