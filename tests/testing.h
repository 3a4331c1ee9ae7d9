// tests/testing.h — shared test helpers: tensor comparison with the worst element, a
// finite-difference gradient checker, and access to the PyTorch reference files.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "tensor/hdf5_io.h"
#include "tensor/tensor.h"

namespace graft::testing {

// Result of comparing two tensors element by element: |a - b| <= atol + rtol * |b|.
struct Comparison {
  bool ok = true;
  std::string message;  // names the worst element when not ok
  double worst_abs = 0, worst_rel = 0;
};
Comparison compare(const Tensor& actual, const Tensor& expected, double rtol, double atol);

// CHECK that `actual` matches `expected`; on failure prints the op, the index of the worst
// element and both values.
#define CHECK_CLOSE(what, actual, expected, rtol, atol)                                       \
  do {                                                                                        \
    auto graft_cmp_ = ::graft::testing::compare((actual), (expected), (rtol), (atol));         \
    INFO(what << ": " << graft_cmp_.message);                                                 \
    CHECK(graft_cmp_.ok);                                                                     \
  } while (0)

// Finite-difference gradient check of a scalar function of several float32 tensors.
// Central differences in double precision of float32 evaluations: with eps = 1e-2 the
// truncation error is O(eps^2 * f''') ~ 1e-4 and rounding ~ 1e-7 / eps ~ 1e-5, so analytic
// and numeric gradients agree to ~1e-3 relative for smooth ops; tests state their tolerance.
// `f` must build its result from `inputs` with graft ops (so backward works).
struct GradcheckResult {
  bool ok = true;
  std::string message;
};
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          std::vector<Tensor> inputs, double eps = 1e-2, double rtol = 2e-2, double atol = 2e-3);

// A fresh empty folder under the system temp folder ("graft_test_<name>_<pid>"), removed with
// everything in it when the test ends.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& rel) const { return (path / rel).string(); }
  std::string operator/(const std::string& rel) const { return file(rel); }
};

// A random float32 tensor with values in [lo, hi) from a fixed seed.
Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

// Path of a reference file written by tools/make_references.py ("layers.h5"), from the
// GRAFT_REFS environment variable that meson test sets. Empty if references are unavailable.
std::string reference_path(const std::string& file);

}  // namespace graft::testing

// Skips the rest of a test case (with a one-line reason) when a reference file is missing.
#define REQUIRE_REFERENCE(var, file)                                                         \
  std::string var = ::graft::testing::reference_path(file);                                  \
  if (var.empty()) {                                                                         \
    MESSAGE("skipped: reference file " << (file) << " not found (run tools/make_references.py)"); \
    return;                                                                                  \
  }
