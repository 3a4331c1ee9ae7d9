// src/tensor/check.h — one way to check an argument and say what went wrong.
//
//   GRAFT_CHECK(x.size(1) == w.size(1), "conv2d", "input has ", x.size(1), " channels (shape ",
//               x.shape(), ") but the weight expects ", w.size(1), "; check in_channels");
//   -> std::invalid_argument("conv2d: input has 3 channels (shape [2, 3, 8, 8]) but the weight ...")
//
// The message parts are streamed one after another, so numbers, strings, shapes ("[2, 3, 8, 8]"),
// tensors ("Tensor[2, 3] float32 cpu"), devices and dtypes can be mixed freely. A user-facing
// message says three things: what was expected, what was found (both shapes), and what to do.
// The condition is only evaluated once and the parts only when it fails, so a check costs one
// branch on the success path (PyTorch's TORCH_CHECK works the same way).
//
// Which exception says what:
//   GRAFT_CHECK        std::invalid_argument  the caller passed something wrong (shapes, values, options)
//   GRAFT_CHECK_DATA   std::runtime_error     a file, the data or the machine is not as expected
//   GRAFT_CHECK_INDEX  std::out_of_range      an index or dimension outside its range
//   GRAFT_ASSERT       std::logic_error       an invariant of graft itself is broken (a bug: report it)
// GRAFT_FAIL / GRAFT_FAIL_DATA throw unconditionally. An empty `op` ("") leaves the prefix out.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/tensor.h"

namespace graft::detail {

inline void append(std::ostringstream& os, const Shape& s) { os << shape_str(s); }
inline void append(std::ostringstream& os, const Tensor& t) { os << t.str(); }
inline void append(std::ostringstream& os, Device d) { os << device_name(d); }
inline void append(std::ostringstream& os, DType t) { os << dtype_name(t); }
inline void append(std::ostringstream& os, bool b) { os << (b ? "true" : "false"); }
template <class T>
void append(std::ostringstream& os, const T& v) {
  os << v;
}

template <class... Parts>
std::string check_message(std::string_view op, const Parts&... parts) {
  std::ostringstream os;
  if (!op.empty()) os << op << ": ";
  (append(os, parts), ...);
  return os.str();
}

template <class Exception, class... Parts>
[[noreturn]] void fail(std::string_view op, const Parts&... parts) {
  throw Exception(check_message(op, parts...));
}

}  // namespace graft::detail

#define GRAFT_CHECK_AS(exception, cond, op, ...)                                        \
  do {                                                                                  \
    if (!(cond)) [[unlikely]]                                                           \
      ::graft::detail::fail<exception>(op __VA_OPT__(, ) __VA_ARGS__);                  \
  } while (0)

#define GRAFT_CHECK(cond, op, ...) GRAFT_CHECK_AS(std::invalid_argument, cond, op, __VA_ARGS__)
#define GRAFT_CHECK_DATA(cond, op, ...) GRAFT_CHECK_AS(std::runtime_error, cond, op, __VA_ARGS__)
#define GRAFT_CHECK_INDEX(cond, op, ...) GRAFT_CHECK_AS(std::out_of_range, cond, op, __VA_ARGS__)
#define GRAFT_ASSERT(cond, op, ...) GRAFT_CHECK_AS(std::logic_error, cond, op, __VA_ARGS__)
#define GRAFT_FAIL(op, ...) ::graft::detail::fail<std::invalid_argument>(op __VA_OPT__(, ) __VA_ARGS__)
#define GRAFT_FAIL_DATA(op, ...) ::graft::detail::fail<std::runtime_error>(op __VA_OPT__(, ) __VA_ARGS__)
