// tools/lib/onnx_export.cpp — see onnx_export.h.
#include "onnx_export.h"

#include <cstring>
#include <map>

#include "autograd/engine.h"
#include "layers/adaptive_avg_pool2d.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/pool2d.h"
#include "layers/sequential.h"
#include "models/models.h"
#include "tensor/check.h"

namespace graft::tools {
namespace {

// A protobuf message being written: fields appended in any order, as the wire format allows.
class Proto {
 public:
  Proto& integer(int field, int64_t v) {  // int64 / enum: wire type 0 (varint)
    tag(field, 0);
    varint(static_cast<uint64_t>(v));
    return *this;
  }
  Proto& bytes(int field, const std::string& v) {  // string / bytes / message: wire type 2
    tag(field, 2);
    varint(v.size());
    out_ += v;
    return *this;
  }
  Proto& message(int field, const Proto& m) { return bytes(field, m.out_); }
  Proto& real(int field, float v) {  // float: wire type 5, 4 bytes little-endian
    tag(field, 5);
    char b[4];
    std::memcpy(b, &v, 4);
    out_.append(b, 4);
    return *this;
  }
  const std::string& str() const { return out_; }

 private:
  void tag(int field, int wire) { varint(static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire)); }
  void varint(uint64_t v) {
    for (; v >= 0x80; v >>= 7) out_ += static_cast<char>((v & 0x7f) | 0x80);
    out_ += static_cast<char>(v);
  }
  std::string out_;
};

// onnx.proto field numbers.
namespace field {
constexpr int kModelIr = 1, kModelProducer = 2, kModelGraph = 7, kModelOpset = 8;
constexpr int kOpsetDomain = 1, kOpsetVersion = 2;
constexpr int kGraphNode = 1, kGraphName = 2, kGraphInitializer = 5, kGraphInput = 11, kGraphOutput = 12;
constexpr int kNodeInput = 1, kNodeOutput = 2, kNodeName = 3, kNodeOp = 4, kNodeAttribute = 5;
constexpr int kAttrName = 1, kAttrFloat = 2, kAttrInt = 3, kAttrInts = 8, kAttrType = 20;
constexpr int kAttrTypeFloat = 1, kAttrTypeInt = 2, kAttrTypeInts = 7;
constexpr int kTensorDims = 1, kTensorType = 2, kTensorName = 8, kTensorRaw = 9;
constexpr int kFloat = 1;  // TensorProto.DataType.FLOAT
constexpr int kValueName = 1, kValueType = 2, kTypeTensor = 1, kTensorElem = 1, kTensorShape = 2;
constexpr int kShapeDim = 1, kDimValue = 1, kDimParam = 2;
}  // namespace field

Proto attr_int(const std::string& name, int64_t v) {
  return Proto().bytes(field::kAttrName, name).integer(field::kAttrType, field::kAttrTypeInt).integer(field::kAttrInt, v);
}
Proto attr_ints(const std::string& name, const std::vector<int64_t>& v) {
  Proto a;
  a.bytes(field::kAttrName, name).integer(field::kAttrType, field::kAttrTypeInts);
  for (int64_t x : v) a.integer(field::kAttrInts, x);
  return a;
}
Proto attr_float(const std::string& name, float v) {
  return Proto().bytes(field::kAttrName, name).integer(field::kAttrType, field::kAttrTypeFloat).real(field::kAttrFloat, v);
}

Proto value_info(const std::string& name, const std::vector<int64_t>& dims) {  // dims[0] < 0: "batch"
  Proto shape;
  for (int64_t d : dims)
    shape.message(field::kShapeDim, d < 0 ? Proto().bytes(field::kDimParam, "batch") : Proto().integer(field::kDimValue, d));
  Proto tensor;
  tensor.integer(field::kTensorElem, field::kFloat).message(field::kTensorShape, shape);
  return Proto().bytes(field::kValueName, name).message(field::kValueType, Proto().message(field::kTypeTensor, tensor));
}

// The graph under construction: nodes in order, initializers by name.
struct Graph {
  Proto nodes, initializers;
  std::string current = "input";  // the tensor the next node reads
  int counter = 0;

  void initializer(const std::string& name, const Tensor& t) {
    Proto p;
    for (int64_t d : t.shape()) p.integer(field::kTensorDims, d);
    const std::vector<float> v = t.to(Device::CPU).to_vector();
    p.integer(field::kTensorType, field::kFloat).bytes(field::kTensorName, name);
    p.bytes(field::kTensorRaw, std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
    initializers.message(field::kGraphInitializer, p);
  }
  // Appends op(current, extra inputs...) -> a fresh tensor (or `output`), which becomes current.
  void node(const std::string& op, const std::string& name, const std::vector<std::string>& extra = {},
            const std::vector<Proto>& attrs = {}, const std::string& output = "") {
    Proto n;
    n.bytes(field::kNodeInput, current);
    for (const auto& e : extra) n.bytes(field::kNodeInput, e);
    current = !output.empty() ? output : std::string("t").append(std::to_string(counter++));
    n.bytes(field::kNodeOutput, current).bytes(field::kNodeName, name).bytes(field::kNodeOp, op);
    for (const auto& a : attrs) n.message(field::kNodeAttribute, a);
    nodes.message(field::kGraphNode, n);
  }
};

// One layer -> one node (a leaf module: no children).
void emit_layer(Graph& g, const std::string& name, const Module* m, const std::map<const Module*, Shape>& in_shape) {
  {
    const std::string p = name.empty() ? "" : name + ".";  // a model that is one layer: "weight"
    if (auto* c = dynamic_cast<const Conv2d*>(m)) {
      const auto& q = c->params;
      std::vector<std::string> in{p + "weight"};
      g.initializer(p + "weight", c->weight);
      if (c->bias.defined()) g.initializer(p + "bias", c->bias), in.push_back(p + "bias");
      g.node("Conv", name, in,
             {attr_ints("kernel_shape", {c->weight.size(2), c->weight.size(3)}), attr_ints("strides", {q.stride_h, q.stride_w}),
              attr_ints("pads", {q.pad_h, q.pad_w, q.pad_h, q.pad_w}), attr_ints("dilations", {q.dil_h, q.dil_w})});
    } else if (auto* b = dynamic_cast<const BatchNorm2d*>(m)) {
      for (const char* t : {"weight", "bias", "running_mean", "running_var"})
        g.initializer(p + t, t[0] == 'w' ? b->weight : t[0] == 'b' ? b->bias : t[8] == 'm' ? b->running_mean : b->running_var);
      g.node("BatchNormalization", name, {p + "weight", p + "bias", p + "running_mean", p + "running_var"},
             {attr_float("epsilon", b->eps)});
    } else if (auto* l = dynamic_cast<const Linear*>(m)) {
      std::vector<std::string> in{p + "weight"};
      g.initializer(p + "weight", l->weight);
      if (l->bias.defined()) g.initializer(p + "bias", l->bias), in.push_back(p + "bias");
      g.node("Gemm", name, in, {attr_int("transB", 1)});  // y = x W^T + b
    } else if (auto* mp = dynamic_cast<const MaxPool2d*>(m)) {
      const auto& q = mp->params;
      g.node("MaxPool", name, {},
             {attr_ints("kernel_shape", {q.kernel_h, q.kernel_w}), attr_ints("strides", {q.stride_h, q.stride_w}),
              attr_ints("pads", {q.pad_h, q.pad_w, q.pad_h, q.pad_w}), attr_int("ceil_mode", q.ceil_mode)});
    } else if (auto* ap = dynamic_cast<const AvgPool2d*>(m)) {
      const auto& q = ap->params;
      g.node("AveragePool", name, {},
             {attr_ints("kernel_shape", {q.kernel_h, q.kernel_w}), attr_ints("strides", {q.stride_h, q.stride_w}),
              attr_ints("pads", {q.pad_h, q.pad_w, q.pad_h, q.pad_w}), attr_int("ceil_mode", q.ceil_mode),
              attr_int("count_include_pad", q.count_include_pad)});
    } else if (auto* aa = dynamic_cast<const AdaptiveAvgPool2d*>(m)) {
      const Shape& s = in_shape.at(m);
      if (aa->out_h == 1 && aa->out_w == 1) {
        g.node("GlobalAveragePool", name);
      } else {
        GRAFT_CHECK(s[2] % aa->out_h == 0 && s[3] % aa->out_w == 0, "export --onnx", "'", name, "' pools ", s[2], "x",
                    s[3], " to ", aa->out_h, "x", aa->out_w, ", which is not a plain average pool (the sizes do not divide)");
        const int64_t kh = s[2] / aa->out_h, kw = s[3] / aa->out_w;
        g.node("AveragePool", name, {}, {attr_ints("kernel_shape", {kh, kw}), attr_ints("strides", {kh, kw})});
      }
    } else if (m->type() == "Flatten") {
      g.node("Flatten", name, {}, {attr_int("axis", 1)});
    } else if (m->type() == "ReLU" || m->type() == "Sigmoid") {
      g.node(m->type() == "ReLU" ? "Relu" : "Sigmoid", name);
    } else if (m->type() == "Softmax" || m->type() == "LogSoftmax") {
      g.node(m->type(), name, {}, {attr_int("axis", 1)});
    } else if (m->type() == "Dropout" || m->type() == "Identity") {
      g.node("Identity", name);  // dropout does nothing at inference
    } else {
      GRAFT_FAIL("export --onnx", "module '", name, "' is a ", m->type(), ", which graft's ONNX export does not handle yet");
    }
  }
}

// A module and everything below it: chains (Sequential), ResNet's BasicBlock (conv-bn-relu-conv-bn,
// plus the identity or the downsample, then ReLU: an Add node) and ResNet18 itself (its children
// in order, with the flatten of its forward() after avgpool).
void emit(Graph& g, const std::string& name, const Module& m, const std::map<const Module*, Shape>& in_shape) {
  auto child = [&](const std::string& n, const ModulePtr& c) { emit(g, name.empty() ? n : name + "." + n, *c, in_shape); };
  if (dynamic_cast<const Sequential*>(&m)) {
    for (const auto& [n, c] : m.children()) child(n, c);
  } else if (m.type() == "BasicBlock") {
    const std::string x = g.current;
    for (const char* n : {"conv1", "bn1", "relu", "conv2", "bn2"}) child(n, m.get(n));
    const std::string main = g.current;
    std::string identity = x;
    if (m.has("downsample") && !m.get("downsample")->children().empty()) {
      g.current = x;
      child("downsample", m.get("downsample"));
      identity = g.current;
    }
    g.current = main;
    g.node("Add", name + ".add", {identity});
    g.node("Relu", name + ".relu_out");
  } else if (model_arch(m) == "resnet18") {
    for (const auto& [n, c] : m.children()) {
      child(n, c);
      if (n == "avgpool") g.node("Flatten", "flatten", {}, {attr_int("axis", 1)});
    }
  } else if (m.children().empty()) {
    emit_layer(g, name, &m, in_shape);
  } else {
    GRAFT_FAIL("export --onnx", "module '", name.empty() ? m.type() : name, "' (", m.type(),
               ") has branches graft's ONNX export does not handle yet; it exports chains of layers (spec models, "
               "heads) and ResNet18");
  }
}

}  // namespace

std::string onnx_model_bytes(Module& model, const Shape& input_shape, const std::string& graph_name) {
  // Each layer's input shape (AdaptiveAvgPool2d needs it), from one forward pass in eval mode.
  std::map<const Module*, Shape> in_shape;
  Shape out_shape;
  {
    NoGradGuard no_grad;
    model.eval();
    HookHandle h = add_global_forward_hook([&](Module& m, const std::vector<Tensor>& in, const Tensor&) {
      if (!in.empty()) in_shape[&m] = in[0].shape();
      return Tensor();
    });
    Shape one = input_shape;
    one.insert(one.begin(), 1);
    Device dev = Device::CPU;
    for (const auto& [n, p] : model.named_parameters()) dev = p.device();
    out_shape = model(Tensor::zeros(one).to(dev)).shape();
  }
  Graph g;
  emit(g, "", model, in_shape);
  GRAFT_CHECK(g.counter > 0, "export --onnx", "the model has no layers");
  g.node("Identity", "output", {}, {}, "output");
  std::vector<int64_t> in_dims{-1}, out_dims{-1};
  in_dims.insert(in_dims.end(), input_shape.begin(), input_shape.end());
  out_dims.insert(out_dims.end(), out_shape.begin() + 1, out_shape.end());
  // GraphProto: nodes, name, initializers, input, output (a message is its fields concatenated).
  Proto rest;
  rest.bytes(field::kGraphName, graph_name);
  rest.message(field::kGraphInput, value_info("input", in_dims)).message(field::kGraphOutput, value_info("output", out_dims));
  const std::string body = g.nodes.str() + g.initializers.str() + rest.str();
  Proto model_proto;
  model_proto.integer(field::kModelIr, 7).bytes(field::kModelProducer, "graft").bytes(field::kModelGraph, body);
  model_proto.message(field::kModelOpset, Proto().bytes(field::kOpsetDomain, "").integer(field::kOpsetVersion, 13));
  return model_proto.str();
}

}  // namespace graft::tools
