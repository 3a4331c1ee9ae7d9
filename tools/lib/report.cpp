// tools/lib/report.cpp — see report.h.
#include "report.h"

#include <stb/stb_image_write.h>  // implementation in libstb (linked through graft_dep)

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "format.h"
#include "tensor/check.h"

namespace graft::tools {

namespace {

// A number for the CSV: empty for NaN, else round-trippable.
std::string csv_num(double v) { return std::isnan(v) ? "" : fmt("%.9g", v); }

// A step of 1, 2 or 5 times a power of ten that cuts `range` into about `n` pieces.
double nice_step(double range, int n) {
  double raw = range / n, p = std::pow(10.0, std::floor(std::log10(raw))), f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

const char* kStyle = R"(<style>
body{font-family:sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
pre{background:#f6f6f6;padding:0.6em;white-space:pre-wrap}
.charts{display:flex;flex-wrap:wrap;gap:1em}
.grid{display:flex;flex-wrap:wrap;gap:8px}.grid figure{margin:0;text-align:center;font-size:0.8em}
.grid img{image-rendering:pixelated;border:1px solid #ccc}.ok{color:#1a7f1a}.bad{color:#c62828}
</style>
)";

}  // namespace

void write_file_atomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  bool ok = false;
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    GRAFT_CHECK_DATA(f, "", "cannot write ", tmp, ": ", std::strerror(errno), " (does the folder exist?)");
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
    f.close();  // flushes: a full disk shows here
    ok = static_cast<bool>(f);
  }
  if (ok) {  // on disk before the rename: after a crash the name holds the old or the new file
    const int fd = ::open(tmp.c_str(), O_RDONLY);
    ok = fd >= 0 && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
  }
  if (!ok) {  // (a file size limit, a full disk): the old file stays, the half-written one goes
    std::remove(tmp.c_str());
    GRAFT_FAIL_DATA("", "could not save ", path, " (error while writing ", tmp, ": disk full?); ",
                    std::filesystem::exists(path) ? "the previous " + path + " is unchanged" : std::string("no file was written"));
  }
  GRAFT_CHECK_DATA(std::rename(tmp.c_str(), path.c_str()) == 0, "", "cannot rename ", tmp, " to ", path, ": ",
                   std::strerror(errno));
}

// ---- metrics CSV ----------------------------------------------------------------------------

static const char* kCsvHeader = "epoch,train_loss,train_acc,valid_loss,valid_acc,lr,seconds";

std::string metrics_csv(const std::vector<EpochMetrics>& history) {
  std::string s = std::string(kCsvHeader) + "\n";
  for (const auto& m : history)
    s += std::to_string(m.epoch) + "," + csv_num(m.train_loss) + "," + csv_num(m.train_acc) + "," +
         csv_num(m.valid_loss) + "," + csv_num(m.valid_acc) + "," + csv_num(m.lr) + "," + csv_num(m.seconds) + "\n";
  return s;
}

void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& history) {
  write_file_atomic(path, metrics_csv(history));
}

std::vector<EpochMetrics> read_metrics_csv(const std::string& path) {
  std::ifstream f(path);
  GRAFT_CHECK_DATA(f, "", "cannot read metrics file ", path, ": ", std::strerror(errno));
  std::string line;
  std::getline(f, line);
  GRAFT_CHECK_DATA(line == kCsvHeader, "", path, ": expected the header '", kCsvHeader, "', found '", line, "'");
  std::vector<EpochMetrics> out;
  for (int lineno = 2; std::getline(f, line); ++lineno) {
    if (line.empty()) continue;
    std::vector<double> v;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) {
      if (cell.empty()) {
        v.push_back(std::numeric_limits<double>::quiet_NaN());
        continue;
      }
      char* end = nullptr;
      double x = std::strtod(cell.c_str(), &end);
      GRAFT_CHECK_DATA(!*end, "", path, ":", lineno, ": '", cell, "' is not a number");
      v.push_back(x);
    }
    if (!line.empty() && line.back() == ',') v.push_back(std::numeric_limits<double>::quiet_NaN());
    GRAFT_CHECK_DATA(v.size() == 7, "", path, ":", lineno, ": expected 7 fields, found ", v.size());
    out.push_back({static_cast<int64_t>(v[0]), v[1], v[2], v[3], v[4], v[5], v[6]});
  }
  return out;
}

// ---- pieces ---------------------------------------------------------------------------------

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string base64_encode(const std::vector<uint8_t>& b) {
  static const char* T = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string o;
  o.reserve((b.size() + 2) / 3 * 4);
  for (size_t i = 0; i < b.size(); i += 3) {
    uint32_t n = b[i] << 16;  // 24 bits -> four 6-bit digits, '=' for missing bytes
    if (i + 1 < b.size()) n |= b[i + 1] << 8;
    if (i + 2 < b.size()) n |= b[i + 2];
    o += T[(n >> 18) & 63];
    o += T[(n >> 12) & 63];
    o += i + 1 < b.size() ? T[(n >> 6) & 63] : '=';
    o += i + 2 < b.size() ? T[n & 63] : '=';
  }
  return o;
}

std::vector<uint8_t> encode_png(const uint8_t* pixels, int width, int height, int channels) {
  std::vector<uint8_t> out;
  auto append = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<uint8_t>*>(ctx);
    auto* p = static_cast<uint8_t*>(data);
    v->insert(v->end(), p, p + size);
  };
  const bool written = stbi_write_png_to_func(append, &out, width, height, channels, pixels, width * channels) != 0;
  GRAFT_CHECK_DATA(written, "encode_png", "stb_image_write failed for a ", width, "x", height, "x", channels, " image");
  return out;
}

std::vector<uint8_t> image_to_bytes(const Tensor& image, const std::vector<float>& mean, const std::vector<float>& std) {
  check_dim("image_to_bytes", "image", image, 3);
  int64_t C = image.size(0), H = image.size(1), W = image.size(2);
  GRAFT_CHECK(C == 1 || C == 3, "image_to_bytes", "expected 1 or 3 channels, got image ", image.shape());
  auto v = image.to_vector();
  std::vector<uint8_t> out(C * H * W);
  for (int64_t c = 0; c < C; ++c) {
    float m = c < static_cast<int64_t>(mean.size()) ? mean[c] : 0.0f;
    float s = c < static_cast<int64_t>(std.size()) ? std[c] : 1.0f;
    for (int64_t i = 0; i < H * W; ++i) {
      float x = std::clamp(v[c * H * W + i] * s + m, 0.0f, 1.0f);
      out[i * C + c] = static_cast<uint8_t>(std::lround(x * 255.0f));
    }
  }
  return out;
}

std::string svg_line_chart(const std::string& title, const std::string& x_label, const std::string& y_label,
                           const std::vector<Series>& series, int width, int height) {
  const double ml = 56, mr = 16, mt = 28, mb = 42;  // margins around the plot area
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : series)
    for (auto [x, y] : s.points)
      if (std::isfinite(x) && std::isfinite(y)) x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
  if (!(x0 <= x1)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;  // nothing to draw: an empty frame
  if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
  if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
  double ystep = nice_step(y1 - y0, 5);
  y0 = std::floor(y0 / ystep) * ystep, y1 = std::ceil(y1 / ystep) * ystep;
  double pw = width - ml - mr, ph = height - mt - mb;
  auto X = [&](double x) { return ml + (x - x0) / (x1 - x0) * pw; };
  auto Y = [&](double y) { return mt + (1 - (y - y0) / (y1 - y0)) * ph; };

  // The legend gets rows of its own below the x-axis label (one per series), so that long
  // series names never overlap each other or the data.
  const int legend_row = 15, total_height = height + legend_row * static_cast<int>(series.size());
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << total_height
    << "\" viewBox=\"0 0 " << width << " " << total_height << "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  o << "<text x=\"" << ml << "\" y=\"16\" font-size=\"13\">" << html_escape(title) << "</text>\n";
  o << "<rect x=\"" << ml << "\" y=\"" << mt << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#999\"/>\n";
  for (double y = y0; y <= y1 + ystep * 1e-6; y += ystep) {  // horizontal grid + labels
    o << "<line x1=\"" << ml << "\" x2=\"" << ml + pw << "\" y1=\"" << Y(y) << "\" y2=\"" << Y(y)
      << "\" stroke=\"#eee\"/><text x=\"" << ml - 4 << "\" y=\"" << Y(y) + 4 << "\" text-anchor=\"end\">"
      << fmt("%g", std::abs(y) < ystep * 1e-6 ? 0.0 : y) << "</text>\n";
  }
  double xstep = std::max(1.0, nice_step(x1 - x0, 8));  // epochs are integers
  for (double x = std::ceil(x0 / xstep) * xstep; x <= x1 + 1e-9; x += xstep)
    o << "<text x=\"" << X(x) << "\" y=\"" << mt + ph + 14 << "\" text-anchor=\"middle\">" << fmt("%g", x) << "</text>\n";
  o << "<text x=\"" << ml + pw / 2 << "\" y=\"" << height - 6 << "\" text-anchor=\"middle\">" << html_escape(x_label) << "</text>\n";
  o << "<text transform=\"translate(12," << mt + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">" << html_escape(y_label) << "</text>\n";
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i];
    o << "<polyline class=\"series\" fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\" points=\"";
    for (auto [x, y] : s.points)
      if (std::isfinite(y)) o << fmt("%.1f", X(x)) << "," << fmt("%.1f", Y(y)) << " ";
    o << "\"/>\n";
    for (auto [x, y] : s.points)
      if (std::isfinite(y))
        o << "<circle class=\"point\" cx=\"" << fmt("%.1f", X(x)) << "\" cy=\"" << fmt("%.1f", Y(y)) << "\" r=\"3\" fill=\""
          << s.color << "\"><title>" << html_escape(s.name) << " " << fmt("%g", x) << ": " << fmt("%.4g", y)
          << "</title></circle>\n";
    double lx = ml, ly = height + legend_row * static_cast<double>(i) + 8;
    o << "<line x1=\"" << lx << "\" x2=\"" << lx + 18 << "\" y1=\"" << ly - 4 << "\" y2=\"" << ly - 4
      << "\" stroke=\"" << s.color << "\" stroke-width=\"2\"/><text x=\"" << lx + 22 << "\" y=\"" << ly << "\">"
      << html_escape(s.name) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

std::string confusion_matrix_html(const ConfusionMatrix& cm, const std::vector<std::string>& names) {
  auto name = [&](int64_t i) { return html_escape(i < (int64_t)names.size() ? names[i] : std::to_string(i)); };
  std::ostringstream o;
  o << "<table class=\"confusion\"><tr><th>true \\ predicted</th>";
  for (int64_t j = 0; j < cm.num_classes(); ++j) o << "<th>" << name(j) << "</th>";
  o << "</tr>\n";
  for (int64_t i = 0; i < cm.num_classes(); ++i) {
    o << "<tr><th>" << name(i) << "</th>";
    int64_t row = cm.row_total(i);
    for (int64_t j = 0; j < cm.num_classes(); ++j) {
      double f = row ? static_cast<double>(cm.at(i, j)) / row : 0.0;
      // Diagonal cells blue, off-diagonal red, opacity = fraction of the true class.
      const char* rgb = i == j ? "31,119,180" : "214,39,40";
      o << "<td style=\"background:rgba(" << rgb << "," << fmt("%.2f", f) << ")\" title=\"" << fmt("%.1f%%", 100 * f)
        << "\">" << cm.at(i, j) << "</td>";
    }
    o << "</tr>\n";
  }
  o << "</table>\n";
  return o.str();
}

std::string image_grid_html(const std::vector<GridImage>& images, const std::vector<float>& mean,
                            const std::vector<float>& std, int display_px) {
  std::ostringstream o;
  o << "<div class=\"grid\">\n";
  for (const auto& g : images) {
    auto bytes = image_to_bytes(g.image, mean, std);
    int C = static_cast<int>(g.image.size(0)), H = static_cast<int>(g.image.size(1)), W = static_cast<int>(g.image.size(2));
    bool ok = g.predicted == g.truth;
    o << "<figure><img width=\"" << display_px << "\" src=\"data:image/png;base64,"
      << base64_encode(encode_png(bytes.data(), W, H, C)) << "\" alt=\"" << html_escape(g.truth) << "\">"
      << "<figcaption><span class=\"" << (ok ? "ok" : "bad") << "\">" << html_escape(g.predicted) << "</span><br>true: "
      << html_escape(g.truth) << (g.caption.empty() ? "" : "<br>" + html_escape(g.caption)) << "</figcaption></figure>\n";
  }
  o << "</div>\n";
  return o.str();
}

std::string comparison_table_text(const std::vector<MethodResult>& results) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : results)
    rows.push_back({r.method, fmt("%.2f%%", 100 * r.test_accuracy), fmt("%.1f s", r.seconds), r.notes});
  return format_table({"method", "test accuracy", "time", "notes"}, rows);
}

std::string comparison_table_html(const std::vector<MethodResult>& results) {
  double best = -1;
  for (const auto& r : results) best = std::max(best, r.test_accuracy);
  std::ostringstream o;
  o << "<table class=\"comparison\"><tr><th>method</th><th>test accuracy</th><th>time</th><th>notes</th></tr>\n";
  for (const auto& r : results)
    o << "<tr><td>" << html_escape(r.method) << "</td><td>" << (r.test_accuracy == best ? "<b>" : "")
      << fmt("%.2f%%", 100 * r.test_accuracy) << (r.test_accuracy == best ? "</b>" : "") << "</td><td>"
      << fmt("%.1f s", r.seconds) << "</td><td>" << html_escape(r.notes) << "</td></tr>\n";
  o << "</table>\n";
  return o.str();
}

// ---- an evaluation's numbers ----------------------------------------------------------------

std::string class_metrics_html(const EvalResult& r, const std::vector<std::string>& names) {
  auto name = [&](int64_t i) { return html_escape(i < (int64_t)names.size() ? names[i] : std::to_string(i)); };
  const ClassMetrics& m = r.classes;
  std::ostringstream o;
  o << "<table class=\"headline\"><tr><td>images</td><td>" << r.count << "</td></tr><tr><td>top-1 accuracy</td><td>"
    << fmt("%.2f%%", 100 * r.top1) << "</td></tr><tr><td>top-" << r.k << " accuracy</td><td>" << fmt("%.2f%%", 100 * r.topk)
    << "</td></tr><tr><td>mean cross-entropy</td><td>" << fmt("%.4f", r.mean_cross_entropy) << "</td></tr>";
  if (r.binary) o << "<tr><td>ROC AUC</td><td>" << fmt("%.4f", r.roc.auc) << "</td></tr>";
  o << "</table>\n<table class=\"classes\"><tr><th>class</th><th>images</th><th>precision</th><th>recall (accuracy)</th>"
       "<th>F1</th></tr>\n";
  auto row = [&](const std::string& label, int64_t n, double p, double rc, double f) {
    o << "<tr><td>" << label << "</td><td>" << n << "</td><td>" << fmt("%.4f", p) << "</td><td>" << fmt("%.4f", rc)
      << "</td><td>" << fmt("%.4f", f) << "</td></tr>\n";
  };
  for (size_t i = 0; i < m.precision.size(); ++i)
    row(name(static_cast<int64_t>(i)), m.support[i], m.precision[i], m.recall[i], m.f1[i]);
  row("<i>macro avg</i>", r.count, m.macro_precision, m.macro_recall, m.macro_f1);
  row("<i>weighted avg</i>", r.count, m.weighted_precision, m.weighted_recall, m.weighted_f1);
  o << "</table>\n";
  return o.str();
}

std::string roc_curve_svg(const RocCurve& roc, const std::string& positive) {
  Series curve{"ROC (positive: " + positive + ")", "#1f77b4", {}}, chance{"chance", "#bbbbbb", {{0, 0}, {1, 1}}};
  for (size_t i = 0; i < roc.fpr.size(); ++i) curve.points.emplace_back(roc.fpr[i], roc.tpr[i]);
  return svg_line_chart("ROC curve, AUC " + fmt("%.4f", roc.auc), "false positive rate", "true positive rate",
                        {curve, chance}, 360, 320);
}

// ---- the whole report -----------------------------------------------------------------------

std::string render_html_report(const ReportData& d) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << html_escape(d.title) << "</title>\n"
    << kStyle << "</head><body>\n<h1>" << html_escape(d.title) << "</h1>\n";
  if (!d.comparison.empty()) o << "<h2>Methods compared</h2>\n" << comparison_table_html(d.comparison);
  if (!d.history.empty()) {
    Series tl{"train", "#1f77b4", {}}, vl{"valid", "#ff7f0e", {}}, ta{"train", "#1f77b4", {}}, va{"valid", "#ff7f0e", {}};
    for (const auto& m : d.history) {
      double e = static_cast<double>(m.epoch);
      tl.points.emplace_back(e, m.train_loss), vl.points.emplace_back(e, m.valid_loss);
      ta.points.emplace_back(e, 100 * m.train_acc), va.points.emplace_back(e, 100 * m.valid_acc);
    }
    o << "<h2>Training curves</h2>\n<div class=\"charts\">\n"
      << svg_line_chart("Loss", "epoch", "loss", {tl, vl}) << svg_line_chart("Accuracy", "epoch", "accuracy (%)", {ta, va})
      << "</div>\n<details><summary>metrics per epoch</summary><pre>" << html_escape(metrics_csv(d.history))
      << "</pre></details>\n";
  }
  if (d.has_confusion) o << "<h2>Confusion matrix</h2>\n" << confusion_matrix_html(d.confusion, d.class_names);
  if (!d.grid.empty()) o << "<h2>Predictions</h2>\n" << image_grid_html(d.grid, d.mean, d.std);
  for (const auto& [heading, html] : d.sections) o << "<h2>" << html_escape(heading) << "</h2>\n" << html << "\n";
  o << "<h2>Command and settings</h2>\n";
  if (!d.command_line.empty()) o << "<pre>" << html_escape(d.command_line) << "</pre>\n";
  if (!d.settings.empty()) {
    o << "<table class=\"settings\">";
    for (const auto& [k, v] : d.settings) o << "<tr><td>" << html_escape(k) << "</td><td>" << html_escape(v) << "</td></tr>";
    o << "</table>\n";
  }
  o << "</body></html>\n";
  return o.str();
}

void write_html_report(const std::string& path, const ReportData& data) {
  write_file_atomic(path, render_html_report(data));
}

}  // namespace graft::tools
