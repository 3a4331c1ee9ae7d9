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
constexpr int kFloat = 1, kInt64 = 7;  // TensorProto.DataType FLOAT, INT64
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
  void initializer_int64(const std::string& name, const std::vector<int64_t>& v) {  // a 1-D INT64 tensor (shapes)
    Proto p;
    p.integer(field::kTensorDims, static_cast<int64_t>(v.size())).integer(field::kTensorType, field::kInt64);
    p.bytes(field::kTensorName, name);
    p.bytes(field::kTensorRaw, std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int64_t)));
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

const Shape& input_shape_of(const std::map<const Module*, Shape>& in_shape, const Module* m, const std::string& name) {
  auto it = in_shape.find(m);
  GRAFT_CHECK(it != in_shape.end(), "export --onnx", "module '", name, "' did not run in the model's forward pass");
  return it->second;
}

// AdaptiveAvgPool2d(OH,OW) on [N,C,H,W] (H, W fixed by the exported input size), exactly:
//   OH = OW = 1                  GlobalAveragePool
//   H = OH and W = OW            Identity (VGG16's 7x7 on 224x224 inputs)
//   OH | H and OW | W            AveragePool, kernel = stride = (H/OH, W/OW): PyTorch's bins
//                                [floor(i H/OH), ceil((i+1) H/OH)) are then those windows
//   otherwise                    the pooling is still linear in x with a fixed matrix: Reshape
//                                [N*C, H*W] -> Gemm with M [OH*OW, H*W] (transB) -> Reshape
//                                [N, C, OH, OW]; M[(i,j), (h,w)] = 1/area of bin (i,j) where
//                                (h,w) lies in it (bins overlap, or repeat pixels when OH > H:
//                                VGG16's 7x7 from 2x2 on 64x64 inputs). Exact up to float sums.
void emit_adaptive_avg_pool(Graph& g, const std::string& name, const Shape& s, int64_t OH, int64_t OW) {
  const int64_t C = s[1], H = s[2], W = s[3];
  if (OH == 1 && OW == 1) {
    g.node("GlobalAveragePool", name);
  } else if (H == OH && W == OW) {
    g.node("Identity", name);
  } else if (H % OH == 0 && W % OW == 0) {
    const int64_t kh = H / OH, kw = W / OW;
    g.node("AveragePool", name, {}, {attr_ints("kernel_shape", {kh, kw}), attr_ints("strides", {kh, kw})});
  } else {
    std::vector<float> M(static_cast<size_t>(OH * OW * H * W), 0.0f);
    for (int64_t i = 0; i < OH; ++i) {
      const int64_t h0 = i * H / OH, h1 = ((i + 1) * H + OH - 1) / OH;
      for (int64_t j = 0; j < OW; ++j) {
        const int64_t w0 = j * W / OW, w1 = ((j + 1) * W + OW - 1) / OW;
        const float inv_area = 1.0f / static_cast<float>((h1 - h0) * (w1 - w0));
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) M[(i * OW + j) * H * W + h * W + w] = inv_area;
      }
    }
    g.initializer(name + ".bins", Tensor::from_vector({OH * OW, H * W}, M));
    g.initializer_int64(name + ".planes", {-1, H * W});
    g.initializer_int64(name + ".shape", {-1, C, OH, OW});
    g.node("Reshape", name + ".to_planes", {name + ".planes"});
    g.node("Gemm", name, {name + ".bins"}, {attr_int("transB", 1)});  // [N*C, H*W] -> [N*C, OH*OW]
    g.node("Reshape", name + ".to_maps", {name + ".shape"});
  }
}

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
      emit_adaptive_avg_pool(g, name, input_shape_of(in_shape, m, name), aa->out_h, aa->out_w);
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

// What an architecture's forward() does between its children without a module (a plain
// function call there, so no child to export): nodes appended after the child of that name.
//   resnet18 and vgg16: torch.flatten after avgpool;
//   densenet121: F.relu, adaptive_avg_pool2d(1) and flatten after features.
void emit_between_children(Graph& g, const std::string& arch, const std::string& child) {
  if ((arch == "resnet18" || arch == "vgg16") && child == "avgpool") {
    g.node("Flatten", "flatten", {}, {attr_int("axis", 1)});
  } else if (arch == "densenet121" && child == "features") {
    g.node("Relu", "relu");
    g.node("GlobalAveragePool", "adaptive_avg_pool");
    g.node("Flatten", "flatten", {}, {attr_int("axis", 1)});
  }
}

// A module and everything below it: chains (Sequential, DenseNet's _DenseLayer), ResNet's
// BasicBlock (conv-bn-relu-conv-bn, plus the identity or the downsample, then ReLU: an Add
// node), DenseNet's _DenseBlock (Concat nodes) and the three architectures (their children in
// order, with what their forward() does between them: emit_between_children).
void emit(Graph& g, const std::string& name, const Module& m, const std::map<const Module*, Shape>& in_shape) {
  auto child = [&](const std::string& n, const ModulePtr& c) { emit(g, name.empty() ? n : name + "." + n, *c, in_shape); };
  const std::string arch = model_arch(m);
  if (dynamic_cast<const Sequential*>(&m) || m.type() == "_DenseLayer") {
    for (const auto& [n, c] : m.children()) child(n, c);  // _DenseLayer: norm1 relu1 conv1 norm2 relu2 conv2
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
  } else if (m.type() == "_DenseBlock") {
    // features = [x]; each layer reads the concatenation (along channels) of all before it and
    // appends its new [N,32,H,W]; the block outputs the concatenation of them all.
    std::vector<std::string> features{g.current};
    auto concat = [&](const std::string& node_name) {
      g.current = features[0];
      if (features.size() > 1)
        g.node("Concat", node_name, std::vector<std::string>(features.begin() + 1, features.end()), {attr_int("axis", 1)});
    };
    for (const auto& [n, layer] : m.children()) {
      concat(name + "." + n + ".cat");
      child(n, layer);
      features.push_back(g.current);
    }
    concat(name + ".cat");
  } else if (arch == "resnet18" || arch == "vgg16" || arch == "densenet121") {
    for (const auto& [n, c] : m.children()) {
      child(n, c);
      emit_between_children(g, arch, n);
    }
  } else if (m.children().empty()) {
    emit_layer(g, name, &m, in_shape);
  } else {
    GRAFT_FAIL("export --onnx", "module '", name.empty() ? m.type() : name, "' (", m.type(),
               ") has branches graft's ONNX export does not handle; it exports chains of layers (spec models, "
               "heads), VGG16, ResNet18 and DenseNet121");
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
