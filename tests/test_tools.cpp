// tests/test_tools.cpp — the library behind the graft subcommands (tools/lib): argument
// parsing, network specs, metrics, progress text, reports, checkpoints, early stopping.
// Expected values are worked by hand in the comments (or come from PyTorch reference files).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "args.h"
#include "train/checkpoint.h"
#include "layers/linear.h"
#include "layers/activation.h"
#include "layers/loss.h"
#include "layers/sequential.h"
#include "train/metrics.h"
#include "optim/sgd.h"
#include "progress.h"
#include "report.h"
#include "models/spec.h"
#include "testing.h"

using namespace graft;
using namespace graft::tools;

using testing::TempDir;

namespace {

ArgParser train_parser() {
  ArgParser p("graft train", "Train an image classifier.");
  p.add_string("data", "", "ImageFolder with one folder per class", true);
  p.add_int("epochs", 10, "passes over the training set");
  p.add_float("lr", 1e-3, "learning rate");
  p.add_string("optimizer", "adam", "update rule", false, {"sgd", "adam"});
  p.add_flag("resume", "continue from the last checkpoint");
  p.add_flag("augment", "random flips");
  p.add_positional("images", "extra image files", false, true);
  p.add_example("graft train --data flowers --epochs 5", "train for five epochs");
  return p;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t i = text.find(what); i != std::string::npos; i = text.find(what, i + 1)) ++n;
  return n;
}

}  // namespace

// ---- args -------------------------------------------------------------------------------------

TEST_CASE("args: options in both forms, defaults, flags and positionals") {
  auto p = train_parser();
  Args a = p.parse({"--data", "pets", "--lr=0.01", "--resume", "a.png", "b.png", "--optimizer", "sgd"});
  CHECK(a.get("data") == "pets");
  CHECK(a.get_int("epochs") == 10);  // default
  CHECK_FALSE(a.given("epochs"));
  CHECK(a.given("lr"));
  CHECK(a.get_float("lr") == doctest::Approx(0.01));
  CHECK(a.flag("resume"));
  CHECK_FALSE(a.flag("augment"));
  CHECK(a.get("optimizer") == "sgd");
  CHECK(a.positional("images") == std::vector<std::string>{"a.png", "b.png"});
  CHECK(p.parse({"--data", "x", "--resume", "--no-resume"}).flag("resume") == false);
  CHECK(p.parse({"--data", "x", "--", "--not-an-option"}).positional("images") == std::vector<std::string>{"--not-an-option"});
  CHECK(a.summary().find("--epochs 10") != std::string::npos);
}

TEST_CASE("args: errors name the option and suggest the closest one") {
  auto p = train_parser();
  CHECK_THROWS_WITH_AS(p.parse({"--data", "x", "--lrr", "1"}), "graft train: unknown option '--lrr' (did you mean '--lr'?)",
                       ArgError);
  CHECK_THROWS_WITH_AS(p.parse({"--data", "x", "--epochs", "x"}), "graft train: option --epochs expects an integer, got 'x'",
                       ArgError);
  CHECK_THROWS_WITH_AS(p.parse({"--data", "x", "--epochs", "2.5"}),
                       "graft train: option --epochs expects an integer, got '2.5'", ArgError);
  CHECK_THROWS_WITH_AS(p.parse({"--data", "x", "--lr", "fast"}), "graft train: option --lr expects a number, got 'fast'",
                       ArgError);
  CHECK_THROWS_WITH_AS(p.parse({"--epochs", "3"}), doctest::Contains("missing required option --data"), ArgError);
  CHECK_THROWS_WITH_AS(p.parse({"--data"}), doctest::Contains("option --data needs a value"), ArgError);
  CHECK_THROWS_WITH_AS(p.parse({"--data", "x", "--optimizer", "adm"}),
                       "graft train: option --optimizer expects one of sgd, adam, got 'adm' (did you mean 'adam'?)",
                       ArgError);
  CHECK_THROWS_WITH_AS(p.parse({"--data", "x", "--resume=yes"}), doctest::Contains("is a flag"), ArgError);
  CHECK_THROWS_WITH_AS(p.parse({"--data", "x", "--zzzzzz"}), "graft train: unknown option '--zzzzzz' (see graft train --help)",
                       ArgError);
}

TEST_CASE("args: --help skips validation and the text lists options, defaults and examples") {
  auto p = train_parser();
  CHECK(p.parse({"--help"}).help());  // --data is required, but help must still work
  CHECK(p.parse({"--epochs", "x", "-h"}).help());
  std::string h = p.help();
  CHECK(h.rfind("usage: graft train [options] [<images>...]", 0) == 0);
  CHECK(h.find("--epochs N") != std::string::npos);
  CHECK(h.find("(default: 10)") != std::string::npos);
  CHECK(h.find("(default: 0.001)") != std::string::npos);
  CHECK(h.find("--optimizer sgd|adam") != std::string::npos);
  CHECK(h.find("(required)") != std::string::npos);
  CHECK(h.find("Examples:\n  # train for five epochs\n  graft train --data flowers --epochs 5") != std::string::npos);
}

TEST_CASE("args: shell quoting for the command line in reports") {
  CHECK(shell_join({"graft", "train", "--head", "linear(n) logsoftmax", "--out", "run 1/x", "it's", ""}) ==
        "graft train --head 'linear(n) logsoftmax' --out 'run 1/x' 'it'\\''s' ''");
  auto a = train_parser().parse({"--data", "my pets"});
  CHECK(a.summary().rfind("--data 'my pets' --epochs 10 --lr 0.001 --optimizer adam", 0) == 0);
}

TEST_CASE("args: the dispatcher's exit codes") {
  std::vector<Command> cmds = {
      {"train", "train", [](const std::vector<std::string>& w) { return static_cast<int>(w.size()); }},
      {"eval", "evaluate", [](const std::vector<std::string>&) -> int { throw ArgError("graft eval: bad option"); }},
      {"split", "split", [](const std::vector<std::string>&) -> int { throw std::runtime_error("no such folder"); }}};
  std::FILE* sink = std::tmpfile();  // keeps the test log clean; read back below
  REQUIRE(sink);
  auto run = [&](std::vector<const char*> argv) {
    return dispatch(static_cast<int>(argv.size()), argv.data(), cmds, sink, sink);
  };
  CHECK(run({"graft", "train", "a", "b"}) == 2);  // the command's own return value (2 words)
  CHECK(run({"graft", "train"}) == 0);
  CHECK(run({"graft", "trian"}) == 2);            // unknown command
  CHECK(run({"graft"}) == 2);                     // no command
  CHECK(run({"graft", "--help"}) == 0);
  CHECK(run({"graft", "eval"}) == 2);             // a usage error
  CHECK(run({"graft", "split"}) == 1);            // a runtime error
  std::rewind(sink);
  std::string text;
  for (int c; (c = std::fgetc(sink)) != EOF;) text += static_cast<char>(c);
  std::fclose(sink);
  CHECK(text.find("graft: unknown command 'trian' (did you mean 'train'?)") != std::string::npos);
  CHECK(text.find("  eval   evaluate\n") != std::string::npos);
  CHECK(text.find("graft eval: bad option\n") != std::string::npos);
  CHECK(text.find("graft split: error: no such folder\n") != std::string::npos);
}

TEST_CASE("args: edit distance") {
  CHECK(edit_distance("kitten", "sitting") == 3);  // the textbook example
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("trian", "train") == 1);  // one swap
  CHECK(edit_distance("ca", "abc") == 3);       // no substring edited twice (OSA, not full Damerau: 2)
  CHECK(closest_match("epoch", {"epochs", "lr"}) == "epochs");
  CHECK(closest_match("xyz", {"epochs", "lr"}).empty());
}

// ---- specs ------------------------------------------------------------------------------------

static const char* kSeedCnn = "conv(8,5) relu maxpool(2) conv(4,3) relu maxpool(3) flatten linear(128) relu linear(1)";

TEST_CASE("spec: seed 004's CNN on 64x64 RGB infers every shape") {
  auto plan = plan_spec(kSeedCnn, {3, 64, 64});
  REQUIRE(plan.size() == 10);
  // By hand: 64-5+1 = 60; pool 2 -> 30; 30-3+1 = 28; pool 3 -> floor(28/3) = 9; 4*9*9 = 324.
  CHECK(plan[0].out_shape == Shape{8, 60, 60});
  CHECK(plan[2].out_shape == Shape{8, 30, 30});
  CHECK(plan[3].out_shape == Shape{4, 28, 28});
  CHECK(plan[5].out_shape == Shape{4, 9, 9});
  CHECK(plan[6].out_shape == Shape{324});
  CHECK(plan[7].describe() == "Linear(324, 128)");
  CHECK(plan[9].out_shape == Shape{1});
  CHECK(plan[0].describe() == "Conv2d(3, 8, kernel_size=5, stride=1)");
  CHECK(plan[5].describe() == "MaxPool2d(kernel_size=3, stride=3, padding=0)");
}

TEST_CASE("spec: the built model has nn.Sequential's parameter names and shapes") {
  auto m = build_spec_model(kSeedCnn, {3, 64, 64});
  NamedTensors params = m.model->named_parameters();
  std::vector<std::pair<std::string, Shape>> expected = {
      {"0.weight", {8, 3, 5, 5}}, {"0.bias", {8}},   {"3.weight", {4, 8, 3, 3}}, {"3.bias", {4}},
      {"7.weight", {128, 324}},   {"7.bias", {128}}, {"9.weight", {1, 128}},     {"9.bias", {1}}};
  REQUIRE(params.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CHECK(params[i].first == expected[i].first);
    CHECK(params[i].second.shape() == expected[i].second);
  }
  // 8*3*25+8 + 4*8*9+4 + 128*324+128 + 128+1 = 608 + 292 + 41600 + 129
  CHECK(m.model->num_parameters() == 42629);
  CHECK(m.output_shape == Shape{1});
  Tensor y = (*m.model)(testing::random_tensor({2, 3, 64, 64}, 7));
  CHECK(y.shape() == Shape{2, 1});
}

TEST_CASE("spec: a prefix wraps the Sequential as a PyTorch attribute would") {
  auto m = build_spec_model("conv(4,3) relu flatten linear(n)", {1, 5, 5}, "net.main", 3);
  auto names = m.model->named_parameters();
  REQUIRE(names.size() == 4);
  CHECK(names[0].first == "net.main.0.weight");
  CHECK(names[3].first == "net.main.3.bias");
  CHECK(names[2].second.shape() == Shape{3, 36});  // 4 channels * 3*3 after a 3x3 conv on 5x5
}

TEST_CASE("spec: named arguments, strides and padding") {
  // conv 16 filters, 3x3, stride 2, padding 1 on 32x32: (32+2-3)/2+1 = 16
  auto plan = plan_spec("conv(16, 3, padding=1, stride=2) bn avgpool(2, 1) adaptiveavgpool(3,2) flatten dropout(0.25)",
                        {3, 32, 32});
  CHECK(plan[0].out_shape == Shape{16, 16, 16});
  CHECK(plan[1].describe() == "BatchNorm2d(16)");
  CHECK(plan[2].out_shape == Shape{16, 15, 15});  // (16-2)/1+1
  CHECK(plan[3].out_shape == Shape{16, 3, 2});
  CHECK(plan[4].out_shape == Shape{96});
  CHECK(plan[5].p == doctest::Approx(0.25f));
}

TEST_CASE("spec: errors name the token, the layer number and the column") {
  CHECK_THROWS_WITH_AS(plan_spec("conv(8,5) relu maxpol(2)", {3, 8, 8}),
                       doctest::Contains("unknown layer 'maxpol' (layer 3, column 16); did you mean 'maxpool'?"),
                       std::invalid_argument);
  // The caret sits under column 16 (15 spaces after the two-space indent).
  const std::string caret = "\n  " + std::string(15, ' ') + "^";
  CHECK_THROWS_WITH(plan_spec("conv(8,5) relu maxpol(2)", {3, 8, 8}), doctest::Contains(caret.c_str()));
  CHECK_THROWS_WITH(plan_spec("conv(8,5) linear(10)", {3, 8, 8}), doctest::Contains("add 'flatten' before it"));
  CHECK_THROWS_WITH(plan_spec("conv(8,5) linear(10)", {3, 8, 8}), doctest::Contains("[8, 4, 4]"));
  CHECK_THROWS_WITH(plan_spec("conv(8,5", {3, 8, 8}), doctest::Contains("never closed"));
  CHECK_THROWS_WITH(plan_spec("conv(8,x)", {3, 8, 8}), doctest::Contains("argument 'kernel' must be an integer, got 'x' in 'conv(8,x)'"));
  CHECK_THROWS_WITH(plan_spec("conv(8)", {3, 8, 8}), doctest::Contains("missing argument 'kernel'"));
  CHECK_THROWS_WITH(plan_spec("relu(2)", {3, 8, 8}), doctest::Contains("relu takes no arguments"));
  CHECK_THROWS_WITH(plan_spec("conv(8,3,strid=2)", {3, 8, 8}), doctest::Contains("did you mean 'stride'?"));
  CHECK_THROWS_WITH(plan_spec("conv(8,9)", {3, 8, 8}), doctest::Contains("smaller than the 9x9 window"));
  CHECK_THROWS_WITH(plan_spec("flatten linear(n)", {3, 8, 8}), doctest::Contains("'n' (the number of classes) is not known"));
  CHECK_THROWS_WITH(plan_spec("flatten dropout(1.5)", {3, 8, 8}), doctest::Contains("must be in [0"));
  CHECK_THROWS_WITH(plan_spec("", {3, 8, 8}), doctest::Contains("empty"));
  CHECK_THROWS_WITH(plan_spec("relu #", {3, 8, 8}), doctest::Contains("unexpected character '#' at column 6"));
}

TEST_CASE("spec: a head replaces a Linear and takes its input features") {
  // A stand-in for VGG16's classifier: "2" is Linear(16, 1000) as classifier.6 is Linear(4096, 1000).
  auto model = std::make_shared<Sequential>(
      std::initializer_list<ModulePtr>{std::make_shared<Linear>(6, 16), std::make_shared<ReLU>(), std::make_shared<Linear>(16, 1000)});
  auto head = replace_with_head(*model, "2", "linear(256) relu dropout(0.4) linear(n) logsoftmax", 5);
  auto p = model->named_parameters();
  REQUIRE(p.size() == 6);
  CHECK(p[2].first == "2.0.weight");
  CHECK(p[2].second.shape() == Shape{256, 16});
  CHECK(p[4].first == "2.3.weight");
  CHECK(p[4].second.shape() == Shape{5, 256});
  model->eval();
  Tensor y = (*model)(testing::random_tensor({3, 6}, 11));
  REQUIRE(y.shape() == Shape{3, 5});
  auto v = y.to_vector();
  for (int i = 0; i < 3; ++i) {  // log-probabilities: each row's exp sums to 1
    double s = 0;
    for (int j = 0; j < 5; ++j) s += std::exp(v[i * 5 + j]);
    CHECK(s == doctest::Approx(1.0).epsilon(1e-5));  // float32 exp/log of 5 terms
  }
  // The replaced module's input features come through a Sequential too.
  CHECK(input_features(*model->get("2"), "2") == 16);
  CHECK_THROWS_WITH(input_features(*model->get("1"), "1"), doctest::Contains("'1' (ReLU)"));
}

TEST_CASE("spec: PyTorch nn.Sequential weights load by name and give the same output") {
  REQUIRE_REFERENCE(path, "tools.h5");
  H5File f(path, H5File::Mode::Read);
  struct Case {
    const char* name;
    std::string spec;
    Shape input;
    std::string prefix;
  };
  for (const Case& c : {Case{"spec_cnn", kSeedCnn, {3, 64, 64}, ""},
                        Case{"spec_wrapped", "conv(4,3,stride=2,padding=1) bn relu adaptiveavgpool(2) flatten dropout(0.3) "
                                             "linear(n) logsoftmax", {1, 12, 12}, "main"}}) {
    INFO(c.name);
    auto m = build_spec_model(c.spec, c.input, c.prefix, 3);
    NamedTensors state;
    for (const auto& [name, t] : m.model->state_dict())
      state.emplace_back(name, f.read(std::string(c.name) + "/state/" + name));  // throws if PyTorch lacks the name
    CHECK(static_cast<int64_t>(state.size()) == f.read(std::string(c.name) + "/num_tensors").to_labels().at(0));
    m.model->load_state_dict(state);
    m.model->eval();
    Tensor y = (*m.model)(f.read(std::string(c.name) + "/x"));
    // float32 convolutions summing up to 75 products, then a 324-long dot product: different
    // summation order than PyTorch gives ~1e-6 relative.
    CHECK_CLOSE(std::string(c.name), y, f.read(std::string(c.name) + "/y"), 1e-4, 1e-5);
  }
}

// ---- metrics ----------------------------------------------------------------------------------

TEST_CASE("metrics: top-k, confusion matrix and per-class accuracy by hand") {
  // row 0: best is class 1 = label            -> top-1 hit
  // row 1: order 2,0,1,3, label 0             -> top-1 miss, top-2 hit
  // row 2: order 3,1,2,0, label 2             -> top-2 miss, top-3 hit
  Tensor logits = Tensor::from_vector({3, 4}, {0.1f, 2.0f, 0.3f, -1.0f, 1.0f, 0.5f, 3.0f, 0.2f, 0.0f, 0.4f, 0.2f, 0.9f});
  Tensor labels = Tensor::from_labels({1, 0, 2});
  CHECK(topk_accuracy(logits, labels, 1) == doctest::Approx(1.0 / 3));
  CHECK(topk_accuracy(logits, labels, 2) == doctest::Approx(2.0 / 3));
  CHECK(topk_accuracy(logits, labels, 3) == doctest::Approx(1.0));
  CHECK(topk_accuracy(logits, labels, 5) == doctest::Approx(1.0));  // k clamped to the 4 classes
  CHECK(predictions(logits) == std::vector<int64_t>{1, 2, 3});
  auto cm = confusion_matrix(logits, labels);
  CHECK(cm.at(1, 1) == 1);
  CHECK(cm.at(0, 2) == 1);
  CHECK(cm.at(2, 3) == 1);
  CHECK(cm.total() == 3);
  auto pc = cm.per_class_accuracy();
  CHECK(pc[0] == 0.0);
  CHECK(pc[1] == 1.0);
  CHECK(pc[2] == 0.0);
  CHECK(std::isnan(pc[3]));  // no image of class 3

  EvalAccumulator acc(2);  // the same rows in two batches
  acc.add(logits.slice(0, 2), labels.slice(0, 2));
  acc.add(logits.slice(2, 3), labels.slice(2, 3));
  auto r = acc.result();
  CHECK(r.count == 3);
  CHECK(r.top1 == doctest::Approx(1.0 / 3));
  CHECK(r.topk == doctest::Approx(2.0 / 3));
  CHECK(r.confusion.at(2, 3) == 1);
}

TEST_CASE("metrics: top-k probabilities for predict") {
  // logits log(1..4): softmax = (0.1, 0.2, 0.3, 0.4); the best two are 3 and 2.
  float row[4] = {0.0f, std::log(2.0f), std::log(3.0f), std::log(4.0f)};
  auto top = topk_probabilities(row, 4, 2);
  REQUIRE(top.size() == 2);
  CHECK(top[0].first == 3);
  CHECK(top[0].second == doctest::Approx(0.4).epsilon(1e-6));  // float32 logs: ~1e-7 relative
  CHECK(top[1].first == 2);
  CHECK(top[1].second == doctest::Approx(0.3).epsilon(1e-6));
  float binary[1] = {std::log(3.0f)};  // sigmoid(log 3) = 3/4
  auto b = topk_probabilities(binary, 1, 5);
  REQUIRE(b.size() == 2);
  CHECK(b[0].first == 1);
  CHECK(b[0].second == doctest::Approx(0.75).epsilon(1e-6));
  CHECK(b[1].second == doctest::Approx(0.25).epsilon(1e-6));
}

TEST_CASE("metrics: cross-entropy by hand") {
  // Equal logits over 4 classes: -log(1/4) = log 4. Logits log(1..4): softmax = (1,2,3,4)/10,
  // label 2 -> -log(0.3). Mean of the two rows.
  Tensor logits = Tensor::from_vector({2, 4}, {0, 0, 0, 0, 0.0f, std::log(2.0f), std::log(3.0f), std::log(4.0f)});
  Tensor labels = Tensor::from_labels({3, 2});
  // log(2) etc. rounded to float32 move the result by ~1e-7 relative.
  CHECK(mean_cross_entropy(logits, labels) == doctest::Approx((std::log(4.0) - std::log(0.3)) / 2).epsilon(1e-6));
  // Log-probabilities in give the same answer (log_softmax is idempotent).
  Tensor logp = Tensor::from_vector({1, 4}, {std::log(0.1f), std::log(0.2f), std::log(0.3f), std::log(0.4f)});
  CHECK(mean_cross_entropy(logp, Tensor::from_labels({2})) == doctest::Approx(-std::log(0.3)).epsilon(1e-6));
}

TEST_CASE("metrics: one output is a binary classifier (threshold 0.5, BCE)") {
  Tensor logits = Tensor::from_vector({3, 1}, {2.0f, -1.0f, 0.5f});
  Tensor labels = Tensor::from_labels({1, 1, 0});
  auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
  CHECK(predictions(logits) == std::vector<int64_t>{1, 0, 1});
  CHECK(topk_accuracy(logits, labels, 1) == doctest::Approx(1.0 / 3));
  double bce = (-std::log(sig(2.0)) - std::log(sig(-1.0)) - std::log(1 - sig(0.5))) / 3;
  CHECK(mean_cross_entropy(logits, labels) == doctest::Approx(bce).epsilon(1e-6));  // double math on float inputs
  auto cm = confusion_matrix(logits, labels);
  CHECK(cm.num_classes() == 2);
  CHECK(cm.at(1, 0) == 1);
  CHECK(cm.at(0, 1) == 1);
}

TEST_CASE("metrics: bad input names the problem") {
  CHECK_THROWS_WITH(topk_accuracy(Tensor::zeros({2, 3}), Tensor::from_labels({0, 5}), 1), doctest::Contains("label 5 of row 1"));
  CHECK_THROWS_WITH(topk_accuracy(Tensor::zeros({2, 3}), Tensor::from_labels({0}), 1), doctest::Contains("[2, 3]"));
}

TEST_CASE("metrics: JSON writer and the eval JSON") {
  JsonWriter j;
  j.begin_object().key("a").value(int64_t{1}).key("b").begin_array().value("x\"y").value(0.5).null().end_array();
  j.key("c").value(std::nan("")).key("d").value(true).end_object();
  CHECK(j.str() == R"({"a":1,"b":["x\"y",0.5,null],"c":null,"d":true})");
  CHECK(JsonWriter::escape("a\nb\x01") == "\"a\\nb\\u0001\"");

  EvalAccumulator acc(5);
  acc.add(Tensor::from_vector({2, 2}, {1, 0, 1, 0}), Tensor::from_labels({0, 1}));
  std::string js = eval_json(acc.result(), {"cat", "dog"});
  const std::string head = R"({"count":2,"top1":0.5,"top2":1,"mean_cross_entropy":)" +
                           std::string(JsonWriter().value(std::log(1 + std::exp(-1.0)) / 2 + std::log(1 + std::exp(1.0)) / 2).str()) +
                           R"(,"classes":["cat","dog"],"per_class_accuracy":{"cat":1,"dog":0},"confusion_matrix":[[1,0],[1,0]])";
  CHECK(js.rfind(head, 0) == 0);
  // Both predicted cat: cat's precision 1/2, recall 1; dog's 0 (never predicted: 0/0 -> 0).
  CHECK(js.find(R"("precision":{"cat":0.5,"dog":0},"recall":{"cat":1,"dog":0})") != std::string::npos);
  // Both rows score P(dog) = 1/(1+e): one tied point, AUC 1/2.
  CHECK(js.find(R"("roc_auc":0.5,)") != std::string::npos);
  std::string table = format_eval_table(acc.result(), {"cat", "dog"});
  CHECK(table.find("top-1 accuracy:      50.00%") != std::string::npos);
  CHECK(table.find("dog") != std::string::npos);
}

TEST_CASE("metrics: precision, recall, F1 and AUC by hand") {
  // Confusion (rows true, columns predicted): [[2,1],[1,0]] plus nothing of class 2.
  // class 0: precision 2/3, recall 2/3, F1 2/3; class 1: 0 hits -> 0, 0, 0; class 2 absent.
  ConfusionMatrix cm(3);
  cm.add(0, 0, 2), cm.add(0, 1), cm.add(1, 0);
  ClassMetrics m = class_metrics(cm);
  CHECK(m.precision[0] == doctest::Approx(2.0 / 3));
  CHECK(m.recall[1] == 0.0);
  CHECK(m.f1[2] == 0.0);
  CHECK(m.support == std::vector<int64_t>{3, 1, 0});
  CHECK(m.macro_f1 == doctest::Approx(1.0 / 3));     // (2/3 + 0) / 2: class 2 occurs nowhere
  CHECK(m.weighted_f1 == doctest::Approx(0.5));      // (2/3 * 3 + 0 * 1) / 4
  // Scores 0.9 (pos), 0.8 (neg), 0.8 (pos), 0.1 (neg): of the 4 positive/negative pairs, 3 are
  // ordered right and one (0.8, 0.8) is a tie counted half: AUC = 3.5 / 4.
  RocCurve roc = roc_curve({0.9, 0.8, 0.8, 0.1}, {1, 0, 1, 0});
  CHECK(roc.auc == doctest::Approx(0.875));
  CHECK(roc.fpr == std::vector<double>{0, 0, 0.5, 1});  // the tie is one step
  CHECK(roc.tpr == std::vector<double>{0, 0.5, 1, 1});
  CHECK(std::isnan(roc_curve({0.3, 0.4}, {1, 1}).auc));  // no negatives: undefined
}

// scikit-learn's metrics on the same predictions, computed at test time: precision / recall /
// F1 per class and averaged, the ROC curve and AUC of two classes (one output and two), and the
// top losses (cross-entropy per image by numpy's log-softmax, sorted).
TEST_CASE("metrics: per-class metrics, ROC and top losses agree with scikit-learn") {
  const char* python = std::getenv("GRAFT_PYTHON");
  if (!python || std::system((std::string(python) + " -c 'import sklearn, scipy, h5py' 2>/dev/null").c_str()) != 0) {
    MESSAGE("skipped: no python with scikit-learn (Debian: python3-sklearn), scipy and h5py");
    return;
  }
  TempDir dir("sklearn_metrics");
  // Fixed predictions: 4 outputs with labels in 0..2 (class 3 only ever predicted), two-class
  // logits whose last 10 rows repeat the first 10 (tied scores), and one-output logits.
  Generator gen(17);
  auto logits = [&](int64_t n, int64_t L, float spread) {
    std::vector<float> v(n * L);
    for (auto& x : v) x = static_cast<float>(gen.uniform() * 2 - 1) * spread;
    return v;
  };
  auto labels = [&](int64_t n, int64_t classes) {
    std::vector<int64_t> y(n);
    for (auto& c : y) c = gen.randint(classes);
    return y;
  };
  std::vector<float> multi = logits(60, 4, 2.0f), two = logits(40, 2, 1.5f), one = logits(30, 1, 2.0f);
  std::copy_n(two.begin(), 20, two.begin() + 60);  // rows 30..39 = rows 0..9
  std::vector<int64_t> y_multi = labels(60, 3), y_two = labels(40, 2), y_one = labels(30, 2);
  std::copy_n(y_two.begin(), 10, y_two.begin() + 30);
  struct Case {
    const char* name;
    Tensor x, y;
  };
  std::vector<Case> cases = {{"multi", Tensor::from_vector({60, 4}, multi), Tensor::from_labels(y_multi)},
                             {"two", Tensor::from_vector({40, 2}, two), Tensor::from_labels(y_two)},
                             {"one", Tensor::from_vector({30, 1}, one), Tensor::from_labels(y_one)}};
  NamedTensors saved;
  for (auto& c : cases) saved.emplace_back(std::string(c.name) + "_x", c.x), saved.emplace_back(std::string(c.name) + "_y", c.y);
  save_tensors(dir / "pred.h5", saved);
  {
    std::ofstream py(dir / "sk.py");
    py << "import sys, h5py, numpy as np\n"
          "from scipy.special import log_softmax, expit, softmax\n"
          "from sklearn.metrics import precision_recall_fscore_support as prfs, roc_curve, roc_auc_score\n"
          "f = h5py.File(sys.argv[1], 'r'); out = h5py.File(sys.argv[2], 'w')\n"
          "for c in ('multi', 'two', 'one'):\n"
          "    x = f[c + '_x'][()].astype(np.float64); y = f[c + '_y'][()]; L = x.shape[1]\n"
          "    pred = (x[:, 0] > 0).astype(int) if L == 1 else x.argmax(1)\n"
          "    K = max(L, 2)\n"
          "    p, r, f1, s = prfs(y, pred, labels=list(range(K)), zero_division=0)\n"
          "    out[c + '/per_class'] = np.stack([p, r, f1, s]).astype(np.float32)\n"
          "    out[c + '/macro'] = np.float32(prfs(y, pred, average='macro', zero_division=0)[:3])\n"
          "    out[c + '/weighted'] = np.float32(prfs(y, pred, average='weighted', zero_division=0)[:3])\n"
          "    if L == 1:\n"
          "        score = expit(x[:, 0]); loss = np.logaddexp(0, x[:, 0]) - x[:, 0] * y\n"
          "    else:\n"
          "        loss = -log_softmax(x, 1)[np.arange(len(y)), y]\n"
          "        score = softmax(x, 1)[:, 1] if L == 2 else None\n"
          "    if score is not None:\n"
          "        fpr, tpr, th = roc_curve(y, score, drop_intermediate=False)\n"
          "        out[c + '/roc'] = np.stack([fpr, tpr, th]).astype(np.float32)\n"
          "        out[c + '/auc'] = np.float32([roc_auc_score(y, score)])\n"
          "    order = np.argsort(-loss, kind='stable')[:5]\n"
          "    out[c + '/top_index'] = order.astype(np.int64); out[c + '/top_loss'] = loss[order].astype(np.float32)\n";
  }
  const std::string cmd = std::string(python) + " " + (dir / "sk.py") + " " + (dir / "pred.h5") + " " + (dir / "sk.h5");
  REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, cmd);
  H5File sk(dir / "sk.h5", H5File::Mode::Read);
  auto as_double = [](const Tensor& t) {
    std::vector<float> f = t.to_vector();
    return std::vector<double>(f.begin(), f.end());
  };
  // Both sides compute in double from the same float32 logits; the reference file stores float32
  // (h5py float64 -> graft's float32 reader), so values agree to float32 rounding: 1e-6 relative.
  const double tol = 1e-6;
  for (auto& c : cases) {
    INFO("case " << c.name);
    EvalAccumulator acc(5, 5);
    const int64_t n = c.x.size(0), half = n / 2;  // two batches: the result must not depend on them
    acc.add(c.x.slice(0, half), c.y.slice(0, half));
    acc.add(c.x.slice(half, n), c.y.slice(half, n));
    EvalResult r = acc.result();
    const std::string k = c.name;
    std::vector<double> pc = as_double(sk.read(k + "/per_class"));
    const size_t K = r.classes.precision.size();
    REQUIRE(pc.size() == 4 * K);
    for (size_t i = 0; i < K; ++i) {
      CHECK(r.classes.precision[i] == doctest::Approx(pc[i]).epsilon(tol));
      CHECK(r.classes.recall[i] == doctest::Approx(pc[K + i]).epsilon(tol));
      CHECK(r.classes.f1[i] == doctest::Approx(pc[2 * K + i]).epsilon(tol));
      CHECK(r.classes.support[i] == static_cast<int64_t>(pc[3 * K + i]));
    }
    std::vector<double> macro = as_double(sk.read(k + "/macro")), weighted = as_double(sk.read(k + "/weighted"));
    CHECK(r.classes.macro_precision == doctest::Approx(macro[0]).epsilon(tol));
    CHECK(r.classes.macro_recall == doctest::Approx(macro[1]).epsilon(tol));
    CHECK(r.classes.macro_f1 == doctest::Approx(macro[2]).epsilon(tol));
    CHECK(r.classes.weighted_precision == doctest::Approx(weighted[0]).epsilon(tol));
    CHECK(r.classes.weighted_recall == doctest::Approx(weighted[1]).epsilon(tol));
    CHECK(r.classes.weighted_f1 == doctest::Approx(weighted[2]).epsilon(tol));
    CHECK(r.binary == (c.x.size(1) <= 2));
    if (r.binary) {
      std::vector<double> roc = as_double(sk.read(k + "/roc"));
      const size_t P = roc.size() / 3;
      REQUIRE(r.roc.fpr.size() == P);  // the same points: one per distinct score
      for (size_t i = 0; i < P; ++i) {
        CHECK(r.roc.fpr[i] == doctest::Approx(roc[i]).epsilon(tol));
        CHECK(r.roc.tpr[i] == doctest::Approx(roc[P + i]).epsilon(tol));
        // scikit-learn's first threshold is a stand-in (max + 1 or inf, by version); graft's is inf.
        if (i > 0) CHECK(r.roc.thresholds[i] == doctest::Approx(roc[2 * P + i]).epsilon(tol));
      }
      CHECK(r.roc.auc == doctest::Approx(sk.read(k + "/auc").to_vector()[0]).epsilon(tol));
    }
    std::vector<int64_t> top_index = sk.read(k + "/top_index").to_labels();
    std::vector<double> top_loss = as_double(sk.read(k + "/top_loss"));
    REQUIRE(r.top_losses.size() == 5);
    for (size_t i = 0; i < 5; ++i) {
      CHECK(r.top_losses[i].index == top_index[i]);
      CHECK(r.top_losses[i].loss == doctest::Approx(top_loss[i]).epsilon(tol));
    }
  }
}

// ---- progress ---------------------------------------------------------------------------------

TEST_CASE("progress: formatting") {
  CHECK(format_duration(12) == "0:12");
  CHECK(format_duration(65) == "1:05");
  CHECK(format_duration(3723) == "1:02:03");
  CHECK(format_duration(-1) == "?:??");
  CHECK(format_bar(120, 200, 10) == "[=====>    ]");  // 6 of 10 cells, the 6th is the arrow
  CHECK(format_bar(0, 200, 4) == "[    ]");
  CHECK(format_bar(200, 200, 4) == "[====]");
  ProgressState s;
  s.epoch = 3, s.epochs = 10, s.done = 120, s.total = 200, s.elapsed_s = 60, s.loss = 0.43214;
  // 120 images in 60 s = 2 img/s; 80 left -> 40 s.
  CHECK(format_progress_line(s, 10) == "epoch 3/10 [=====>    ] 120/200  2 img/s  loss 0.4321  ETA 0:40");
  CHECK(format_progress_plain(s) == "epoch 3/10  120/200 (60%)  2 img/s  loss 0.4321  ETA 0:40");
  EpochSummary e;
  e.epoch = 3, e.epochs = 10, e.train_loss = 0.5, e.train_acc = 0.812, e.valid_loss = 0.25, e.valid_acc = 0.78;
  e.lr = 0.001, e.seconds = 12.34, e.best = true;
  CHECK(format_epoch_summary(e) == "epoch 3/10  train loss 0.5000 acc 81.20%  valid loss 0.2500 acc 78.00%  lr 0.001  12.3s  *best");
}

TEST_CASE("progress: plain output writes about every 10% or every interval") {
  std::vector<std::string> out;
  double t = 0;
  ProgressBar fast(1, 1, 100, /*tty=*/0, /*interval_s=*/10, [&](const std::string& s) { out.push_back(s); },
                   [&] { return t; });
  for (int i = 1; i <= 100; ++i) t += 0.01, fast.update(i, 1.0);
  CHECK(out.size() == 10);  // one per tenth
  CHECK(out.back().rfind("epoch 1/1  100/100 (100%)", 0) == 0);
  out.clear(), t = 0;
  ProgressBar slow(1, 1, 1000, 0, 10, [&](const std::string& s) { out.push_back(s); }, [&] { return t; });
  for (int i = 1; i <= 25; ++i) t += 1, slow.update(i, 1.0);  // 2.5% done in 25 s
  CHECK(out.size() == 2);  // at 10 s and 20 s
  out.clear();
  t = 0;
  ProgressBar tty(1, 1, 10, 1, 10, [&](const std::string& s) { out.push_back(s); }, [&] { return t; });
  for (int i = 1; i <= 10; ++i) t += 1, tty.update(i, 1.0);
  tty.finish("done");
  REQUIRE(out.size() == 12);  // 10 redraws (1 s apart), a clear, the summary
  CHECK(out[0].rfind("\repoch 1/1 [", 0) == 0);
  CHECK(out.back() == "done\n");
}

// ---- report -----------------------------------------------------------------------------------

TEST_CASE("report: base64 and PNG") {
  auto b = [](const std::string& s) { return base64_encode(std::vector<uint8_t>(s.begin(), s.end())); };
  CHECK(b("Man") == "TWFu");  // RFC 4648's examples
  CHECK(b("Ma") == "TWE=");
  CHECK(b("M") == "TQ==");
  CHECK(b("foobar") == "Zm9vYmFy");
  uint8_t px[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
  auto png = encode_png(px, 2, 2, 3);
  REQUIRE(png.size() > 8);
  CHECK(png[0] == 0x89);  // the PNG signature \x89PNG
  CHECK(png[1] == 'P');
  // image_to_bytes undoes normalization: (v * std + mean) * 255
  auto bytes = image_to_bytes(Tensor::from_vector({1, 1, 2}, {0.0f, 1.0f}), {0.5f}, {0.5f});
  CHECK(bytes == std::vector<uint8_t>{128, 255});  // 0.5 -> 127.5 rounds to 128; 1.0 -> 255
}

TEST_CASE("report: metrics CSV round trip and the HTML report with charts") {
  TempDir dir("report");
  std::vector<EpochMetrics> h;
  for (int e = 1; e <= 4; ++e) h.push_back({e, 1.0 / e, 0.5 + 0.1 * e, 1.2 / e, 0.4 + 0.1 * e, 1e-3, 2.0});
  h[1].valid_loss = std::nan("");  // an epoch without validation
  std::string csv = dir.file("metrics.csv");
  write_metrics_csv(csv, h);
  CHECK(read_file(csv).rfind("epoch,train_loss,train_acc,valid_loss,valid_acc,lr,seconds\n1,1,0.6,1.2,0.5,0.001,2\n", 0) == 0);
  auto back = read_metrics_csv(csv);
  REQUIRE(back.size() == 4);
  CHECK(back[3].train_loss == doctest::Approx(0.25));
  CHECK(std::isnan(back[1].valid_loss));
  CHECK_FALSE(std::filesystem::exists(csv + ".tmp"));

  ReportData d;
  d.command_line = "graft train --data pets";
  d.settings = {{"lr", "0.001"}};
  d.history = h;
  d.has_confusion = true;
  d.confusion = ConfusionMatrix(2);
  d.confusion.add(0, 0, 3), d.confusion.add(0, 1, 1), d.confusion.add(1, 1, 4);
  d.class_names = {"cat", "<dog>"};
  d.grid = {{testing::random_tensor({3, 4, 4}, 1, 0, 1), "cat", "cat", ""},
            {testing::random_tensor({1, 4, 4}, 2, 0, 1), "cat", "<dog>", "p=0.6"}};
  d.comparison = {{"frozen", 0.8, 10, ""}, {"scratch", 0.6, 20, ""}};
  std::string html = dir.file("report.html");
  write_html_report(html, d);
  std::string text = read_file(html);
  CHECK(count(text, "<svg") == 2);                 // loss and accuracy
  CHECK(count(text, "<polyline class=\"series\"") == 4);  // train and valid in each
  // 4 epochs x 4 curves = 16 points, minus the one missing valid loss.
  CHECK(count(text, "<circle class=\"point\"") == 15);
  CHECK(count(text, "data:image/png;base64,iVBORw0KGgo") == 2);  // base64 of the PNG signature
  CHECK(count(text, "class=\"ok\"") == 1);
  CHECK(count(text, "class=\"bad\"") == 1);
  CHECK(text.find("&lt;dog&gt;") != std::string::npos);  // escaped
  CHECK(text.find("<dog>") == std::string::npos);
  CHECK(text.find("graft train --data pets") != std::string::npos);
  CHECK(text.find("rgba(31,119,180,0.75)") != std::string::npos);  // 3 of 4 cats right
  CHECK(text.find("<b>80.00%</b>") != std::string::npos);           // the best method in bold
  CHECK_FALSE(std::filesystem::exists(html + ".tmp"));
  CHECK(comparison_table_text(d.comparison).find("scratch         60.00%  20.0 s") != std::string::npos);
}

// ---- checkpoint and early stopping ------------------------------------------------------------

TEST_CASE("checkpoint: round trip of weights, optimizer state, counters and RNG") {
  TempDir dir("ckpt");
  std::string path = dir.file("last.h5");
  Sequential model{std::make_shared<Linear>(3, 2)};
  NamedTensors optim = {{"state.0.0.momentum_buffer", testing::random_tensor({2, 3}, 5)},
                        {"state.0.0.step", Tensor::full({}, 7.0f)}};
  Generator gen(123), loader(9);
  for (int i = 0; i < 5; ++i) gen.next();  // some draws already made
  TrainingState st;
  st.architecture = "spec:conv(8,5)";
  st.progress.epoch = 4, st.progress.best_valid_loss = 0.25, st.progress.epochs_since_best = 1;
  st.progress.best_epoch = 3, st.settings = "--lr 0.1";
  st.progress.history = {{1, 0.9, 0.5, 1.0, 0.4, 0.1, 3.0}, {2, 0.8, 0.6, std::nan(""), 0.5, 0.1, 3.5}};
  save_training_checkpoint_tensors(path, model, optim, st, {{"default", &gen}, {"loader", &loader}});
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  std::vector<uint64_t> expected;
  for (int i = 0; i < 10; ++i) expected.push_back(gen.next());
  uint64_t loader_next = loader.next();
  Tensor w_saved = model.state_dict()[0].second.clone();

  // A "new process": other weights, other generator states.
  Sequential model2{std::make_shared<Linear>(3, 2)};
  Generator gen2(999), loader2(1);
  NamedTensors optim2;
  TrainingState back = load_training_checkpoint_tensors(path, "spec:conv(8,5)", model2, &optim2, {{"default", &gen2}, {"loader", &loader2}});
  CHECK_CLOSE("weight", model2.state_dict()[0].second, w_saved, 0, 0);  // an exact copy
  for (int i = 0; i < 10; ++i) CHECK(gen2.next() == expected[i]);     // continues identically
  CHECK(loader2.next() == loader_next);
  REQUIRE(optim2.size() == 2);
  CHECK(optim2[0].first == "state.0.0.momentum_buffer");
  CHECK_CLOSE("momentum", optim2[0].second, optim[0].second, 0, 0);
  CHECK(optim2[1].second.item() == 7.0f);
  CHECK(back.progress.epoch == 4);
  CHECK(back.progress.best_valid_loss == 0.25);
  CHECK(back.progress.epochs_since_best == 1);
  CHECK(back.progress.best_epoch == 3);
  CHECK(back.settings == "--lr 0.1");
  REQUIRE(back.progress.history.size() == 2);
  CHECK(back.progress.history[1].train_loss == 0.8);
  CHECK(std::isnan(back.progress.history[1].valid_loss));
  // The file is also a weights file: the model loads from it as from best.h5.
  Sequential model3{std::make_shared<Linear>(3, 2)};
  load_weights(model3, path);
  CHECK_CLOSE("weights from last.h5", model3.state_dict()[0].second, w_saved, 0, 0);
}

TEST_CASE("checkpoint: a run interrupted and resumed ends with the same weights as one that was not") {
  // Dropout draws from the default generator and the inputs too, SGD keeps momentum buffers:
  // resuming must restore all three to reproduce the uninterrupted run bit for bit.
  TempDir dir("resume");
  std::string path = dir.file("last.h5");
  const char* spec = "linear(6) relu dropout(0.5) linear(3)";
  auto train_steps = [](Module& m, Optimizer& opt, int steps) {
    for (int i = 0; i < steps; ++i) {
      Tensor x = Tensor::empty({4, 5});
      uniform_(x, -1, 1);
      Tensor loss = cross_entropy(m(x), Tensor::from_labels({0, 1, 2, 1}));
      loss.backward();
      opt.step();
      opt.zero_grad();
    }
  };
  manual_seed(1);
  auto a = build_spec_model(spec, {5});
  SGD opt_a(a.model->parameters(), 0.1f, 0.9f);
  train_steps(*a.model, opt_a, 3);
  TrainingState st;
  st.architecture = spec;
  st.progress.epoch = 3;
  save_training_checkpoint(path, *a.model, &opt_a, st, {{"default", &default_generator()}});
  train_steps(*a.model, opt_a, 3);  // the uninterrupted run

  manual_seed(77);  // a new process: other initial weights, other random stream
  auto b = build_spec_model(spec, {5});
  SGD opt_b(b.model->parameters(), 0.1f, 0.9f);
  TrainingState back = load_training_checkpoint(path, spec, *b.model, &opt_b, {{"default", &default_generator()}});
  CHECK(back.progress.epoch == 3);
  train_steps(*b.model, opt_b, 3);
  auto pa = a.model->named_parameters(), pb = b.model->named_parameters();
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) CHECK_CLOSE(pa[i].first, pb[i].second, pa[i].second, 0, 0);  // identical ops: exact

  SGD no_momentum(b.model->parameters(), 0.1f);  // never stepped: nothing to restore into it
  TrainingState empty_opt = st;
  save_training_checkpoint(path, *a.model, nullptr, empty_opt, {});
  CHECK_THROWS_WITH(load_training_checkpoint(path, spec, *b.model, &no_momentum, {}), doctest::Contains("no optimizer state"));
}

TEST_CASE("checkpoint: another architecture or a plain weights file is refused clearly") {
  TempDir dir("ckpt_arch");
  std::string path = dir.file("best.h5");
  Sequential model{std::make_shared<Linear>(3, 2)};
  TrainingState st;
  st.architecture = "vgg16";
  save_training_checkpoint_tensors(path, model, {}, st, {});
  CHECK_THROWS_WITH(load_checkpoint(path, "resnet18"),
                    doctest::Contains("was saved from a 'vgg16' model, but this run builds a 'resnet18' model"));
  CHECK(load_checkpoint(path, "vgg16").model.size() == 2);
  std::string plain = dir.file("weights.h5");
  save_tensors(plain, model.state_dict());
  CHECK_THROWS_WITH(load_checkpoint(plain), doctest::Contains("is not a graft training checkpoint"));
  Generator g;
  CHECK_THROWS_WITH(set_generator_state(g, "12 x"), doctest::Contains("not a valid random generator state"));
}

