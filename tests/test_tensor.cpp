// tests/test_tensor.cpp — Tensor handles, views, elementwise kernels, HDF5 round trips.
#include <filesystem>

#include "tensor/elementwise.h"
#include "tensor/gemm.h"
#include "tensor/hdf5_io.h"
#include "testing.h"

using namespace graft;

TEST_CASE("tensor: creation, shape and copies share or own storage as documented") {
  Tensor a = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(a.numel() == 6);
  CHECK(a.size(-1) == 3);
  CHECK(shape_str(a.shape()) == "[2, 3]");
  CHECK(a.strides() == Shape{3, 1});
  CHECK(Tensor::zeros({2, 3, 4, 5}).strides() == Shape{60, 20, 5, 1});  // [C*H*W, H*W, W, 1]
  Tensor v = a.view({3, -1});
  CHECK(v.shape() == Shape{3, 2});
  v.data()[0] = 10;  // a view shares storage
  CHECK(a.data()[0] == 10);
  Tensor c = a.clone();
  c.data()[1] = 20;  // a clone does not
  CHECK(a.data()[1] == 2);
  Tensor row = a.slice(1, 2);
  CHECK(row.shape() == Shape{1, 3});
  CHECK(row.to_vector() == std::vector<float>{4, 5, 6});
  CHECK_THROWS_WITH_AS(a.view({4, 2}), doctest::Contains("[4, 2]"), std::invalid_argument);
  CHECK_THROWS_AS(a.slice(1, 3), std::out_of_range);
}

TEST_CASE("tensor: elementwise kernels against hand-computed values") {
  Tensor a = Tensor::from_vector({4}, {1, -2, 3, 0.5f});
  Tensor b = Tensor::from_vector({4}, {2, 2, -1, 4});
  CHECK(add(a, b).to_vector() == std::vector<float>{3, 0, 2, 4.5f});
  CHECK(sub(a, b).to_vector() == std::vector<float>{-1, -4, 4, -3.5f});
  CHECK(mul(a, b).to_vector() == std::vector<float>{2, -4, -3, 2});
  CHECK(sum_all(a).item() == doctest::Approx(2.5));
  Tensor y = a.clone();
  axpby_(y, 2.0f, b, 0.5f);  // 2b + 0.5a
  CHECK(y.to_vector() == std::vector<float>{4.5f, 3, -0.5f, 8.25f});
  CHECK_THROWS_WITH(add(a, Tensor::zeros({5})), doctest::Contains("expected [4], got [5]"));
}

TEST_CASE("tensor: gemm in all four transpose modes against a triple loop") {
  const int64_t M = 5, N = 4, K = 3;
  Tensor A = testing::random_tensor({M, K}, 1), B = testing::random_tensor({K, N}, 2);
  Tensor At = testing::random_tensor({K, M}, 3), Bt = testing::random_tensor({N, K}, 4);
  auto ref = [&](bool ta, bool tb) {
    std::vector<float> c(M * N, 0.0f);
    const float* a = ta ? At.data() : A.data();
    const float* b = tb ? Bt.data() : B.data();
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j)
        for (int64_t k = 0; k < K; ++k)
          c[i * N + j] += (ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
    return Tensor::from_vector({M, N}, c);
  };
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor C = Tensor::zeros({M, N});
      gemm(Device::CPU, ta, tb, M, N, K, 1.0f, ta ? At.data() : A.data(), tb ? Bt.data() : B.data(), 0.0f, C.data());
      // Float sums of 3 products: reordering changes the result by a few ulps at most.
      CHECK_CLOSE("gemm", C, ref(ta, tb), 1e-6, 1e-6);
    }
}

TEST_CASE("hdf5: tensors, strings and attributes round-trip; errors name file and key") {
  std::string path = (std::filesystem::temp_directory_path() / "graft_test_roundtrip.h5").string();
  Tensor w = testing::random_tensor({2, 3, 4}, 7);
  Tensor labels = Tensor::from_labels({3, 1, 4});
  save_tensors(path, {{"features.0.weight", w}, {"labels", labels}}, [](H5File& f) {
    f.set_attr("architecture", std::string("vgg16"));
    f.set_attr("class_names", std::vector<std::string>{"cat", "dog"});
    f.set_attr("mean", std::vector<double>{0.485, 0.456, 0.406});
    f.write_strings("files", {"a.jpg", "b.png"});
  });
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  H5File f(path, H5File::Mode::Read);
  CHECK(f.contains("features.0.weight"));
  CHECK(f.read("features.0.weight").to_vector() == w.to_vector());
  CHECK(f.read("labels").to_labels() == std::vector<int64_t>{3, 1, 4});
  CHECK(f.attr_string("architecture") == "vgg16");
  CHECK(f.attr_strings("class_names") == std::vector<std::string>{"cat", "dog"});
  CHECK(f.attr_numbers("mean")[1] == doctest::Approx(0.456));
  CHECK(f.read_strings("files") == std::vector<std::string>{"a.jpg", "b.png"});
  CHECK_THROWS_WITH(f.read("nope"), doctest::Contains("no dataset named 'nope'"));
  CHECK_THROWS_WITH(f.read("nope"), doctest::Contains(path.c_str()));
  CHECK_THROWS_WITH(H5File("/nonexistent/x.h5", H5File::Mode::Read), doctest::Contains("does not exist"));
  std::filesystem::remove(path);
}
