// src/train/metrics.cpp — see metrics.h.
#include "train/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

#include "tensor/check.h"

namespace graft {

namespace {

// Checks logits [N,L] float32 and labels [N] int64 with labels in range; returns host copies.
void host_inputs(const char* op, const Tensor& logits, const Tensor& labels, std::vector<float>& x,
                 std::vector<int64_t>& y, int64_t& N, int64_t& L) {
  check_dim(op, "logits", logits, 2);
  check_dim(op, "labels", labels, 1);
  GRAFT_CHECK(logits.dtype() == DType::Float32 && labels.dtype() == DType::Int64, op,
              "expected float32 logits and int64 labels, got ", logits, " and ", labels);
  N = logits.size(0), L = logits.size(1);
  GRAFT_CHECK(labels.size(0) == N, op, "logits ", logits.shape(), " and labels ", labels.shape(),
              " have different batch sizes");
  x = logits.to_vector();
  y = labels.to_labels();
  int64_t classes = std::max<int64_t>(L, 2);  // one output = two classes
  for (int64_t i = 0; i < N; ++i)
    GRAFT_CHECK(y[i] >= 0 && y[i] < classes, op, "label ", y[i], " of row ", i, " is outside [0, ", classes, ")");
}

// -log softmax(row)[y], in double: logsumexp(row) - row[y] with the row max subtracted first.
double row_cross_entropy(const float* row, int64_t L, int64_t y) {
  if (L == 1) {  // BCE with logits: max(x,0) - x*t + log(1 + exp(-|x|))
    double z = row[0];
    return std::max(z, 0.0) - z * static_cast<double>(y) + std::log1p(std::exp(-std::abs(z)));
  }
  double m = *std::max_element(row, row + L), s = 0;
  for (int64_t j = 0; j < L; ++j) s += std::exp(static_cast<double>(row[j]) - m);
  return m + std::log(s) - row[y];
}

int64_t row_prediction(const float* row, int64_t L) {
  if (L == 1) return row[0] > 0.0f ? 1 : 0;
  return std::max_element(row, row + L) - row;  // first maximum, as torch.argmax
}

// Whether y is among the k best of the row (binary: the prediction, or both classes when k >= 2).
bool row_topk_hit(const float* row, int64_t L, int64_t y, int64_t k) {
  if (L == 1) return k >= 2 || row_prediction(row, L) == y;
  auto top = topk_row(row, L, k);
  return std::find(top.begin(), top.end(), y) != top.end();
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string class_name(const std::vector<std::string>& names, int64_t i) {
  return i < static_cast<int64_t>(names.size()) ? names[i] : std::to_string(i);
}

}  // namespace

std::vector<int64_t> topk_row(const float* row, int64_t L, int64_t k) {
  k = std::clamp<int64_t>(k, 0, L);
  std::vector<int64_t> idx(L);
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](int64_t a, int64_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
  idx.resize(k);
  return idx;
}

std::vector<std::pair<int64_t, double>> topk_probabilities(const float* row, int64_t L, int64_t k) {
  std::vector<std::pair<int64_t, double>> out;
  if (L == 1) {
    double p1 = 1 / (1 + std::exp(-static_cast<double>(row[0])));
    out = p1 >= 0.5 ? decltype(out){{1, p1}, {0, 1 - p1}} : decltype(out){{0, 1 - p1}, {1, p1}};
    out.resize(std::clamp<int64_t>(k, 0, 2));
    return out;
  }
  double m = *std::max_element(row, row + L), s = 0;  // softmax with the max subtracted
  for (int64_t j = 0; j < L; ++j) s += std::exp(static_cast<double>(row[j]) - m);
  for (int64_t j : topk_row(row, L, k)) out.emplace_back(j, std::exp(static_cast<double>(row[j]) - m) / s);
  return out;
}

double topk_accuracy(const Tensor& logits, const Tensor& labels, int64_t k) {
  std::vector<float> x;
  std::vector<int64_t> y;
  int64_t N, L;
  host_inputs("topk_accuracy", logits, labels, x, y, N, L);
  if (N == 0) return 0;
  int64_t hits = 0;
  for (int64_t i = 0; i < N; ++i) hits += row_topk_hit(&x[i * L], L, y[i], k);
  return static_cast<double>(hits) / N;
}

double mean_cross_entropy(const Tensor& logits, const Tensor& labels) {
  std::vector<float> x;
  std::vector<int64_t> y;
  int64_t N, L;
  host_inputs("mean_cross_entropy", logits, labels, x, y, N, L);
  if (N == 0) return 0;
  double s = 0;
  for (int64_t i = 0; i < N; ++i) s += row_cross_entropy(&x[i * L], L, y[i]);
  return s / N;
}

std::vector<int64_t> predictions(const Tensor& logits) {
  check_dim("predictions", "logits", logits, 2);
  int64_t N = logits.size(0), L = logits.size(1);
  auto x = logits.to_vector();
  std::vector<int64_t> p(N);
  for (int64_t i = 0; i < N; ++i) p[i] = row_prediction(&x[i * L], L);
  return p;
}

// ---- ConfusionMatrix ------------------------------------------------------------------------

ConfusionMatrix::ConfusionMatrix(int64_t num_classes) : L_(num_classes), counts_(num_classes * num_classes, 0) {}

void ConfusionMatrix::add(int64_t truth, int64_t predicted, int64_t count) {
  GRAFT_CHECK_INDEX(truth >= 0 && truth < L_ && predicted >= 0 && predicted < L_, "ConfusionMatrix::add", "class (",
                    truth, ", ", predicted, ") outside a ", L_, "-class matrix");
  counts_[truth * L_ + predicted] += count;
}

int64_t ConfusionMatrix::at(int64_t truth, int64_t predicted) const { return counts_.at(truth * L_ + predicted); }

int64_t ConfusionMatrix::total() const { return std::accumulate(counts_.begin(), counts_.end(), int64_t{0}); }

int64_t ConfusionMatrix::row_total(int64_t truth) const {
  int64_t s = 0;
  for (int64_t p = 0; p < L_; ++p) s += at(truth, p);
  return s;
}

double ConfusionMatrix::accuracy() const {
  int64_t t = total(), d = 0;
  for (int64_t i = 0; i < L_; ++i) d += at(i, i);
  return t ? static_cast<double>(d) / t : 0.0;
}

std::vector<double> ConfusionMatrix::per_class_accuracy() const {
  std::vector<double> a(L_);
  for (int64_t i = 0; i < L_; ++i) {
    int64_t r = row_total(i);
    a[i] = r ? static_cast<double>(at(i, i)) / r : std::numeric_limits<double>::quiet_NaN();
  }
  return a;
}

ConfusionMatrix confusion_matrix(const Tensor& logits, const Tensor& labels) {
  std::vector<float> x;
  std::vector<int64_t> y;
  int64_t N, L;
  host_inputs("confusion_matrix", logits, labels, x, y, N, L);
  ConfusionMatrix cm(std::max<int64_t>(L, 2));
  for (int64_t i = 0; i < N; ++i) cm.add(y[i], row_prediction(&x[i * L], L));
  return cm;
}

// ---- EvalAccumulator ------------------------------------------------------------------------

// P(class 1) of a two-class row: sigmoid of one output, softmax's second of two.
// Highest loss first; equal losses in the order added (so results never depend on batching).
static bool worse_loss(const ImageLoss& a, const ImageLoss& b) {
  return a.loss > b.loss || (a.loss == b.loss && a.index < b.index);
}

static double positive_score(const float* row, int64_t L) {
  return L == 1 ? 1 / (1 + std::exp(-static_cast<double>(row[0])))
                : 1 / (1 + std::exp(static_cast<double>(row[0]) - static_cast<double>(row[1])));
}

// The probability the model gives class c (softmax, or sigmoid for one output).
static double class_probability(const float* row, int64_t L, int64_t c) {
  if (L == 1) {
    double p1 = positive_score(row, L);
    return c == 1 ? p1 : 1 - p1;
  }
  double m = *std::max_element(row, row + L), s = 0;
  for (int64_t j = 0; j < L; ++j) s += std::exp(static_cast<double>(row[j]) - m);
  return std::exp(static_cast<double>(row[c]) - m) / s;
}

void EvalAccumulator::add(const Tensor& logits, const Tensor& labels, const std::vector<std::string>& sources) {
  std::vector<float> x;
  std::vector<int64_t> y;
  int64_t N, L;
  host_inputs("EvalAccumulator::add", logits, labels, x, y, N, L);
  GRAFT_CHECK(sources.empty() || static_cast<int64_t>(sources.size()) == N, "EvalAccumulator::add", sources.size(),
              " sources for a batch of ", N);
  if (L_ < 0) {
    L_ = L;
    confusion_ = ConfusionMatrix(std::max<int64_t>(L, 2));
  } else {
    GRAFT_CHECK(L == L_, "EvalAccumulator::add", "batch has ", L, " outputs per image, earlier batches had ", L_);
  }
  for (int64_t i = 0; i < N; ++i) {
    const float* row = &x[i * L];
    int64_t p = row_prediction(row, L);
    const double ce = row_cross_entropy(row, L, y[i]);
    top1_hits_ += p == y[i];
    topk_hits_ += row_topk_hit(row, L, y[i], k_);
    ce_sum_ += ce;
    confusion_.add(y[i], p);
    if (L <= 2) {
      scores_.push_back(positive_score(row, L));
      labels_.push_back(y[i]);
    }
    if (keep_ > 0) {
      worst_.push_back({count_ + i, sources.empty() ? "" : sources[i], y[i], p, class_probability(row, L, p), ce});
      if (static_cast<int64_t>(worst_.size()) >= 2 * keep_) {  // keep the memory bounded
        std::nth_element(worst_.begin(), worst_.begin() + keep_, worst_.end(), worse_loss);
        worst_.resize(keep_);
      }
    }
  }
  count_ += N;
}

EvalResult EvalAccumulator::result() const {
  EvalResult r;
  r.count = count_;
  r.k = L_ > 0 ? std::min<int64_t>(k_, std::max<int64_t>(L_, 2)) : k_;
  if (count_) {
    r.top1 = static_cast<double>(top1_hits_) / count_;
    r.topk = static_cast<double>(topk_hits_) / count_;
    r.mean_cross_entropy = ce_sum_ / count_;
  }
  r.confusion = confusion_;
  r.per_class = confusion_.per_class_accuracy();
  r.classes = class_metrics(confusion_);
  r.binary = L_ > 0 && L_ <= 2;
  if (r.binary) r.roc = roc_curve(scores_, labels_);
  r.top_losses = worst_;
  std::sort(r.top_losses.begin(), r.top_losses.end(), worse_loss);
  if (static_cast<int64_t>(r.top_losses.size()) > keep_) r.top_losses.resize(keep_);
  return r;
}

// ---- precision / recall / F1, ROC ------------------------------------------------------------

ClassMetrics class_metrics(const ConfusionMatrix& cm) {
  const int64_t L = cm.num_classes();
  ClassMetrics m;
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };  // 0/0 -> 0 (zero_division=0)
  int64_t occurring = 0, total = 0;
  for (int64_t c = 0; c < L; ++c) {
    int64_t predicted = 0;
    for (int64_t t = 0; t < L; ++t) predicted += cm.at(t, c);
    const int64_t support = cm.row_total(c), hit = cm.at(c, c);
    const double p = ratio(hit, predicted), r = ratio(hit, support);
    m.precision.push_back(p);
    m.recall.push_back(r);
    m.f1.push_back(ratio(2 * p * r, p + r));
    m.support.push_back(support);
    if (support == 0 && predicted == 0) continue;  // absent: not in the averages
    ++occurring;
    total += support;
    m.macro_precision += p, m.macro_recall += r, m.macro_f1 += m.f1.back();
    m.weighted_precision += p * support, m.weighted_recall += r * support, m.weighted_f1 += m.f1.back() * support;
  }
  m.macro_precision = ratio(m.macro_precision, occurring), m.macro_recall = ratio(m.macro_recall, occurring);
  m.macro_f1 = ratio(m.macro_f1, occurring);
  m.weighted_precision = ratio(m.weighted_precision, total), m.weighted_recall = ratio(m.weighted_recall, total);
  m.weighted_f1 = ratio(m.weighted_f1, total);
  return m;
}

RocCurve roc_curve(const std::vector<double>& scores, const std::vector<int64_t>& labels) {
  GRAFT_CHECK(scores.size() == labels.size(), "roc_curve", scores.size(), " scores but ", labels.size(), " labels");
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  RocCurve c;
  std::vector<double> tps{0}, fps{0};
  c.thresholds.push_back(std::numeric_limits<double>::infinity());
  double tp = 0, fp = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    (labels[order[i]] == 1 ? tp : fp) += 1;
    // One point after the last image of each distinct score: tied images move together.
    if (i + 1 == order.size() || scores[order[i + 1]] != scores[order[i]]) {
      tps.push_back(tp), fps.push_back(fp);
      c.thresholds.push_back(scores[order[i]]);
    }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (size_t i = 0; i < tps.size(); ++i) {
    c.tpr.push_back(tp > 0 ? tps[i] / tp : nan);
    c.fpr.push_back(fp > 0 ? fps[i] / fp : nan);
  }
  c.auc = 0;
  for (size_t i = 1; i < tps.size(); ++i) c.auc += (c.fpr[i] - c.fpr[i - 1]) * (c.tpr[i] + c.tpr[i - 1]) / 2;
  if (tp == 0 || fp == 0) c.auc = nan;
  return c;
}

// ---- text and JSON --------------------------------------------------------------------------

std::string format_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t c = 0; c < header.size(); ++c) w[c] = header[c].size();
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size() && c < w.size(); ++c) w[c] = std::max(w[c], r[c].size());
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (size_t c = 0; c < w.size(); ++c) {
      std::string cell = c < r.size() ? r[c] : "";
      std::string pad(w[c] - std::min(w[c], cell.size()), ' ');
      s += (c ? "  " : "") + (c == 0 ? cell + pad : pad + cell);
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s + "\n";
  };
  size_t total = 0;
  for (size_t c = 0; c < w.size(); ++c) total += w[c] + (c ? 2 : 0);
  std::string out = line(header) + std::string(total, '-') + "\n";
  for (const auto& r : rows) out += line(r);
  return out;
}

std::string format_eval_table(const EvalResult& r, const std::vector<std::string>& names) {
  std::string s = "images:              " + std::to_string(r.count) + "\n";
  s += "top-1 accuracy:      " + fmt("%.2f%%", 100 * r.top1) + "\n";
  s += "top-" + std::to_string(r.k) + " accuracy:      " + fmt("%.2f%%", 100 * r.topk) + "\n";
  s += "mean cross-entropy:  " + fmt("%.4f", r.mean_cross_entropy) + "\n";
  if (r.binary)
    s += "ROC AUC:             " + (std::isnan(r.roc.auc) ? std::string("- (needs images of both classes)")
                                                          : fmt("%.4f", r.roc.auc)) +
         " (score: probability of '" + class_name(names, 1) + "')\n";
  s += "\n";
  const auto& cm = r.confusion;
  const ClassMetrics& m = r.classes;
  std::vector<std::vector<std::string>> rows;
  for (int64_t i = 0; i < cm.num_classes(); ++i)
    rows.push_back({class_name(names, i), std::to_string(cm.row_total(i)), std::to_string(cm.at(i, i)),
                    std::isnan(r.per_class[i]) ? "-" : fmt("%.2f%%", 100 * r.per_class[i]), fmt("%.4f", m.precision[i]),
                    fmt("%.4f", m.recall[i]), fmt("%.4f", m.f1[i])});
  rows.push_back({"macro avg", std::to_string(cm.total()), "", "", fmt("%.4f", m.macro_precision), fmt("%.4f", m.macro_recall),
                  fmt("%.4f", m.macro_f1)});
  rows.push_back({"weighted avg", std::to_string(cm.total()), "", "", fmt("%.4f", m.weighted_precision),
                  fmt("%.4f", m.weighted_recall), fmt("%.4f", m.weighted_f1)});
  s += format_table({"class", "images", "correct", "accuracy", "precision", "recall", "f1"}, rows) +
       "(a class's accuracy is its recall; precision: of the images predicted as it, the fraction that are)\n\n";
  std::vector<std::string> header{"true \\ predicted"};
  for (int64_t j = 0; j < cm.num_classes(); ++j) header.push_back(class_name(names, j));
  rows.clear();
  for (int64_t i = 0; i < cm.num_classes(); ++i) {
    std::vector<std::string> row{class_name(names, i)};
    for (int64_t j = 0; j < cm.num_classes(); ++j) row.push_back(std::to_string(cm.at(i, j)));
    rows.push_back(row);
  }
  s += format_table(header, rows);
  if (!r.top_losses.empty()) {
    rows.clear();
    for (const auto& t : r.top_losses)
      rows.push_back({t.source.empty() ? "#" + std::to_string(t.index) : t.source, class_name(names, t.truth),
                      class_name(names, t.predicted), fmt("%.2f%%", 100 * t.probability), fmt("%.4f", t.loss)});
    s += "\ntop losses (the images the model got most wrong):\n" +
         format_table({"image", "true", "predicted", "probability", "loss"}, rows);
  }
  return s;
}

std::string eval_json(const EvalResult& r, const std::vector<std::string>& names) {
  const auto& cm = r.confusion;
  const ClassMetrics& m = r.classes;
  JsonWriter j;
  j.begin_object().key("count").value(r.count).key("top1").value(r.top1);
  j.key("top" + std::to_string(r.k)).value(r.topk).key("mean_cross_entropy").value(r.mean_cross_entropy);
  j.key("classes").begin_array();
  for (int64_t i = 0; i < cm.num_classes(); ++i) j.value(class_name(names, i));
  j.end_array().key("per_class_accuracy").begin_object();
  for (int64_t i = 0; i < cm.num_classes(); ++i) j.key(class_name(names, i)).value(r.per_class[i]);
  j.end_object().key("confusion_matrix").begin_array();
  for (int64_t i = 0; i < cm.num_classes(); ++i) {
    j.begin_array();
    for (int64_t p = 0; p < cm.num_classes(); ++p) j.value(cm.at(i, p));
    j.end_array();
  }
  j.end_array();
  auto per_class = [&](const char* key, const std::vector<double>& v) {
    j.key(key).begin_object();
    for (int64_t i = 0; i < cm.num_classes(); ++i) j.key(class_name(names, i)).value(v[i]);
    j.end_object();
  };
  per_class("precision", m.precision);
  per_class("recall", m.recall);
  per_class("f1", m.f1);
  j.key("support").begin_object();
  for (int64_t i = 0; i < cm.num_classes(); ++i) j.key(class_name(names, i)).value(m.support[i]);
  j.end_object();
  j.key("macro_avg").begin_object().key("precision").value(m.macro_precision).key("recall").value(m.macro_recall);
  j.key("f1").value(m.macro_f1).end_object();
  j.key("weighted_avg").begin_object().key("precision").value(m.weighted_precision).key("recall").value(m.weighted_recall);
  j.key("f1").value(m.weighted_f1).end_object();
  if (r.binary) {
    j.key("roc_auc").value(r.roc.auc).key("roc_curve").begin_object().key("positive").value(class_name(names, 1));
    for (auto [key, v] : {std::pair<const char*, const std::vector<double>*>{"fpr", &r.roc.fpr}, {"tpr", &r.roc.tpr},
                          {"thresholds", &r.roc.thresholds}}) {
      j.key(key).begin_array();
      for (double x : *v) j.value(x);  // the first threshold, +infinity, is written as null
      j.end_array();
    }
    j.end_object();
  }
  j.key("top_losses").begin_array();
  for (const auto& t : r.top_losses)
    j.begin_object().key("file").value(t.source).key("index").value(t.index).key("true").value(class_name(names, t.truth))
        .key("predicted").value(class_name(names, t.predicted)).key("probability").value(t.probability)
        .key("loss").value(t.loss).end_object();
  j.end_array().end_object();
  return j.str();
}

// ---- JsonWriter -----------------------------------------------------------------------------

void JsonWriter::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
}

JsonWriter& JsonWriter::begin_object() {
  before_value();
  out_ += '{';
  first_.push_back(true);
  return *this;
}
JsonWriter& JsonWriter::end_object() {
  out_ += '}';
  first_.pop_back();
  return *this;
}
JsonWriter& JsonWriter::begin_array() {
  before_value();
  out_ += '[';
  first_.push_back(true);
  return *this;
}
JsonWriter& JsonWriter::end_array() {
  out_ += ']';
  first_.pop_back();
  return *this;
}
JsonWriter& JsonWriter::key(const std::string& k) {
  before_value();
  out_ += escape(k) + ':';
  after_key_ = true;
  return *this;
}
JsonWriter& JsonWriter::value(const std::string& s) {
  before_value();
  out_ += escape(s);
  return *this;
}
JsonWriter& JsonWriter::value(double v) {
  if (!std::isfinite(v)) return null();
  before_value();
  char b[32];
  std::snprintf(b, sizeof b, "%.10g", v);
  out_ += b;
  return *this;
}
JsonWriter& JsonWriter::value(int64_t v) {
  before_value();
  out_ += std::to_string(v);
  return *this;
}
JsonWriter& JsonWriter::value(bool b) {
  before_value();
  out_ += b ? "true" : "false";
  return *this;
}
JsonWriter& JsonWriter::null() {
  before_value();
  out_ += "null";
  return *this;
}

std::string JsonWriter::escape(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          o += b;
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o + "\"";
}

}  // namespace graft
