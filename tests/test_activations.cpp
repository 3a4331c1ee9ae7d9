// tests/test_activations.cpp — relu, sigmoid, softmax, log_softmax, dropout, Flatten, Identity:
// finite differences, PyTorch references (tools/references/layers_b.py), dropout statistics.
#include <cmath>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "layers/activation.h"
#include "layers/basic.h"
#include "layers/dropout.h"
#include "layers/softmax.h"
#include "testing.h"

using namespace graft;

namespace {
// CHECK_CLOSE, and print the worst error so the parity reached shows in the test log.
void check_ref(const char* what, const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  CHECK_CLOSE(what, actual, expected, rtol, atol);
  auto c = testing::compare(actual, expected, rtol, atol);
  MESSAGE("parity " << std::string(what) << ": max abs err " << c.worst_abs << ", max rel err " << c.worst_rel);
}

// Finite-difference check of sum(op(x) * g) for a single-input op.
void gradcheck_unary(const char* what, Tensor (*op)(const Tensor&), const Tensor& x, uint64_t seed) {
  Tensor g = testing::random_tensor(x.shape(), seed);  // weights every output differently
  auto r = testing::gradcheck([&](const std::vector<Tensor>& in) { return sum(op(in[0]) * g); }, {x});
  INFO(what << ": " << r.message);
  CHECK(r.ok);
}

// Forward and backward of `op` against the reference case `name`.
void check_unary_reference(const std::string& name, Tensor (*op)(const Tensor&), double rtol, double atol) {
  REQUIRE_REFERENCE(path, "layers_b.h5");
  H5File f(path, H5File::Mode::Read);
  Tensor x = f.read(name + "/x").set_requires_grad(true);
  Tensor y = op(x);
  check_ref((name + " y").c_str(), y, f.read(name + "/y"), rtol, atol);
  y.backward(f.read(name + "/grad_y"));
  check_ref((name + " grad_x").c_str(), x.grad(), f.read(name + "/grad_x"), rtol, atol);
}
}  // namespace

// ---- relu, sigmoid --------------------------------------------------------------------------------

TEST_CASE("relu: finite-difference gradient away from the kink") {
  Tensor x = testing::random_tensor({3, 5}, 41);
  float* p = x.data();  // move every value at least 0.1 from 0, farther than the FD step 1e-2
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = p[i] >= 0 ? p[i] + 0.1f : p[i] - 0.1f;
  gradcheck_unary("relu", relu, x, 42);
}

TEST_CASE("sigmoid: finite-difference gradient") { gradcheck_unary("sigmoid", sigmoid, testing::random_tensor({3, 5}, 43, -3, 3), 44); }

TEST_CASE("relu: matches torch.relu (zero at x = 0 in the gradient)") {
  // max() and a select are exact: the only source of error would be a wrong element.
  check_unary_reference("relu", relu, 0, 0);
}

TEST_CASE("sigmoid: matches torch.sigmoid, also saturated at +-100") {
  // exp() in float32 differs by an ulp or two between libm and PyTorch's vectorized exp;
  // sigmoid(-100) is 3.7e-44 here (a denormal) and 0 in PyTorch, inside atol.
  check_unary_reference("sigmoid", sigmoid, 1e-5, 1e-7);
}

TEST_CASE("sigmoid: no NaN or inf at extreme inputs") {
  Tensor y = sigmoid(Tensor::from_vector({4}, {-1e4f, -100.0f, 100.0f, 1e4f}));
  std::vector<float> v = y.to_vector();
  for (float e : v) CHECK(std::isfinite(e));
  CHECK(v[0] == 0.0f);
  CHECK(v[3] == 1.0f);
  CHECK(v[1] < 1e-40f);  // exp(-100) = 3.7e-44
}

TEST_CASE("ReLU, Sigmoid modules: type and repr as PyTorch") {
  CHECK(ReLU().type() == "ReLU");
  CHECK(ReLU().extra_repr() == "");
  CHECK(ReLU(true).extra_repr() == "inplace=True");
  CHECK(Sigmoid().type() == "Sigmoid");
  ReLU r;
  CHECK(r(Tensor::from_vector({3}, {-1, 0, 2})).to_vector() == std::vector<float>{0, 0, 2});
}

// ---- softmax, log_softmax -----------------------------------------------------------------------

TEST_CASE("softmax: finite-difference gradient") { gradcheck_unary("softmax", softmax, testing::random_tensor({3, 5}, 45, -2, 2), 46); }

TEST_CASE("log_softmax: finite-difference gradient") {
  gradcheck_unary("log_softmax", log_softmax, testing::random_tensor({3, 5}, 47, -2, 2), 48);
}

TEST_CASE("softmax: matches torch.softmax, with logits of +-1000") {
  // Probabilities in [0,1] from exp of arguments <= 0 accumulated in double: PyTorch uses
  // float32 sums and its own exp, so an ulp-level relative difference; atol for the tiny ones.
  check_unary_reference("softmax", softmax, 1e-5, 1e-7);
}

TEST_CASE("log_softmax: matches torch.log_softmax, with logits of +-1000") {
  // Values near -1000 have a float32 spacing of 6e-5, so only a relative bound makes sense
  // there: rtol 1e-6 (1e-3 absolute at -1000, 1e-6 at -1). A missing log-sum-exp term would be
  // off by 0.87 or more in rows 0, 1 and 3.
  check_unary_reference("log_softmax", log_softmax, 1e-6, 2e-6);
}

TEST_CASE("softmax: rows sum to 1 and log_softmax stays finite for huge logits") {
  Tensor x = Tensor::from_vector({2, 3}, {1000, 1000, 1000, -1000, 0, 1000});
  std::vector<float> p = softmax(x).to_vector(), lp = log_softmax(x).to_vector();
  // Hand-worked: row 0 is uniform (1/3 each, log = -log 3); row 1 is (0, 0, 1), log -2000, -1000, 0.
  for (int i = 0; i < 3; ++i) CHECK(p[i] == doctest::Approx(1.0 / 3).epsilon(1e-6));
  CHECK(p[5] == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(lp[0] == doctest::Approx(-std::log(3.0)).epsilon(1e-6));
  CHECK(lp[3] == doctest::Approx(-2000.0).epsilon(1e-6));
  CHECK(lp[4] == doctest::Approx(-1000.0).epsilon(1e-6));
  CHECK(lp[5] == 0.0f);
}

TEST_CASE("Softmax, LogSoftmax modules: dim 1 or -1 only, 2-D input only") {
  CHECK(Softmax().extra_repr() == "dim=1");
  CHECK(LogSoftmax(-1).extra_repr() == "dim=-1");
  CHECK(LogSoftmax().type() == "LogSoftmax");
  CHECK_THROWS_WITH(Softmax(0), doctest::Contains("dim=0"));
  CHECK_THROWS_WITH(LogSoftmax(2), doctest::Contains("only dim=1"));
  Softmax sm(-1);
  CHECK_THROWS_WITH(sm(Tensor::zeros({2, 3, 4})), doctest::Contains("[2, 3, 4]"));
  CHECK_THROWS_WITH(log_softmax(Tensor::zeros({5})), doctest::Contains("[5]"));
  Tensor y = sm(Tensor::zeros({2, 4}));
  CHECK(y.to_vector() == std::vector<float>(8, 0.25f));
}

// ---- dropout ------------------------------------------------------------------------------------

TEST_CASE("dropout: fraction dropped within a binomial bound, survivors scaled by 1/(1-p)") {
  const int64_t n = 20000;
  const float p = 0.3f;
  Tensor x = testing::random_tensor({n}, 51, 0.5f, 1.5f);  // no zeros in x itself
  Generator gen(52);
  Tensor y = dropout(x, p, true, gen);
  std::vector<float> xv = x.to_vector(), yv = y.to_vector();
  int64_t zeros = 0, bad_scale = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (yv[i] == 0.0f)
      ++zeros;
    else if (std::fabs(yv[i] - xv[i] / (1.0f - p)) > 1e-6f * std::fabs(yv[i]))  // x * (1/(1-p)): ~1 ulp
      ++bad_scale;
  }
  // #zeros ~ Binomial(n, p): sd = sqrt(n p (1-p)) = 64.8. Bound 5 sd: a correct dropout falls
  // outside with probability < 6e-7 (the seed is fixed anyway); a wrong p (e.g. 1-p) is 94 sd off.
  const double sd = std::sqrt(n * p * (1.0 - p));
  CHECK(std::fabs(zeros - n * p) < 5 * sd);
  CHECK(bad_scale == 0);
}

TEST_CASE("dropout: same seed gives the same mask, another seed another mask") {
  Tensor x = Tensor::ones({1000});
  Generator a(7), b(7), c(8);
  std::vector<float> ya = dropout(x, 0.5f, true, a).to_vector();
  CHECK(ya == dropout(x, 0.5f, true, b).to_vector());
  CHECK(ya != dropout(x, 0.5f, true, c).to_vector());
  CHECK(ya != dropout(x, 0.5f, true, a).to_vector());  // the generator advanced: a fresh mask
}

TEST_CASE("dropout: gradient is the mask (finite differences with a fixed mask)") {
  Tensor x = testing::random_tensor({4, 5}, 53), g = testing::random_tensor({4, 5}, 54);
  auto r = testing::gradcheck(
      [&](const std::vector<Tensor>& in) {
        Generator gen(55);  // a fresh generator per call: every evaluation uses the same mask
        return sum(dropout(in[0], 0.4f, true, gen) * g);
      },
      {x});
  INFO(r.message);
  CHECK(r.ok);
}

TEST_CASE("dropout: eval and p = 0 are the identity, p = 1 gives zeros, bad p throws") {
  Tensor x = testing::random_tensor({3, 4}, 56).set_requires_grad(true);
  CHECK(dropout(x, 0.5f, false).impl() == x.impl());
  CHECK(dropout(x, 0.0f, true).impl() == x.impl());
  Tensor y = dropout(x, 1.0f, true);
  CHECK(y.to_vector() == std::vector<float>(12, 0.0f));
  sum(y).backward();
  CHECK(x.grad().to_vector() == std::vector<float>(12, 0.0f));
  CHECK_THROWS_WITH(dropout(x, -0.1f, true), doctest::Contains("between 0 and 1"));
  CHECK_THROWS_WITH(dropout(x, 1.5f, false), doctest::Contains("1.5"));
  CHECK_THROWS(dropout(x, std::nanf(""), true));
  CHECK_THROWS_WITH(Dropout(2.0f), doctest::Contains("Dropout"));
}

TEST_CASE("Dropout module: drops in training, identity in eval, repr as PyTorch") {
  Dropout d(0.4f);
  CHECK(d.type() == "Dropout");
  CHECK(d.extra_repr() == "p=0.4, inplace=False");
  Tensor x = Tensor::ones({1000});
  std::vector<float> y = d(x).to_vector();
  int64_t zeros = 0;
  for (float v : y) zeros += v == 0.0f;
  // Binomial(1000, 0.4): sd 15.5; 6 sd either side of 400 (the default stream is shared).
  CHECK(zeros > 307);
  CHECK(zeros < 493);
  d.eval();
  CHECK(d(x).impl() == x.impl());
}

// ---- Flatten, Identity ----------------------------------------------------------------------------

TEST_CASE("Flatten and Identity: shapes, gradients, repr") {
  Flatten fl;
  Tensor x = testing::random_tensor({2, 3, 2, 2}, 57).set_requires_grad(true);
  Tensor y = fl(x);
  CHECK(y.shape() == Shape{2, 12});
  CHECK(y.to_vector() == x.to_vector());  // row-major: flattening keeps the order
  Tensor g = testing::random_tensor({2, 12}, 58);
  y.backward(g);
  CHECK(x.grad().shape() == Shape{2, 3, 2, 2});
  CHECK(x.grad().to_vector() == g.to_vector());
  CHECK(fl.type() == "Flatten");
  CHECK(fl.extra_repr() == "start_dim=1, end_dim=-1");
  Identity id;
  CHECK(id(x).impl() == x.impl());
  CHECK(id.type() == "Identity");
  CHECK(id.extra_repr() == "");
}
