// docs/exercises/ex03_conv.cpp — Chapter 3 of docs/tour.md: convolution as im2col + GEMM,
// and its backward.
//
// One image x [1,1,3,3] = 1..9 and one 2x2 filter w [1,1,2,2] = [[1,2],[3,4]], no padding,
// stride 1, so P = Q = (3 - 2)/1 + 1 = 2.
//   x = 1 2 3      im2col: row (r,s) holds x[p+r][q+s] for the outputs (p,q) = 00,01,10,11
//       4 5 6        row (0,0): 1 2 4 5
//       7 8 9        row (0,1): 2 3 5 6
//                    row (1,0): 4 5 7 8
//                    row (1,1): 5 6 8 9
//   y = w_flat [1,4] * cols [4,4] = [1*1+2*2+3*4+4*5, 2+6+15+24, 4+10+21+32, 5+12+24+36]
//     = [37, 47, 67, 77]
// Backward with dy = all ones [1,1,2,2]:
//   dw[r][s] = sum of row (r,s) of cols = [[1+2+4+5, 2+3+5+6], [4+5+7+8, 5+6+8+9]] = [[12,16],[24,28]]
//   dx = col2im(w^T dy): each pixel sums the weights of the taps that saw it
//      = [[1, 1+2, 2], [1+3, 1+2+3+4, 2+4], [3, 3+4, 4]] = [[1,3,2],[4,10,6],[3,7,4]]
// Output size of ResNet18's first layer (7x7, stride 2, padding 3) on 224x224:
//   P = (224 + 2*3 - 1*(7-1) - 1) / 2 + 1 = 223/2 + 1 = 111 + 1 = 112   (integer division)
// Run: meson test -C build ex03_conv --verbose
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "autograd/ops.h"
#include "exercise.h"
#include "layers/conv2d.h"
#include "tensor/gemm.h"

using namespace graft;
using exercise::check_all_near;

TEST_CASE("ex03: convolution = im2col + GEMM") {
  Tensor x = Tensor::from_vector({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}).set_requires_grad(true);
  Tensor w = Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4}).set_requires_grad(true);
  Tensor y = conv2d(x, w, Tensor(), Conv2dParams{});
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  exercise::print_values("y = conv2d(x, w)", y.to_vector());
  // Integers below 2^24 are exact in float32: tolerance 0.
  check_all_near("y", y.to_vector(), {37, 47, 67, 77}, 0.0);

  // The same numbers from our own im2col and one GEMM (what conv2d.cpp does per image).
  const float* px = x.data();
  std::vector<float> cols(4 * 4);
  for (int r = 0; r < 2; ++r)
    for (int s = 0; s < 2; ++s)
      for (int p = 0; p < 2; ++p)
        for (int q = 0; q < 2; ++q) cols[(r * 2 + s) * 4 + (p * 2 + q)] = px[(p + r) * 3 + (q + s)];
  exercise::print_values("cols row (0,0)", std::vector<float>(cols.begin(), cols.begin() + 4));
  std::vector<float> y_gemm(4);
  // y [K=1, PQ=4] = w [K=1, CRS=4] * cols [CRS=4, PQ=4]
  gemm(Device::CPU, false, false, 1, 4, 4, 1.0f, w.data(), cols.data(), 0.0f, y_gemm.data());
  check_all_near("y from im2col + gemm", y_gemm, {37, 47, 67, 77}, 0.0);

  // Backward with dy = 1 everywhere: sum(y) has exactly that gradient.
  sum(y).backward();
  check_all_near("dw", w.grad().to_vector(), {12, 16, 24, 28}, 0.0);
  check_all_near("dx", x.grad().to_vector(), {1, 3, 2, 4, 10, 6, 3, 7, 4}, 0.0);
  exercise::print_values("dw", w.grad().to_vector());
  exercise::print_values("dx", x.grad().to_vector());

  // The output-size formula on ResNet18's stem (one input channel keeps this fast).
  Tensor img = Tensor::zeros({1, 1, 224, 224});
  Tensor stem = Tensor::zeros({1, 1, 7, 7});
  Conv2dParams p;
  p.stride_h = p.stride_w = 2;
  p.pad_h = p.pad_w = 3;
  Tensor out = conv2d(img, stem, Tensor(), p);
  std::printf("  7x7/2 pad 3 on 224x224 -> %s\n", shape_str(out.shape()).c_str());
  CHECK(out.shape() == Shape{1, 1, 112, 112});
}
