// tools/cmd_explain.cpp — `graft explain`: Grad-CAM heatmaps (tools/lib/gradcam.h) of why a model
// predicts what it does, one PNG per image: the model's input (the image through the eval
// transform) with the heatmap of the explained class laid over it.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "args.h"
#include "commands.h"
#include "data/pipeline.h"
#include "gradcam.h"
#include "model_setup.h"
#include "report.h"
#include "tensor/check.h"

namespace graft {

int cmd_explain(const std::vector<std::string>& words) {
  tools::ArgParser p("graft explain", "Grad-CAM: heatmaps of the image regions behind a model's prediction (PNG).");
  p.add_positional("images", "image files", true, true);
  p.add_string("checkpoint", "", "best.h5 written by graft train (knows its model, head, classes and transform)")
      .add_string("layer", "", "module whose feature maps are explained (default: features.29 for vgg16, layer4 for "
                               "resnet18, features.norm5 for densenet121, a spec model's last [C,H,W] layer)")
      .add_string("class", "", "class to explain, by name or index (default: the predicted one)")
      .add_string("transform", "", "transform (default: the checkpoint's / the weights' preprocess)")
      .add_string("out", ".", "folder for the <image>.gradcam.png files");
  tools::add_model_options(p, "", false);
  p.add_example("graft explain --checkpoint run/best.h5 cat.jpg dog.jpg --out cams", "why the model says what it says")
      .add_example("graft explain --checkpoint run/best.h5 cat.jpg --class dog --layer layer3", "another class and layer");
  tools::Args a = p.parse(words);
  if (tools::print_help_if_asked(p, a)) return 0;
  tools::ModelSetup s = tools::model_from_options(a, "graft explain");
  GRAFT_CHECK_DATA(s.model_name != "head", "", "the checkpoint is a head trained on features; it has no feature maps");
  const std::vector<std::string>& names = s.weights_class_names;
  int64_t cls = -1;
  if (a.given("class")) {
    const std::string c = a.get("class");
    auto it = std::find(names.begin(), names.end(), c);
    if (it != names.end()) {
      cls = it - names.begin();
    } else {
      try {
        cls = std::stoll(c);
      } catch (const std::exception&) {
        GRAFT_FAIL("--class", "'", c, "' is neither a class name of the model nor an index");
      }
    }
  }
  const std::string layer = a.given("layer") ? a.get("layer") : tools::default_cam_layer(s.model_name, *s.model);
  Pipeline pipe = Pipeline::parse(a.given("transform") ? a.get("transform") : s.eval_transform);
  std::filesystem::create_directories(a.get("out"));
  Generator gen(0);  // eval transforms draw nothing
  for (const std::string& file : a.positional("images")) {
    Tensor x = pipe(load_image(file), gen);
    Shape shape = x.shape();
    shape.insert(shape.begin(), 1);
    tools::GradCam g = tools::grad_cam(*s.model, x.view(shape).to(s.device), layer, cls);
    const int C = static_cast<int>(x.size(0)), H = static_cast<int>(x.size(1)), W = static_cast<int>(x.size(2));
    std::vector<float> mean(pipe.mean), std(pipe.std);
    auto png = tools::encode_png(tools::overlay_heatmap(tools::image_to_bytes(x, mean, std), C, g.heatmap, H, W).data(),
                                 W, H, 3);
    const std::string out =
        (std::filesystem::path(a.get("out")) / (std::filesystem::path(file).stem().string() + ".gradcam.png")).string();
    tools::write_file_atomic(out, std::string(png.begin(), png.end()));
    const std::string name = g.target_class < static_cast<int64_t>(names.size()) ? names[g.target_class]
                                                                                 : std::to_string(g.target_class);
    std::printf("%s: class '%s' (output %.4g), layer %s (%lldx%lld maps) -> %s\n", file.c_str(), name.c_str(), g.score,
                layer.c_str(), static_cast<long long>(g.h), static_cast<long long>(g.w), out.c_str());
  }
  return 0;
}

}  // namespace graft
