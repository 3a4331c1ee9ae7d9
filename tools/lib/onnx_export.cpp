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
  // Appends op(current, extra inputs...) -> a fresh tensor, which becomes current.
  void node(const std::string& op, const std::string& name, const std::vector<std::string>& extra,
            const std::vector<Proto>& attrs, bool last) {
    Proto n;
    n.bytes(field::kNodeInput, current);
    for (const auto& e : extra) n.bytes(field::kNodeInput, e);
    current = last ? std::string("output") : std::string("t").append(std::to_string(counter++));
    n.bytes(field::kNodeOutput, current).bytes(field::kNodeName, name).bytes(field::kNodeOp, op);
    for (const auto& a : attrs) n.message(field::kNodeAttribute, a);
    nodes.message(field::kGraphNode, n);
  }
};

// The leaf modules of a chain, in order, with their dotted names (Sequentials flattened).
void leaves(const Module& m, const std::string& prefix, std::vector<std::pair<std::string, const Module*>>& out) {
  if (dynamic_cast<const Sequential*>(&m)) {
    for (const auto& [name, child] : m.children()) leaves(*child, prefix.empty() ? name : prefix + "." + name, out);
    return;
  }
  GRAFT_CHECK(m.children().empty(), "export --onnx", "module '", prefix, "' (", m.type(),
              ") has branches or submodules graft's ONNX export does not handle yet; it exports chains of layers "
              "(spec models and heads)");
  out.emplace_back(prefix, &m);
}

}  // namespace

std::string onnx_model_bytes(Module& model, const Shape& input_shape, const std::string& graph_name) {
  std::vector<std::pair<std::string, const Module*>> chain;
  leaves(model, "", chain);
  GRAFT_CHECK(!chain.empty(), "export --onnx", "the model has no layers");
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
  for (size_t i = 0; i < chain.size(); ++i) {
    const auto& [name, m] = chain[i];
    const bool last = i + 1 == chain.size();
    const std::string p = name + ".";
    if (auto* c = dynamic_cast<const Conv2d*>(m)) {
      const auto& q = c->params;
      std::vector<std::string> in{p + "weight"};
      g.initializer(p + "weight", c->weight);
      if (c->bias.defined()) g.initializer(p + "bias", c->bias), in.push_back(p + "bias");
      g.node("Conv", name, in,
             {attr_ints("kernel_shape", {c->weight.size(2), c->weight.size(3)}), attr_ints("strides", {q.stride_h, q.stride_w}),
              attr_ints("pads", {q.pad_h, q.pad_w, q.pad_h, q.pad_w}), attr_ints("dilations", {q.dil_h, q.dil_w})},
             last);
    } else if (auto* b = dynamic_cast<const BatchNorm2d*>(m)) {
      for (const char* t : {"weight", "bias", "running_mean", "running_var"})
        g.initializer(p + t, t[0] == 'w' ? b->weight : t[0] == 'b' ? b->bias : t[8] == 'm' ? b->running_mean : b->running_var);
      g.node("BatchNormalization", name, {p + "weight", p + "bias", p + "running_mean", p + "running_var"},
             {attr_float("epsilon", b->eps)}, last);
    } else if (auto* l = dynamic_cast<const Linear*>(m)) {
      std::vector<std::string> in{p + "weight"};
      g.initializer(p + "weight", l->weight);
      if (l->bias.defined()) g.initializer(p + "bias", l->bias), in.push_back(p + "bias");
      g.node("Gemm", name, in, {attr_int("transB", 1)}, last);  // y = x W^T + b
    } else if (auto* mp = dynamic_cast<const MaxPool2d*>(m)) {
      const auto& q = mp->params;
      g.node("MaxPool", name, {},
             {attr_ints("kernel_shape", {q.kernel_h, q.kernel_w}), attr_ints("strides", {q.stride_h, q.stride_w}),
              attr_ints("pads", {q.pad_h, q.pad_w, q.pad_h, q.pad_w}), attr_int("ceil_mode", q.ceil_mode)},
             last);
    } else if (auto* ap = dynamic_cast<const AvgPool2d*>(m)) {
      const auto& q = ap->params;
      g.node("AveragePool", name, {},
             {attr_ints("kernel_shape", {q.kernel_h, q.kernel_w}), attr_ints("strides", {q.stride_h, q.stride_w}),
              attr_ints("pads", {q.pad_h, q.pad_w, q.pad_h, q.pad_w}), attr_int("ceil_mode", q.ceil_mode),
              attr_int("count_include_pad", q.count_include_pad)},
             last);
    } else if (auto* aa = dynamic_cast<const AdaptiveAvgPool2d*>(m)) {
      const Shape& s = in_shape.at(m);
      if (aa->out_h == 1 && aa->out_w == 1) {
        g.node("GlobalAveragePool", name, {}, {}, last);
      } else {
        GRAFT_CHECK(s[2] % aa->out_h == 0 && s[3] % aa->out_w == 0, "export --onnx", "'", name, "' pools ", s[2], "x",
                    s[3], " to ", aa->out_h, "x", aa->out_w, ", which is not a plain average pool (the sizes do not divide)");
        const int64_t kh = s[2] / aa->out_h, kw = s[3] / aa->out_w;
        g.node("AveragePool", name, {}, {attr_ints("kernel_shape", {kh, kw}), attr_ints("strides", {kh, kw})}, last);
      }
    } else if (m->type() == "Flatten") {
      g.node("Flatten", name, {}, {attr_int("axis", 1)}, last);
    } else if (m->type() == "ReLU" || m->type() == "Sigmoid") {
      g.node(m->type() == "ReLU" ? "Relu" : "Sigmoid", name, {}, {}, last);
    } else if (m->type() == "Softmax" || m->type() == "LogSoftmax") {
      g.node(m->type(), name, {}, {attr_int("axis", 1)}, last);
    } else if (m->type() == "Dropout" || m->type() == "Identity") {
      g.node("Identity", name, {}, {}, last);  // dropout does nothing at inference
    } else {
      GRAFT_FAIL("export --onnx", "module '", name, "' is a ", m->type(), ", which graft's ONNX export does not handle yet");
    }
  }
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
