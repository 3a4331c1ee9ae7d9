// tools/cmd_eval.cpp — `graft eval`: top-1 / top-k accuracy, accuracy per class, the confusion
// matrix and the mean cross-entropy per image of a model on a folder, CSV or features file
// (tools/lib/metrics.h has the definitions). Printed as a table; --json FILE writes the same.
// The model comes from a checkpoint of `graft train` (which records the model, head, class
// names and transform) or from --model/--weights/--head.
#include <cstdio>

#include "args.h"
#include "cmd_util.h"
#include "train/fit.h"
#include "commands.h"
#include "train/metrics.h"
#include "model_setup.h"
#include "report.h"
#include "tensor/check.h"

namespace graft {

int cmd_eval(const std::vector<std::string>& words) {
  tools::ArgParser p("graft eval", "Evaluate a classifier: top-1/top-k accuracy, accuracy per class, confusion matrix,\n"
                                   "mean cross-entropy per image.");
  p.add_positional("data", "ImageFolder, CSV file (with --images), IDX folder, or features .h5 (for a head checkpoint)");
  p.add_string("checkpoint", "", "best.h5 written by graft train (knows its model, head, classes and transform)")
      .add_string("images", "", "folder the CSV's file names are relative to (default: the CSV's folder)")
      .add_string("transform", "", "evaluation transform (default: the checkpoint's / the weights' preprocess)")
      .add_int("top-k", 5, "k of the top-k accuracy")
      .add_string("json", "", "also write the results to this JSON file")
      .add_int("batch-size", 32, "images per batch")
      .add_int("workers", 2, "data loading threads")
      .add_flag("skip-bad", "leave unreadable images out (listed) instead of stopping at the first");
  tools::add_model_options(p, "", false);
  p.add_example("graft eval --checkpoint run/best.h5 photos/test", "evaluate a trained model on a test folder")
      .add_example("graft eval --checkpoint run/best.h5 labels.csv --images imgs --json test.json", "a CSV, with JSON");
  tools::Args a = p.parse(words);
  if (tools::print_help_if_asked(p, a)) return 0;
  auto ds = open_data(a.positional("data")[0], a.get("images"));
  tools::ModelSetup s;
  std::vector<std::string> class_names;
  if (a.given("checkpoint")) {
    s = tools::load_model_checkpoint(a.get("checkpoint"), a.get("device"), nullptr, a.get("model"));
    class_names = s.weights_class_names;
  } else {
    tools::ModelOptions o = tools::model_options(a);
    if (o.model.empty())
      throw tools::ArgError("graft eval: give --checkpoint FILE (from graft train), --model with --weights, or "
                            "--weights FILE converted from a whole PyTorch model (it names its model)");
    s = tools::build_model(o, ds->num_classes());
    class_names = ds->class_names();
  }
  const bool features = is_features_path(a.positional("data")[0]);
  const bool head = s.model_name == "head";
  GRAFT_CHECK_DATA(!features || head, "", "'", a.positional("data")[0], "' holds features, but the model is a whole '",
                   s.model_name, "' network; evaluate it on images");
  GRAFT_CHECK_DATA(features || !head, "",
                   "the checkpoint is a head trained on features; evaluate it on a features file from `graft features`");
  GRAFT_CHECK_DATA(ds->num_classes() == static_cast<int64_t>(class_names.size()), "", "the data has ",
                   ds->num_classes(), " classes but the model was trained on ", class_names.size(),
                   "; evaluate on data with the same classes");
  if (ds->class_names() != class_names)
    std::fprintf(stderr, "graft eval: warning: the data's class names differ from the model's; labels are matched by index\n");
  Pipeline pipe = features ? Pipeline() : Pipeline::parse(a.given("transform") ? a.get("transform") : s.eval_transform);
  DataLoader loader(ds, pipe, loader_options(a));
  EvalAccumulator acc(a.get_int("top-k"));
  predict_batches(*s.model, loader, s.device, [&](const Batch& b, const Tensor& out) {
    GRAFT_CHECK_DATA(out.dim() == 2 && (out.size(1) == static_cast<int64_t>(class_names.size()) || out.size(1) == 1),
                     "", "the model outputs ", out.shape(), " per batch but there are ", class_names.size(),
                     " classes");
    acc.add(out, b.labels);
  });
  if (!loader.skipped().empty()) std::fputs(loader.skipped_report().c_str(), stderr);
  EvalResult r = acc.result();
  std::fputs(format_eval_table(r, class_names).c_str(), stdout);
  if (a.given("json")) {
    tools::write_file_atomic(a.get("json"), eval_json(r, class_names) + "\n");
    std::printf("wrote %s\n", a.get("json").c_str());
  }
  return 0;
}

}  // namespace graft
