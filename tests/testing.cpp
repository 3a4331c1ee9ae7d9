// tests/testing.cpp — see testing.h.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "testing.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <unistd.h>

#include "autograd/engine.h"
#include "tensor/random.h"

namespace graft::testing {

Comparison compare(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  Comparison c;
  if (actual.shape() != expected.shape()) {
    c.ok = false;
    c.message = "shape " + shape_str(actual.shape()) + " vs expected " + shape_str(expected.shape());
    return c;
  }
  std::vector<float> a = actual.to_vector(), e = expected.to_vector();
  double worst_excess = -1;
  size_t worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double diff = std::fabs(static_cast<double>(a[i]) - e[i]);
    double allowed = atol + rtol * std::fabs(e[i]);
    if (!(diff <= allowed)) c.ok = false;  // catches NaN too
    double excess = std::isnan(diff) ? 1e300 : diff - allowed;
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
    c.worst_abs = std::max(c.worst_abs, diff);
    if (std::fabs(e[i]) > 1e-6) c.worst_rel = std::max(c.worst_rel, diff / std::fabs(e[i]));
  }
  std::ostringstream o;
  if (!a.empty())
    o << (c.ok ? "ok" : "MISMATCH") << ", worst element at flat index " << worst << ": got " << a[worst]
      << ", expected " << e[worst] << " (max abs err " << c.worst_abs << ", max rel err " << c.worst_rel
      << ", rtol " << rtol << ", atol " << atol << ")";
  c.message = o.str();
  return c;
}

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, std::vector<Tensor> inputs,
                          double eps, double rtol, double atol) {
  GradcheckResult r;
  for (auto& t : inputs) {
    t.zero_grad();
    if (t.dtype() == DType::Float32) t.set_requires_grad(true);
  }
  Tensor out = f(inputs);
  out.backward();
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    if (x.dtype() != DType::Float32) continue;
    std::vector<float> analytic = x.grad().defined() ? x.grad().to_vector() : std::vector<float>(x.numel(), 0.0f);
    float* p = x.data();
    for (int64_t i = 0; i < x.numel(); ++i) {
      float saved = p[i];
      double fp, fm;
      {
        NoGradGuard ng;
        p[i] = saved + static_cast<float>(eps);
        fp = f(inputs).item();
        p[i] = saved - static_cast<float>(eps);
        fm = f(inputs).item();
      }
      p[i] = saved;
      double numeric = (fp - fm) / (2 * eps);
      double diff = std::fabs(numeric - analytic[i]);
      if (!(diff <= atol + rtol * std::fabs(numeric))) {
        r.ok = false;
        std::ostringstream o;
        o << "input " << k << " " << shape_str(x.shape()) << " element " << i << ": analytic " << analytic[i]
          << ", numeric " << numeric;
        r.message = o.str();
        return r;
      }
    }
  }
  r.message = "ok";
  return r;
}

TempDir::TempDir(const std::string& name) {
  path = std::filesystem::temp_directory_path() / ("graft_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
}

TempDir::~TempDir() {
  std::error_code ec;  // never throw from a destructor
  std::filesystem::remove_all(path, ec);
}

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  Generator gen(seed);
  Tensor t = Tensor::empty(shape);
  uniform_(t, lo, hi, gen);
  return t;
}

std::string reference_path(const std::string& file) {
  const char* dir = std::getenv("GRAFT_REFS");
  if (!dir) return "";
  std::string p = std::string(dir) + "/" + file;
  return std::filesystem::exists(p) ? p : "";
}

}  // namespace graft::testing
