// tools/cmd_export.cpp — `graft export --onnx FILE`: a model as an ONNX file (opset 13) for other
// runtimes (onnxruntime, OpenCV's dnn, TensorRT). tools/lib/onnx_export.h says what exports.
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "model_setup.h"
#include "onnx_export.h"
#include "report.h"
#include "tensor/check.h"

namespace graft {

int cmd_export(const std::vector<std::string>& words) {
  tools::ArgParser p("graft export", "Write a model as an ONNX file (opset 13): spec models, heads, VGG16, ResNet18 and DenseNet121.");
  p.add_string("onnx", "", "the .onnx file to write", true)
      .add_string("checkpoint", "", "best.h5 written by graft train (knows its model, head and input size)");
  tools::add_model_options(p, "", false);
  p.add_example("graft export --onnx model.onnx --checkpoint run/best.h5", "a trained model, for another runtime");
  tools::Args a = p.parse(words);
  if (tools::print_help_if_asked(p, a)) return 0;
  tools::ModelSetup s = tools::model_from_options(a, "graft export");
  const std::string bytes = tools::onnx_model_bytes(*s.model, s.input_shape, s.model_name);
  tools::write_file_atomic(a.get("onnx"), bytes);
  std::printf("wrote %s: %s, input [batch, %s], %zu bytes\n", a.get("onnx").c_str(), s.model_name.c_str(),
              tools::shape_text(s.input_shape).c_str(), bytes.size());
  return 0;
}

}  // namespace graft
