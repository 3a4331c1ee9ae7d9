// docs/exercises/ex01_tensor.cpp — Chapter 1 of docs/tour.md: storage and shapes.
//
// Claims checked here (src/tensor/tensor.h, src/tensor/tensor.cpp):
//   1. A tensor is row-major and contiguous: element [i,j] of a [2,3] tensor is at i*3 + j.
//   2. view() and slice() share the storage: they change only the shape and the offset.
//   3. Copying a Tensor copies the handle; clone() copies the data.
//   4. A [2,3,224,224] float32 batch holds 2*3*224*224 = 301,056 floats = 1,204,224 bytes.
//   5. Shape errors name the op and both shapes.
// Run: meson test -C build ex01_tensor --verbose
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "exercise.h"
#include "tensor/tensor.h"

using namespace graft;

TEST_CASE("ex01: storage and shapes") {
  // 1. Row-major: t[i][j] lives at offset i*3 + j of the storage.
  Tensor t = Tensor::from_vector({2, 3}, {0, 1, 2, 3, 4, 5});
  std::printf("  t = %s\n", t.str().c_str());
  CHECK(t.data()[1 * 3 + 2] == 5.0f);  // t[1][2]

  // 2. A view reshapes the same bytes: no copy, same pointer.
  Tensor v = t.view({3, 2});
  CHECK(v.data() == t.data());
  v.data()[0] = 10.0f;  // writing through the view ...
  CHECK(t.to_vector()[0] == 10.0f);  // ... changes t
  Tensor auto_dim = t.view({-1});  // one size may be -1: 6 elements -> [6]
  CHECK(auto_dim.shape() == Shape{6});

  // slice(1, 2) is row 1 of dim 0: the same storage, starting 3 elements later.
  Tensor row1 = t.slice(1, 2);
  CHECK(row1.shape() == Shape{1, 3});
  CHECK(row1.data() == t.data() + 3);
  CHECK(row1.impl()->offset == 3);
  CHECK(row1.impl()->storage == t.impl()->storage);

  // 3. A Tensor is a handle: copies share the TensorImpl. clone() owns new storage.
  Tensor same = t;
  CHECK(same.impl() == t.impl());
  Tensor copy = t.clone();
  CHECK(copy.data() != t.data());
  copy.data()[0] = -1.0f;
  CHECK(t.to_vector()[0] == 10.0f);

  // 4. Sizes: numel is the product of the shape; storage bytes = numel * 4 for float32.
  Tensor batch = Tensor::empty({2, 3, 224, 224});
  std::printf("  batch = %s: %lld floats, %zu bytes\n", batch.str().c_str(),
              static_cast<long long>(batch.numel()), batch.impl()->storage->bytes);
  CHECK(batch.numel() == 301056);
  CHECK(batch.impl()->storage->bytes == 1204224u);

  // 5. Errors say what was expected and what was found.
  try {
    check_shape("my_op", "bias", t, {3});
    FAIL("check_shape accepted a [2, 3] tensor as a [3] bias");
  } catch (const std::invalid_argument& e) {
    std::printf("  error: %s\n", e.what());
    const std::string msg = e.what();
    CHECK(msg.find("my_op") != std::string::npos);
    CHECK(msg.find("[3]") != std::string::npos);
    CHECK(msg.find("[2, 3]") != std::string::npos);
  }
}
