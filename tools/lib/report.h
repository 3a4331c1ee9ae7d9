// tools/lib/report.h — what a training run leaves behind: a metrics CSV and an HTML report.
//
// metrics.csv: one row per epoch, "epoch,train_loss,train_acc,valid_loss,valid_acc,lr,seconds"
// (accuracies as fractions in [0,1]; a missing validation set leaves the fields empty).
// report.html: one self-contained file (no scripts, no network): inline SVG line charts of the
// loss and accuracy per epoch for train and valid, the confusion matrix as a table whose cells
// are shaded by row fraction, a grid of images (PNG embedded as base64 data URIs, written by
// stb_image_write) with predicted and true labels (green when right, red when wrong), a method
// comparison table, and the command line and settings of the run.
//
// Every file is written atomically: to "<path>.tmp", then rename(), so a killed run never
// leaves a truncated report or CSV.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "train/fit.h"
#include "train/metrics.h"
#include "tensor/tensor.h"

namespace graft::tools {

// Writes `content` to path + ".tmp", fsyncs it and renames it over `path`, so `path` holds the old
// or the new content, never part of it. A failed write removes the .tmp and throws naming the
// path and saying that the previous file is unchanged (a full disk).
void write_file_atomic(const std::string& path, const std::string& content);

// EpochMetrics: one epoch's numbers (train/fit.h).
// The whole CSV text for these epochs (header + one row each).
std::string metrics_csv(const std::vector<EpochMetrics>& history);
// Rewrites the file atomically each epoch (the history is small).
void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& history);
// Reads a file written by write_metrics_csv (for --resume). Throws naming the file and line.
std::vector<EpochMetrics> read_metrics_csv(const std::string& path);

// ---- pieces of HTML --------------------------------------------------------------------------
std::string html_escape(const std::string& s);
std::string base64_encode(const std::vector<uint8_t>& bytes);
// 8-bit pixels, rows top to bottom, `channels` 1 (grey), 3 (RGB) or 4 -> PNG file bytes.
std::vector<uint8_t> encode_png(const uint8_t* pixels, int width, int height, int channels);
// image: [C,H,W] float32 (C = 1 or 3). If mean/std are given (one per channel), undoes the
// normalization x = (v - mean) / std first; then clamps to [0,1] and scales to 0..255.
// Returns interleaved HWC bytes.
std::vector<uint8_t> image_to_bytes(const Tensor& image, const std::vector<float>& mean = {},
                                    const std::vector<float>& std = {});

struct Series {
  std::string name;   // legend text, e.g. "train"
  std::string color;  // CSS color, e.g. "#1f77b4"
  std::vector<std::pair<double, double>> points;  // (x, y); NaN y values are skipped
};
// An <svg> line chart with axes, ticks, a legend and one <polyline> per series (each point also
// drawn as a <circle> with a <title> tooltip).
std::string svg_line_chart(const std::string& title, const std::string& x_label, const std::string& y_label,
                           const std::vector<Series>& series, int width = 480, int height = 300);
// A <table> with counts; cell background = blue of intensity count / row total.
std::string confusion_matrix_html(const ConfusionMatrix& cm, const std::vector<std::string>& class_names);

struct GridImage {
  Tensor image;  // [C,H,W] float32, normalized or not (see ReportData::mean/std)
  std::string predicted, truth;
  std::string caption;  // optional extra text (e.g. a probability or the file name)
};
std::string image_grid_html(const std::vector<GridImage>& images, const std::vector<float>& mean = {},
                            const std::vector<float>& std = {}, int display_px = 112);

struct MethodResult {
  std::string method;       // "frozen backbone + new head"
  double test_accuracy = 0;  // fraction
  double seconds = 0;
  std::string notes;        // e.g. "100 labelled images per class"
};
std::string comparison_table_text(const std::vector<MethodResult>& results);
std::string comparison_table_html(const std::vector<MethodResult>& results);

// ---- an evaluation's numbers (graft eval --html) ----------------------------------------------
// The headline numbers and the precision / recall / F1 table with its averages.
std::string class_metrics_html(const EvalResult& r, const std::vector<std::string>& class_names);
// The ROC curve (false positive rate -> true positive rate) with the chance diagonal, AUC in the title.
std::string roc_curve_svg(const RocCurve& roc, const std::string& positive_name);

// ---- the whole report ------------------------------------------------------------------------
struct ReportData {
  std::string title = "graft training report";
  std::string command_line;                                   // as typed
  std::vector<std::pair<std::string, std::string>> settings;  // name, value
  std::vector<EpochMetrics> history;
  bool has_confusion = false;
  ConfusionMatrix confusion;
  std::vector<std::string> class_names;
  std::vector<GridImage> grid;
  std::vector<float> mean, std;  // undo this normalization for the grid (may be empty)
  std::vector<MethodResult> comparison;
  std::vector<std::pair<std::string, std::string>> sections;  // extra (heading, raw HTML)
};
std::string render_html_report(const ReportData& data);
void write_html_report(const std::string& path, const ReportData& data);

}  // namespace graft::tools
