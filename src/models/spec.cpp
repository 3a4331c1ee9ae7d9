// src/models/spec.cpp — parsing specs and inferring shapes (see spec.h). The modules are made
// in spec_build.cpp.
#include "models/spec.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <map>

#include "data/text.h"  // closest_match
#include "tensor/check.h"

namespace graft {

namespace {

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\n"), b = s.find_last_not_of(" \t\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// "<what>: <msg>\n  <spec>\n  <caret under column>"
[[noreturn]] void fail_at(const std::string& what, const std::string& spec, size_t column, const std::string& msg) {
  std::string caret = column > 0 ? std::string(column - 1, ' ') + "^" : "";
  GRAFT_FAIL(what, msg, "\n  ", spec, "\n  ", caret);
}

constexpr int64_t kMaxArgument = int64_t(1) << 24;  // 16777216

// One argument slot of a layer: its name, aliases, and whether it must be given.
struct Param {
  std::string name;
  bool required;
  std::vector<std::string> aliases = {};
};
struct Kind {
  std::string name;
  std::vector<Param> params;
  std::vector<std::string> aliases;
};

const std::vector<Kind>& kinds() {
  static const std::vector<Kind> k = {
      {"conv", {{"out", true}, {"kernel", true, {"k", "kernel_size"}}, {"stride", false, {"s"}},
                {"padding", false, {"pad", "p"}}, {"bias", false}}, {"conv2d"}},
      {"maxpool", {{"kernel", true, {"k", "kernel_size"}}, {"stride", false, {"s"}}, {"padding", false, {"pad", "p"}}},
       {"maxpool2d"}},
      {"avgpool", {{"kernel", true, {"k", "kernel_size"}}, {"stride", false, {"s"}}, {"padding", false, {"pad", "p"}}},
       {"avgpool2d"}},
      {"adaptiveavgpool", {{"h", true}, {"w", false}}, {"adaptiveavgpool2d", "adaptive_avg_pool"}},
      {"bn", {}, {"batchnorm", "batchnorm2d", "bn2d"}},
      {"relu", {}, {}},
      {"sigmoid", {}, {}},
      {"dropout", {{"p", false}}, {}},
      {"flatten", {}, {}},
      {"linear", {{"out", true}, {"bias", false}}, {"fc", "dense"}},
      {"logsoftmax", {}, {"log_softmax"}},
      {"softmax", {}, {}},
      {"identity", {}, {}},
  };
  return k;
}

const Kind* find_kind(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& k : kinds()) {
    if (k.name == lower) return &k;
    for (const auto& a : k.aliases)
      if (a == lower) return &k;
  }
  return nullptr;
}

std::string signature(const Kind& k) {
  if (k.params.empty()) return k.name;
  std::string s = k.name + "(";
  for (size_t i = 0; i < k.params.size(); ++i)
    s += (i ? ", " : "") + (k.params[i].required ? k.params[i].name : "[" + k.params[i].name + "]");
  return s + ")";
}

// Parses a layer's arguments into a name -> text map following its parameter list.
class Binder {
 public:
  Binder(const std::string& what, const std::string& spec, const SpecToken& t, const Kind& k, int64_t num_classes)
      : what_(what), spec_(spec), t_(t), n_(num_classes) {
    if (t.args.size() > k.params.size())
      fail(k.params.empty() ? k.name + " takes no arguments" :
           "too many arguments (" + std::to_string(t.args.size()) + "); expected " + signature(k));
    bool named_seen = false;
    for (size_t i = 0; i < t.args.size(); ++i) {
      const std::string& a = t.args[i];
      if (a.empty()) fail("empty argument " + std::to_string(i + 1) + "; expected " + signature(k));
      auto eq = a.find('=');
      if (eq == std::string::npos) {
        if (named_seen) fail("positional argument '" + a + "' after a named one");
        values_[k.params[i].name] = a;
        continue;
      }
      named_seen = true;
      std::string key = trim(a.substr(0, eq)), value = trim(a.substr(eq + 1));
      const Param* p = nullptr;
      std::vector<std::string> names;
      for (const auto& q : k.params) {
        names.push_back(q.name);
        if (q.name == key || std::find(q.aliases.begin(), q.aliases.end(), key) != q.aliases.end()) p = &q;
      }
      if (!p) {
        std::string hint = closest_match(key, names);
        fail("unknown argument '" + key + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
             "; expected " + signature(k));
      }
      if (values_.count(p->name)) fail("argument '" + p->name + "' given twice");
      values_[p->name] = value;
    }
    for (const auto& p : k.params)
      if (p.required && !values_.count(p.name)) fail("missing argument '" + p.name + "'; expected " + signature(k));
  }

  bool has(const std::string& name) const { return values_.count(name) > 0; }

  int64_t integer(const std::string& name, int64_t def, int64_t min) const {
    auto it = values_.find(name);
    if (it == values_.end()) return def;
    const std::string& v = it->second;
    int64_t x;
    if (v == "n") {
      if (n_ < 0) fail("'n' (the number of classes) is not known here; write a number");
      x = n_;
    } else {
      errno = 0;
      char* end = nullptr;
      long long r = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end || errno) fail("argument '" + name + "' must be an integer, got '" + v + "'");
      x = r;
    }
    if (x < min) fail("argument '" + name + "' must be at least " + std::to_string(min) + ", got " + std::to_string(x));
    // Sizes, kernels, strides and paddings far beyond any network: also keeps the shape
    // arithmetic below (in + 2 * padding, C * H * W) from overflowing int64.
    if (x > kMaxArgument)
      fail("argument '" + name + "' must be at most " + std::to_string(kMaxArgument) + ", got " + std::to_string(x));
    return x;
  }

  float real(const std::string& name, float def, float lo, float hi) const {
    auto it = values_.find(name);
    if (it == values_.end()) return def;
    char* end = nullptr;
    float x = std::strtof(it->second.c_str(), &end);
    if (it->second.empty() || *end) fail("argument '" + name + "' must be a number, got '" + it->second + "'");
    if (!(x >= lo && x < hi))
      fail("argument '" + name + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "), got " + it->second);
    return x;
  }

  [[noreturn]] void fail(const std::string& msg) const {
    fail_at(what_, spec_, t_.position,
            msg + " in '" + t_.text + "' (layer " + std::to_string(t_.index) + ", column " + std::to_string(t_.position) + ")");
  }

 private:
  const std::string &what_, &spec_;
  const SpecToken& t_;
  int64_t n_;
  std::map<std::string, std::string> values_;
};

// The most values one sample may have at any layer (2^40 floats: 4 TB).
constexpr int64_t kMaxValues = int64_t(1) << 40;
// The product of a shape, or -1 when it is above kMaxValues (without overflowing on the way).
int64_t bounded_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s)
    if (__builtin_mul_overflow(n, d, &n) || n > kMaxValues) return -1;
  return n;
}

int64_t window_output(int64_t in, int64_t k, int64_t s, int64_t p) { return (in + 2 * p - k) / s + 1; }

}  // namespace

std::vector<SpecToken> tokenize_spec(const std::string& spec, const std::string& what) {
  std::vector<SpecToken> out;
  size_t i = 0, n = spec.size();
  while (i < n) {
    unsigned char c = spec[i];
    if (std::isspace(c) || c == ',') {  // commas between layers are allowed too
      ++i;
      continue;
    }
    if (!(std::isalpha(c) || c == '_'))
      fail_at(what, spec, i + 1, std::string("unexpected character '") + spec[i] + "' at column " + std::to_string(i + 1) +
                                     "; expected a layer name such as conv(8,5) or relu");
    SpecToken t;
    t.position = i + 1;
    t.index = out.size() + 1;
    size_t start = i;
    while (i < n && (std::isalnum((unsigned char)spec[i]) || spec[i] == '_')) ++i;
    t.name = spec.substr(start, i - start);
    size_t j = i;
    while (j < n && spec[j] == ' ') ++j;
    if (j < n && spec[j] == '(') {
      size_t close = spec.find(')', j);
      size_t nested = spec.find('(', j + 1);
      if (close == std::string::npos || (nested != std::string::npos && nested < close))
        fail_at(what, spec, j + 1, "'(' at column " + std::to_string(j + 1) + " after '" + t.name + "' is never closed");
      std::string inside = spec.substr(j + 1, close - j - 1);
      if (!trim(inside).empty()) {
        size_t a = 0;
        while (true) {
          size_t comma = inside.find(',', a);
          t.args.push_back(trim(inside.substr(a, comma == std::string::npos ? std::string::npos : comma - a)));
          if (comma == std::string::npos) break;
          a = comma + 1;
        }
      }
      i = close + 1;
    } else if (j < n && spec[j] == ')') {
      fail_at(what, spec, j + 1, "')' at column " + std::to_string(j + 1) + " without a matching '('");
    }
    t.text = spec.substr(start, i - start);
    out.push_back(std::move(t));
  }
  GRAFT_CHECK(!out.empty(), what, "empty; expected layers such as 'linear(256) relu linear(n)'");
  return out;
}

std::string LayerPlan::describe() const {
  auto s = [](int64_t v) { return std::to_string(v); };
  if (kind == "conv")
    return "Conv2d(" + s(in) + ", " + s(out) + ", kernel_size=" + s(kernel) + ", stride=" + s(stride) +
           (padding ? ", padding=" + s(padding) : "") + (bias ? "" : ", bias=False") + ")";
  if (kind == "maxpool" || kind == "avgpool")
    return std::string(kind == "maxpool" ? "MaxPool2d" : "AvgPool2d") + "(kernel_size=" + s(kernel) + ", stride=" + s(stride) +
           ", padding=" + s(padding) + ")";
  if (kind == "adaptiveavgpool") return "AdaptiveAvgPool2d(output_size=(" + s(out_h) + ", " + s(out_w) + "))";
  if (kind == "bn") return "BatchNorm2d(" + s(in) + ")";
  if (kind == "linear") return "Linear(" + s(in) + ", " + s(out) + (bias ? "" : ", bias=False") + ")";
  if (kind == "dropout") {
    char b[32];
    std::snprintf(b, sizeof b, "Dropout(p=%g)", p);
    return b;
  }
  static const std::map<std::string, std::string> plain = {{"relu", "ReLU()"}, {"sigmoid", "Sigmoid()"},
      {"flatten", "Flatten()"}, {"logsoftmax", "LogSoftmax(dim=1)"}, {"softmax", "Softmax(dim=1)"}, {"identity", "Identity()"}};
  return plain.at(kind);
}

std::vector<LayerPlan> plan_spec(const std::string& spec, const Shape& input_shape, int64_t num_classes,
                                 const std::string& what) {
  GRAFT_CHECK(input_shape.size() == 1 || input_shape.size() == 3, what, "the input shape must be [C,H,W] or [F], got ",
              input_shape);
  for (int64_t d : input_shape)
    GRAFT_CHECK(d >= 1, what, "the input shape must have sizes >= 1, got ", input_shape);
  GRAFT_CHECK(bounded_numel(input_shape) > 0, what, "the input shape ", input_shape, " has more than 2^40 values");
  std::vector<LayerPlan> plans;
  Shape shape = input_shape;
  for (const SpecToken& t : tokenize_spec(spec, what)) {
    const Kind* kind = find_kind(t.name);
    if (!kind) {
      std::vector<std::string> names;
      for (const auto& k : kinds()) names.push_back(k.name);
      std::string hint = closest_match(t.name, names), list;
      for (const auto& k : names) list += (list.empty() ? "" : ", ") + k;
      fail_at(what, spec, t.position, "unknown layer '" + t.name + "' (layer " + std::to_string(t.index) + ", column " +
                                          std::to_string(t.position) + ")" +
                                          (hint.empty() ? "" : "; did you mean '" + hint + "'?") + "; known layers: " + list);
    }
    Binder b(what, spec, t, *kind, num_classes);
    LayerPlan p;
    p.kind = kind->name;
    p.token = t;
    p.in_shape = shape;
    auto need_image = [&] {
      if (shape.size() != 3)
        b.fail(p.kind + " needs an image-shaped input [C,H,W], but its input is " + shape_str(shape) +
               " (after flatten or linear); move it before 'flatten'");
    };
    auto need_flat = [&] {
      if (shape.size() != 1)
        b.fail(p.kind + " needs a flat input [F], but its input is " + shape_str(shape) + "; add 'flatten' before it");
    };
    const std::string& k = p.kind;
    if (k == "conv" || k == "maxpool" || k == "avgpool") {
      need_image();
      p.kernel = b.integer("kernel", 0, 1);
      p.stride = b.integer("stride", k == "conv" ? 1 : p.kernel, 1);
      p.padding = b.integer("padding", 0, 0);
      if (k != "conv" && p.padding > p.kernel / 2)
        b.fail("padding " + std::to_string(p.padding) + " must be at most half the kernel (" + std::to_string(p.kernel) + ")");
      int64_t H = window_output(shape[1], p.kernel, p.stride, p.padding);
      int64_t W = window_output(shape[2], p.kernel, p.stride, p.padding);
      if (shape[1] + 2 * p.padding < p.kernel || shape[2] + 2 * p.padding < p.kernel || H < 1 || W < 1)
        b.fail("the input " + shape_str(shape) + " is smaller than the " + std::to_string(p.kernel) + "x" +
               std::to_string(p.kernel) + " window; use a larger input or fewer pooling layers");
      p.in = shape[0];
      p.out = k == "conv" ? b.integer("out", 0, 1) : shape[0];
      p.bias = b.integer("bias", 1, 0) != 0;
      shape = {p.out, H, W};
    } else if (k == "adaptiveavgpool") {
      need_image();
      p.out_h = b.integer("h", 0, 1);
      p.out_w = b.integer("w", p.out_h, 1);
      p.in = p.out = shape[0];
      shape = {shape[0], p.out_h, p.out_w};
    } else if (k == "bn") {
      need_image();
      p.in = p.out = shape[0];
    } else if (k == "flatten") {
      shape = {bounded_numel(shape)};  // the shape is checked at every layer: within 2^40
    } else if (k == "linear") {
      need_flat();
      p.in = shape[0];
      p.out = b.integer("out", 0, 1);
      p.bias = b.integer("bias", 1, 0) != 0;
      shape = {p.out};
    } else if (k == "logsoftmax" || k == "softmax") {
      need_flat();
    } else if (k == "dropout") {
      p.p = b.real("p", 0.5f, 0.0f, 1.0f);
    }
    if (bounded_numel(shape) < 0)
      b.fail("its output " + shape_str(shape) + " would have more than 2^40 values per sample; use smaller sizes");
    p.out_shape = shape;
    plans.push_back(std::move(p));
  }
  return plans;
}

}  // namespace graft
