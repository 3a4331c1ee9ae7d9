// src/models/spec_build.cpp — making modules from the LayerPlans of spec.cpp.
#include <stdexcept>

#include "layers/activation.h"
#include "layers/adaptive_avg_pool2d.h"
#include "layers/basic.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/linear.h"
#include "layers/pool2d.h"
#include "layers/sequential.h"
#include "layers/softmax.h"
#include "tensor/check.h"
#include "models/spec.h"

namespace graft {

ModulePtr build_layer(const LayerPlan& p) {
  const std::string& k = p.kind;
  if (k == "conv") return std::make_shared<Conv2d>(p.in, p.out, p.kernel, p.stride, p.padding, p.bias);
  if (k == "maxpool") return std::make_shared<MaxPool2d>(p.kernel, p.stride, p.padding);
  if (k == "avgpool") return std::make_shared<AvgPool2d>(p.kernel, p.stride, p.padding);
  if (k == "adaptiveavgpool") return std::make_shared<AdaptiveAvgPool2d>(p.out_h, p.out_w);
  if (k == "bn") return std::make_shared<BatchNorm2d>(p.in);
  if (k == "relu") return std::make_shared<ReLU>();
  if (k == "sigmoid") return std::make_shared<Sigmoid>();
  if (k == "dropout") return std::make_shared<Dropout>(p.p);
  if (k == "flatten") return std::make_shared<Flatten>();
  if (k == "linear") return std::make_shared<Linear>(p.in, p.out, p.bias);
  if (k == "logsoftmax") return std::make_shared<LogSoftmax>(1);
  if (k == "softmax") return std::make_shared<Softmax>(1);
  if (k == "identity") return std::make_shared<Identity>();
  GRAFT_ASSERT(false, "build_layer", "no module for layer kind '", k, "'");
  return nullptr;
}

std::shared_ptr<Sequential> build_sequential(const std::vector<LayerPlan>& plans) {
  auto seq = std::make_shared<Sequential>();
  for (const auto& p : plans) seq->add(build_layer(p));  // named "0", "1", ... as nn.Sequential
  return seq;
}

SpecModel build_spec_model(const std::string& spec, const Shape& input_shape, const std::string& prefix,
                           int64_t num_classes) {
  SpecModel m;
  m.plan = plan_spec(spec, input_shape, num_classes, "model spec");
  m.output_shape = m.plan.back().out_shape;
  m.body = build_sequential(m.plan);
  m.model = m.body;
  // "a.b" -> Sequential{a: Sequential{b: body}}: forward passes straight through each wrapper.
  std::string rest = prefix;
  while (!rest.empty()) {
    size_t dot = rest.rfind('.');
    std::string name = dot == std::string::npos ? rest : rest.substr(dot + 1);
    GRAFT_CHECK(!name.empty(), "model spec", "prefix '", prefix, "' has an empty name part");
    auto wrapper = std::make_shared<Sequential>();
    wrapper->add(name, m.model);
    m.model = wrapper;
    rest = dot == std::string::npos ? "" : rest.substr(0, dot);
  }
  return m;
}

ModulePtr build_head(const std::string& spec, int64_t in_features, int64_t num_classes) {
  const std::vector<LayerPlan> plans = plan_spec(spec, {in_features}, num_classes, "head spec");
  if (plans.size() == 1) return build_layer(plans[0]);  // model.fc = nn.Linear(512, n): "fc.weight"
  return build_sequential(plans);
}

int64_t input_features(const Module& m, const std::string& name) {
  if (auto* l = dynamic_cast<const Linear*>(&m)) return l->in_features;
  if (auto* s = dynamic_cast<const Sequential*>(&m); s && s->size() > 0) return input_features(*(*s)[0], name + ".0");
  GRAFT_FAIL("head", "cannot tell how many features '", name, "' (", m.type(),
             ") takes; the module replaced by a head must be a Linear (or a Sequential starting with one)");
}

ModulePtr replace_with_head(Module& model, const std::string& name, const std::string& spec, int64_t num_classes) {
  ModulePtr old = model.get(name);
  auto head = build_head(spec, input_features(*old, name), num_classes);
  model.replace(name, head);
  return head;
}

}  // namespace graft
