// tools/cmd_eval.cpp — `graft eval`: top-1 / top-k accuracy, precision / recall / F1 per class,
// the confusion matrix, the mean cross-entropy per image, for two classes the ROC curve and AUC,
// and the top losses (the images most wrong) of a model on a folder, CSV or features file
// (src/train/metrics.h has the definitions). Printed as a table; --json FILE writes the same,
// --html FILE a report with the top-loss images, --csv FILE every image's probabilities.
// The model comes from a checkpoint of `graft train` (which records the model, head, class
// names and transform) or from --model/--weights/--head. With --distributed (under mpirun)
// every process runs the model over a share of the images and rank 0 reports on all of them.
#include <cstdio>
#include <filesystem>

#include "args.h"
#include "format.h"
#include "gradcam.h"
#include "cmd_util.h"
#include "dist/distributed.h"
#include "train/fit.h"
#include "commands.h"
#include "train/metrics.h"
#include "model_setup.h"
#include "report.h"
#include "tta.h"
#include "tensor/check.h"

namespace graft {

namespace {
int eval(const tools::Args& a, const std::vector<std::string>& words);
}  // namespace

int cmd_eval(const std::vector<std::string>& words) {
  tools::ArgParser p("graft eval", "Evaluate a classifier: top-1/top-k accuracy, accuracy per class, confusion matrix,\n"
                                   "mean cross-entropy per image.");
  p.add_positional("data", "ImageFolder, CSV file (with --images), IDX folder, or features .h5 (for a head checkpoint)");
  p.add_string("checkpoint", "", "best.h5 written by graft train (knows its model, head, classes and transform)")
      .add_string("images", "", "folder the CSV's file names are relative to (default: the CSV's folder)")
      .add_string("transform", "", "evaluation transform (default: the checkpoint's / the weights' preprocess)")
      .add_int("top-k", 5, "k of the top-k accuracy")
      .add_string("json", "", "also write the results to this JSON file")
      .add_string("html", "", "also write an HTML report (metrics, confusion matrix, ROC curve, top-loss images)")
      .add_string("csv", "", "also write every image's prediction: file,true,predicted,<probability of each class>")
      .add_int("top-losses", 10, "how many of the images with the highest loss to list (0: none)")
      .add_string("tta", "none", "test-time augmentation: average the probabilities over views (flip: the image "
                                 "and its mirror; five-crop: 4 corners + center of the center_crop size)",
                  false, {"none", "flip", "five-crop"})
      .add_int("batch-size", 32, "images per batch")
      .add_int("workers", 2, "data loading threads")
      .add_flag("skip-bad", "leave unreadable images out (listed) instead of stopping at the first");
  tools::add_model_options(p, "", false);
  add_distributed_options(p);
  p.add_example("graft eval --checkpoint run/best.h5 photos/test", "evaluate a trained model on a test folder")
      .add_example("graft eval --checkpoint run/best.h5 labels.csv --images imgs --json test.json", "a CSV, with JSON")
      .add_example("graft eval --checkpoint run/best.h5 photos/test --html eval.html --csv predictions.csv",
                   "a report with the top losses, and every prediction")
      .add_example("mpirun -np 4 graft eval --checkpoint run/best.h5 photos/test --distributed",
                   "4 processes, a quarter of the images each");
  tools::Args a = p.parse(words);
  if (tools::print_help_if_asked(p, a)) return 0;
  return run_distributed("graft eval", a, [&] { return eval(a, words); });
}

namespace {

int eval(const tools::Args& a, const std::vector<std::string>& words) {
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
  const std::string tta = a.get("tta");
  GRAFT_CHECK_DATA(tta == "none" || !features, "", "--tta ", tta, " needs images; '", a.positional("data")[0],
                   "' holds features");
  const std::vector<Pipeline> views = tools::tta_pipelines(pipe, tta);
  // --distributed: this rank's share of the images (none twice), all outputs gathered.
  const dist::World& world = dist::world();
  const LoaderOptions lo = dist::evaluation_shard(loader_options(a));
  auto outputs = [&](DataLoader& l, std::vector<int64_t>* indices) {
    return dist::collect_outputs_over_ranks(*s.model, l, s.device, indices);
  };
  DataLoader loader(ds, views[0], lo);
  EvalAccumulator acc(a.get_int("top-k"), a.get_int("top-losses"));
  std::vector<int64_t> order;  // dataset index of the i-th image evaluated
  std::string csv;
  if (a.given("csv")) {
    csv = "file,true,predicted";
    for (const auto& c : class_names) csv += ",p_" + tools::csv_field(c);
    csv += "\n";
  }
  // One batch of outputs (logits, or with TTA log mean probabilities) of the images `indices`.
  auto consume = [&](const Tensor& out, const Tensor& labels, const std::vector<int64_t>& indices) {
    GRAFT_CHECK_DATA(out.dim() == 2 && (out.size(1) == static_cast<int64_t>(class_names.size()) || out.size(1) == 1),
                     "", "the model outputs ", out.shape(), " per batch but there are ", class_names.size(),
                     " classes");
    std::vector<std::string> sources;
    for (int64_t i : indices) sources.push_back(ds->source(i));
    acc.add(out, labels, sources);
    order.insert(order.end(), indices.begin(), indices.end());
    if (a.given("csv")) {
      const std::vector<float> x = out.to_vector();
      const std::vector<int64_t> y = labels.to_labels(), pred = predictions(out);
      const int64_t L = out.size(1), C = static_cast<int64_t>(class_names.size());
      for (size_t i = 0; i < sources.size(); ++i) {
        csv += tools::csv_field(sources[i]) + "," + tools::csv_field(class_names[y[i]]) + "," +
               tools::csv_field(class_names[pred[i]]);
        std::vector<double> p(C, 0.0);
        for (auto [c, prob] : topk_probabilities(&x[i * L], L, C)) p[c] = prob;
        for (double v : p) csv.append(",").append(tools::fmt("%.9g", v));
        csv += "\n";
      }
    }
  };
  EvalResult without_tta;
  auto consume_rows = [&](const Tensor& out, const std::vector<int64_t>& indices) {  // [N, L], in batches
    const int64_t B = a.get_int("batch-size"), N = out.size(0);
    for (int64_t i = 0; i < N; i += B) {
      const int64_t e = std::min(N, i + B);
      std::vector<int64_t> y;
      for (int64_t k = i; k < e; ++k) y.push_back(ds->label(indices[k]));
      consume(out.slice(i, e), Tensor::from_labels(y), {indices.begin() + i, indices.begin() + e});
    }
  };
  if (views.size() == 1 && world.size > 1) {
    std::vector<int64_t> indices;
    const Tensor out = outputs(loader, &indices);
    if (world.rank != 0) return 0;  // rank 0 reports
    consume_rows(out, indices);
  } else if (views.size() == 1) {
    predict_batches(*s.model, loader, s.device, [&](const Batch& b, const Tensor& out) { consume(out, b.labels, b.indices); });
  } else {
    // Every view over the whole data (the same images in the same order), then their mean.
    std::vector<Tensor> outs;
    std::vector<int64_t> indices;
    for (size_t v = 0; v < views.size(); ++v) {
      DataLoader view_loader(ds, views[v], lo);
      std::vector<int64_t> iv;
      outs.push_back(outputs(v == 0 ? loader : view_loader, &iv));
      GRAFT_CHECK(v == 0 || iv == indices, "--tta", "the views saw different images");
      indices = iv;
    }
    std::vector<int64_t> y;
    for (int64_t i : indices) y.push_back(ds->label(i));
    EvalAccumulator plain(a.get_int("top-k"));
    if (world.rank != 0) return 0;  // rank 0 reports
    plain.add(outs[0], Tensor::from_labels(y));
    without_tta = plain.result();
    consume_rows(tools::tta_combine(outs), indices);
  }
  if (!loader.skipped().empty()) std::fputs(loader.skipped_report().c_str(), stderr);
  EvalResult r = acc.result();
  std::fputs(format_eval_table(r, class_names).c_str(), stdout);
  std::string json = eval_json(r, class_names);
  if (views.size() > 1) {
    std::printf("\ntest-time augmentation (%s, %zu views): top-1 %.2f%% with, %.2f%% without (%+.2f points); "
                "mean cross-entropy %.4f with, %.4f without\n", tta.c_str(), views.size(), 100 * r.top1,
                100 * without_tta.top1, 100 * (r.top1 - without_tta.top1), r.mean_cross_entropy,
                without_tta.mean_cross_entropy);
    JsonWriter j;
    j.begin_object().key("mode").value(tta).key("views").value(static_cast<int64_t>(views.size()));
    j.key("top1_without").value(without_tta.top1).key("mean_cross_entropy_without").value(without_tta.mean_cross_entropy);
    j.end_object();
    json.pop_back();  // the closing brace: "tta" is one more key of the same object
    json += ",\"tta\":" + j.str() + "}";
  }
  if (a.given("json")) {
    tools::write_file_atomic(a.get("json"), json + "\n");
    std::printf("wrote %s\n", a.get("json").c_str());
  }
  if (a.given("csv")) {
    tools::write_file_atomic(a.get("csv"), csv);
    std::printf("wrote %s\n", a.get("csv").c_str());
  }
  if (a.given("html")) {
    tools::ReportData d;
    d.title = "graft eval: " + a.positional("data")[0];
    d.command_line = tools::shell_join(words);
    d.class_names = class_names;
    d.has_confusion = true;
    d.confusion = r.confusion;
    d.sections.emplace_back("Metrics", tools::class_metrics_html(r, class_names));
    if (r.binary && !std::isnan(r.roc.auc))
      d.sections.emplace_back("ROC curve", tools::roc_curve_svg(r.roc, class_names.at(1)));
    if (!features && !r.top_losses.empty()) {  // the images themselves, through the eval transform
      std::vector<int64_t> idx;
      for (const auto& t : r.top_losses) idx.push_back(order[t.index]);
      Batch b = loader.make_batch(idx, 0, 0);
      const int64_t per = b.inputs.numel() / std::max<int64_t>(b.inputs.size(0), 1);
      std::vector<tools::GridImage> grid;
      for (size_t i = 0; i < r.top_losses.size() && static_cast<int64_t>(i) < b.inputs.size(0); ++i) {
        const auto& t = r.top_losses[i];
        tools::GridImage g;
        g.image = Tensor::empty(Shape(b.inputs.shape().begin() + 1, b.inputs.shape().end()));
        std::copy_n(b.inputs.data() + i * per, per, g.image.data());
        g.predicted = class_names[t.predicted];
        g.truth = class_names[t.truth];
        g.caption = tools::fmt("p %.1f%%", 100 * t.probability) + tools::fmt(", loss %.3f, ", t.loss) +
                    std::filesystem::path(t.source).filename().string();
        grid.push_back(g);
      }
      d.sections.emplace_back("Top losses (the images most wrong)", tools::image_grid_html(grid, pipe.mean, pipe.std));
      // The same images with Grad-CAM of the class predicted: what the model saw in them.
      std::vector<int64_t> predicted;
      for (size_t i = 0; i < grid.size(); ++i) predicted.push_back(r.top_losses[i].predicted);
      auto cams = tools::grad_cam_section(*s.model, s.model_name, grid, predicted, s.device, pipe.mean, pipe.std,
                                          "the top losses");
      if (!cams.first.empty()) d.sections.push_back(cams);
    }
    tools::write_html_report(a.get("html"), d);
    std::printf("wrote %s\n", a.get("html").c_str());
  }
  return 0;
}

}  // namespace
}  // namespace graft
