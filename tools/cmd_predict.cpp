// tools/cmd_predict.cpp — `graft predict`: the top-k classes of one or many images, with their
// probabilities (softmax of the outputs; for a one-output BCE model, sigmoid: metrics.h
// topk_probabilities). With no --checkpoint and no --weights the pretrained weights of --model
// (default densenet121, weights/densenet121.h5) are used with their ImageNet class names
// (the file's class_names attribute, or weights/imagenet_classes.txt when the file only
// numbers them), so `graft predict cat.jpg` works out of the box.
// A folder stands for every image below it (sorted); --csv FILE writes one row per image
// (file, then the top-k classes and probabilities), --tta averages over flipped or cropped views
// (tools/lib/tta.h).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "args.h"
#include "autograd/engine.h"
#include "commands.h"
#include "data/pipeline.h"
#include "train/metrics.h"
#include "model_setup.h"
#include "data/datasets.h"
#include "format.h"
#include "report.h"
#include "tensor/check.h"
#include "tta.h"

namespace graft {
namespace {

// "0".."n-1" (a file that only numbers its classes).
bool numbered(const std::vector<std::string>& names) {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] != std::to_string(i)) return false;
  return true;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    if (!l.empty()) lines.push_back(l);
  }
  return lines;
}

// The image files named: files as they are, folders as every image below them (sorted, as
// ImageFolder lists them). Throws naming a path that does not exist or a folder without images.
std::vector<std::string> expand_images(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    GRAFT_CHECK_DATA(fs::exists(p), "", "'", p, "' does not exist; give image files or folders of images");
    if (!fs::is_directory(p)) {
      files.push_back(p);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& e : fs::recursive_directory_iterator(p))
      if (e.is_regular_file() && has_image_extension(e.path().filename().string())) found.push_back(e.path().string());
    GRAFT_CHECK_DATA(!found.empty(), "", "folder '", p, "' has no images (.jpg, .png, ... files) below it");
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

}  // namespace

int cmd_predict(const std::vector<std::string>& words) {
  tools::ArgParser p("graft predict", "The top-k classes of images, with their probabilities.");
  p.add_positional("images", "image files, or folders (every image below them)", true, true);
  p.add_string("checkpoint", "", "best.h5 written by graft train (knows its model, head, classes and transform)")
      .add_string("transform", "", "transform (default: the checkpoint's / the weights' preprocess)")
      .add_string("classes", "", "text file of class names, one per line (default: from the weights file, or "
                                 "weights/imagenet_classes.txt for 1000 ImageNet classes)")
      .add_int("top-k", 5, "how many classes to show per image")
      .add_string("json", "", "also write the predictions to this JSON file")
      .add_string("csv", "", "also write the predictions to this CSV file: file,class_1,probability_1,...")
      .add_string("tta", "none", "test-time augmentation: average the probabilities over views (flip: the image "
                                 "and its mirror; five-crop: 4 corners + center of the center_crop size)",
                  false, {"none", "flip", "five-crop"});
  tools::add_model_options(p, "densenet121", false);
  p.add_example("graft predict cat.jpg", "DenseNet121 with the ImageNet weights in weights/: top-5 ImageNet classes")
      .add_example("graft predict --checkpoint run/best.h5 a.jpg b.jpg --top-k 3", "a trained model, several images")
      .add_example("graft predict --checkpoint run/best.h5 photos/ --csv predictions.csv --tta flip",
                   "every image of a folder to a CSV, averaged with the mirrored image");
  tools::Args a = p.parse(words);
  if (tools::print_help_if_asked(p, a)) return 0;
  tools::ModelSetup s;
  std::vector<std::string> names;
  if (a.given("checkpoint")) {
    s = tools::load_model_checkpoint(a.get("checkpoint"), a.get("device"), nullptr, a.given("model") ? a.get("model") : "");
    GRAFT_CHECK_DATA(s.model_name != "head", "", "the checkpoint is a head trained on features; it cannot read images");
  } else {
    tools::ModelOptions o = tools::model_options(a);
    if (o.weights.empty() && o.model.rfind("spec:", 0) != 0) o.pretrained = true;
    s = tools::build_model(o, -1);
  }
  names = s.weights_class_names;
  if (a.given("classes")) {
    names = read_lines(a.get("classes"));
  } else if (names.empty() || numbered(names)) {
    const char* env = std::getenv("GRAFT_WEIGHTS");
    const std::string file = std::string(env && *env ? env : "weights") + "/imagenet_classes.txt";
    if (std::filesystem::exists(file)) {
      auto imagenet = read_lines(file);
      if (imagenet.size() == names.size() || (names.empty() && s.head_spec.empty())) names = imagenet;
    }
  }
  Pipeline pipe = Pipeline::parse(a.given("transform") ? a.get("transform") : s.eval_transform);
  const std::vector<Pipeline> views = tools::tta_pipelines(pipe, a.get("tta"));
  const int64_t k = a.get_int("top-k");
  JsonWriter j;
  j.begin_array();
  std::string csv = "file";
  for (int64_t i = 1; i <= k; ++i) csv += ",class_" + std::to_string(i) + ",probability_" + std::to_string(i);
  csv += "\n";
  NoGradGuard no_grad;
  s.model->eval();
  Generator gen(0);  // eval transforms draw nothing
  for (const std::string& file : expand_images(a.positional("images"))) {
    const Image image = load_image(file);
    std::vector<Tensor> outs;  // one [1,L] per view
    for (const Pipeline& view : views) {
      Tensor x = view(image, gen);
      Shape shape = x.shape();
      shape.insert(shape.begin(), 1);
      outs.push_back((*s.model)(x.view(shape).to(s.device)).to(Device::CPU));
    }
    const Tensor out = outs.size() == 1 ? outs[0] : tools::tta_combine(outs);  // log mean probabilities
    const int64_t L = out.size(1);
    GRAFT_CHECK_DATA(names.empty() || L == 1 || static_cast<int64_t>(names.size()) == L, "", "the model has ", L,
                     " outputs but ", names.size(),
                     " class names were found; pass --classes FILE with one name per line");
    std::printf("%s\n", file.c_str());
    j.begin_object().key("file").value(file).key("top").begin_array();
    csv += tools::csv_field(file);
    for (auto [cls, prob] : topk_probabilities(out.data(), L, k)) {
      const std::string name = cls < static_cast<int64_t>(names.size()) ? names[cls] : std::to_string(cls);
      std::printf("  %6.2f%%  %s\n", 100 * prob, name.c_str());
      j.begin_object().key("class").value(name).key("index").value(cls).key("probability").value(prob).end_object();
      csv.append(",").append(tools::csv_field(name)).append(",").append(tools::fmt("%.9g", prob));
    }
    csv += "\n";
    j.end_array().end_object();
  }
  j.end_array();
  if (a.given("json")) tools::write_file_atomic(a.get("json"), j.str() + "\n");
  if (a.given("csv")) {
    tools::write_file_atomic(a.get("csv"), csv);
    std::printf("wrote %s\n", a.get("csv").c_str());
  }
  return 0;
}

}  // namespace graft
