// src/train/metrics.h — classification metrics for `graft eval` and training reports.
//
//   logits: [N,L] float32 (raw scores, or log-probabilities from a LogSoftmax head: both give
//           the same answers, since log_softmax(log_softmax(x)) = log_softmax(x)),
//   labels: [N] int64 class indices in [0, L).
//   top-k accuracy  = (1/N) * #{i : labels[i] is among the k largest logits[i,:]}
//   cross-entropy   = (1/N) * sum_i -(logits[i,y_i] - logsumexp_j logits[i,j])   (in double)
//   confusion[t][p] = #{i : labels[i] = t and argmax logits[i,:] = p}  (rows true, columns predicted)
// Binary models with one output (L = 1, BCE-with-logits) are treated as two classes:
// predicted 1 when the logit > 0 (probability > 0.5), cross-entropy = mean BCE.
//
// Per class (class_metrics, from the confusion matrix; scikit-learn's definitions):
//   precision_c = cm[c][c] / sum_t cm[t][c]   (of the images predicted c, the fraction that are c)
//   recall_c    = cm[c][c] / sum_p cm[c][p]   (of the images of class c, the fraction found: its accuracy)
//   f1_c        = 2 precision_c recall_c / (precision_c + recall_c)
// For two classes, the ROC curve and its area of the score P(class 1); and the top losses, the
// images with the highest cross-entropy (the ones the model got most wrong).
//
// Results are accumulated batch by batch (EvalAccumulator) so a whole test set never has to sit
// in memory, then printed as a text table or as JSON (JsonWriter, a tiny dependency-free writer).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace graft {

// Indices of the k largest values of one row, largest first (ties: lower index first).
std::vector<int64_t> topk_row(const float* row, int64_t L, int64_t k);

// The k most probable classes of one row of logits with their softmax probabilities, most
// probable first (for `graft predict`). For L = 1: class 1 with sigmoid(x), class 0 with 1 - it.
std::vector<std::pair<int64_t, double>> topk_probabilities(const float* row, int64_t L, int64_t k);

// logits: [N,L], labels: [N] int64 -> fraction in [0,1]. k is clamped to L.
double topk_accuracy(const Tensor& logits, const Tensor& labels, int64_t k);
// Mean cross-entropy per image (natural log); for L = 1 the mean BCE-with-logits.
double mean_cross_entropy(const Tensor& logits, const Tensor& labels);
// Predicted class per row: argmax, or (L = 1) logit > 0.
std::vector<int64_t> predictions(const Tensor& logits);

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int64_t num_classes = 0);
  void add(int64_t truth, int64_t predicted, int64_t count = 1);
  int64_t at(int64_t truth, int64_t predicted) const;
  int64_t num_classes() const { return L_; }
  int64_t total() const;
  int64_t row_total(int64_t truth) const;
  double accuracy() const;                       // trace / total
  std::vector<double> per_class_accuracy() const;  // recall per true class; NaN for an empty row

 private:
  int64_t L_;
  std::vector<int64_t> counts_;  // [L, L], row = truth
};

// logits: [N,L], labels: [N] -> the confusion matrix of argmax predictions (2x2 for L = 1).
ConfusionMatrix confusion_matrix(const Tensor& logits, const Tensor& labels);

// Precision, recall, F1 and support (images per true class) of every class. A 0/0 (a class
// never predicted, or without images) counts as 0, as scikit-learn's zero_division=0. The
// averages are over the classes that occur (have images or predictions), as scikit-learn's
// average="macro" (plain mean) and "weighted" (weighted by support) with its default labels.
struct ClassMetrics {
  std::vector<double> precision, recall, f1;
  std::vector<int64_t> support;
  double macro_precision = 0, macro_recall = 0, macro_f1 = 0;
  double weighted_precision = 0, weighted_recall = 0, weighted_f1 = 0;
};
ClassMetrics class_metrics(const ConfusionMatrix& cm);

// The ROC curve of scores (higher = more likely positive) against labels (1 positive, 0
// negative): one point per distinct score, from the highest down, after a first (0,0) whose
// threshold is +infinity — scikit-learn's roc_curve(drop_intermediate=False). The area is by the
// trapezoid rule (= the chance that a random positive scores above a random negative, ties
// half). NaN when one of the two classes has no image.
struct RocCurve {
  std::vector<double> fpr, tpr, thresholds;
  double auc = 0;
};
RocCurve roc_curve(const std::vector<double>& scores, const std::vector<int64_t>& labels);

// One image among the top losses.
struct ImageLoss {
  int64_t index = 0;     // position in the order the images were added
  std::string source;    // its file (when the caller gave sources)
  int64_t truth = 0, predicted = 0;
  double probability = 0;  // of the predicted class
  double loss = 0;         // cross-entropy (BCE for one output) of this image
};

struct EvalResult {
  int64_t count = 0;
  int64_t k = 5;        // the k of topk (clamped to the number of classes)
  double top1 = 0, topk = 0, mean_cross_entropy = 0;
  ConfusionMatrix confusion;
  std::vector<double> per_class;  // accuracy per true class (NaN where a class has no images)
  ClassMetrics classes;           // precision / recall / F1
  bool binary = false;            // two classes (one output, or two): roc is set
  RocCurve roc;                   // of P(class 1)
  std::vector<ImageLoss> top_losses;  // highest loss first (ties: added first)
};

// Adds batches of logits and labels (CPU or CUDA; copied to the host), then summarises.
// top_losses: how many of the worst images to keep (0: none); sources (optional, one per row)
// are their file names.
class EvalAccumulator {
 public:
  explicit EvalAccumulator(int64_t k = 5, int64_t top_losses = 0) : k_(k), keep_(top_losses) {}
  void add(const Tensor& logits, const Tensor& labels,
           const std::vector<std::string>& sources = {});  // logits: [B,L], labels: [B]
  EvalResult result() const;

 private:
  int64_t k_, keep_, L_ = -1, count_ = 0, top1_hits_ = 0, topk_hits_ = 0;
  double ce_sum_ = 0;
  ConfusionMatrix confusion_;
  std::vector<double> scores_;     // P(class 1) per image, two classes only
  std::vector<int64_t> labels_;    // ... and its label
  std::vector<ImageLoss> worst_;   // at most 2 * keep_, trimmed as it grows
};

// A text report: the headline numbers, then precision / recall (= accuracy) / F1 per class with
// their averages, the confusion matrix, the ROC AUC (two classes) and the top losses.
// class_names may be empty (indices are used).
std::string format_eval_table(const EvalResult& r, const std::vector<std::string>& class_names);
// The same as JSON: {"count":..,"top1":..,"top5":..,"mean_cross_entropy":..,
//  "classes":[..],"per_class_accuracy":{name:acc},"confusion_matrix":[[..],..],
//  "precision":{name:..},"recall":{..},"f1":{..},"support":{..},
//  "macro_avg":{"precision":..,"recall":..,"f1":..},"weighted_avg":{..},
//  ["roc_auc":..,"roc_curve":{"positive":name,"fpr":[..],"tpr":[..],"thresholds":[null,..]},]
//  "top_losses":[{"file":..,"index":..,"true":..,"predicted":..,"probability":..,"loss":..},..]}
std::string eval_json(const EvalResult& r, const std::vector<std::string>& class_names);

// Left-aligned text columns (first column left, numbers right), a header row and a rule.
std::string format_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

// ---- a tiny JSON writer ----------------------------------------------------------------------
// Builds compact JSON text; commas are inserted automatically. NaN and infinities (not valid
// JSON) are written as null.
//   JsonWriter j; j.begin_object().key("top1").value(0.9).key("names").begin_array()
//    .value("cat").end_array().end_object();  j.str() == R"({"top1":0.9,"names":["cat"]})"
class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(const std::string& k);
  JsonWriter& value(const std::string& s);
  JsonWriter& value(const char* s) { return value(std::string(s)); }
  JsonWriter& value(double v);
  JsonWriter& value(int64_t v);
  JsonWriter& value(int v) { return value(static_cast<int64_t>(v)); }
  JsonWriter& value(bool b);
  JsonWriter& null();
  const std::string& str() const { return out_; }
  static std::string escape(const std::string& s);  // with the quotes

 private:
  void before_value();
  std::string out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

}  // namespace graft
