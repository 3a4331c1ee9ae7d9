// docs/exercises/exercise.h — what the tour's exercises share: one way to compare a number
// that graft computed with the number worked out by hand in the exercise's comments.
//
// Each exercise is a doctest program with one TEST_CASE, so `meson test` runs it, counts it,
// and fails when a claim of docs/tour.md stops being true of the code.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace exercise {

// |got - want| <= tol, with both numbers in the failure message. Every call site says why its
// tolerance is what it is.
inline void check_near(const char* what, double got, double want, double tol) {
  INFO(what << ": graft gives " << got << ", worked by hand " << want << " (tolerance " << tol << ")");
  CHECK(std::fabs(got - want) <= tol);
}

inline void check_all_near(const char* what, const std::vector<float>& got, const std::vector<double>& want,
                           double tol) {
  REQUIRE_MESSAGE(got.size() == want.size(), what << ": " << got.size() << " values, expected " << want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const std::string name = std::string(what) + "[" + std::to_string(i) + "]";
    check_near(name.c_str(), got[i], want[i], tol);
  }
}

inline void print_values(const char* what, const std::vector<float>& v) {
  std::printf("  %-22s [", what);
  for (size_t i = 0; i < v.size(); ++i) std::printf("%s%g", i ? ", " : "", static_cast<double>(v[i]));
  std::printf("]\n");
}

}  // namespace exercise
