// tools/cmd_summary.cpp — `graft summary`: the module table of a model as it would be trained.
//
// Builds the model exactly as `graft train` would (tools/lib/model_setup.h: architecture or
// text spec, optional weights, new head, freezing), runs one forward pass on a zero input of the chosen size to record
// every leaf module's output shape, and prints name, type, output shape, parameters and
// trainable parameters, then the totals (src/models/summary.h). No weights are needed: counts
// and shapes do not depend on them.
//
//   graft summary --model vgg16 --num-classes 100 --freeze backbone
//       --head "linear(256) relu dropout(0.4) linear(n) logsoftmax"
//   ... total 135,335,076 parameters, 1,074,532 trainable, 134,260,544 frozen
#include <cstdio>
#include <stdexcept>
#include <string>

#include "args.h"
#include "commands.h"
#include "model_setup.h"
#include "models/summary.h"

namespace graft {

int cmd_summary(const std::vector<std::string>& words) {
  tools::ArgParser parser("graft summary",
                          "Print the module table of a model: every leaf module's output shape, parameters and\n"
                          "trainable parameters, then the totals. The model is built as `graft train` builds it\n"
                          "(architecture or spec, weights, new head, freezing); no weights file is needed.");
  tools::add_model_options(parser, "", true);
  parser.add_int("num-classes", 1000, "what `n` stands for in --head and in a spec (the number of classes)")
      .add_example("graft summary --model resnet18", "torchvision's ResNet18, 11,689,512 parameters")
      .add_example("graft summary --model vgg16 --head \"linear(256) relu dropout(0.4) linear(n) logsoftmax\" "
                   "--num-classes 100 --freeze backbone",
                   "VGG16 with a new head, backbone frozen: 1,074,532 trainable of 135,335,076")
      .add_example("graft summary --model densenet121 --freeze all-but-last:1 --input-size 3x64x64",
                   "only the classifier trains; output shapes for 64x64 inputs")
      .add_example("graft summary --model \"spec:conv(8,5) relu maxpool(2) flatten linear(n)\" "
                   "--input-size 1x28x28 --num-classes 10",
                   "a small CNN for 28x28 grey images");
  tools::Args args = parser.parse(words);
  if (tools::print_help_if_asked(parser, args)) return 0;
  const tools::ModelOptions o = tools::model_options(args);
  if (o.model.empty())
    throw tools::ArgError("graft summary: --model is required (vgg16, resnet18, densenet121 or spec:<layers>)");
  const int64_t n = args.get_int("num-classes");
  if (n < 1) throw tools::ArgError("graft summary: --num-classes must be at least 1, got " + std::to_string(n));

  tools::ModelSetup s = tools::build_model(o, n);
  const Shape& in = s.input_shape;
  std::printf("%s%s, input [1, %s]%s\n", o.model.c_str(),
              s.head_spec.empty() ? "" : (", head '" + s.head_spec + "' at " + s.replaced).c_str(),
              [&] {
                std::string t;
                for (size_t i = 0; i < in.size(); ++i) t += (i ? ", " : "") + std::to_string(in[i]);
                return t;
              }()
                  .c_str(),
              s.weights_path.empty() ? "" : (", weights " + s.weights_path).c_str());
  for (const std::string& note : s.frozen_note)
    if (!note.empty()) std::printf("%s\n", note.c_str());
  Shape batch{1};
  batch.insert(batch.end(), in.begin(), in.end());
  ModelSummary summary = summarize(*s.model, batch);
  std::fputs(summary.str().c_str(), stdout);
  return 0;
}

}  // namespace graft
