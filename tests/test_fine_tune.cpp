// tests/test_fine_tune.cpp — `graft train --fine-tune` (fastai's fine_tune, train/fine_tune.h):
// the layer groups against torchvision's parameter counts, freezing per phase, batch norm's mode,
// the groups' lrs against torch's OneCycleLR, and resuming across the phase boundary.
// (tools/references/fine_tune.py writes fine_tune.h5.)
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "commands.h"
#include "data/image.h"
#include "layers/batch_norm2d.h"
#include "models/models.h"
#include "models/spec.h"
#include "optim/adam.h"
#include "tensor/hdf5_io.h"
#include "tensor/random.h"
#include "testing.h"
#include "train/fine_tune.h"

namespace fs = std::filesystem;
using namespace graft;

namespace {

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("graft_test_fine_tune_" + std::to_string(::getpid())) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// root/<blue|green|red>/<i>.png: noisy flat-colour 16x16 images (as test_commands.cpp's).
void make_folder(const fs::path& root, int per_class, uint64_t seed) {
  const int colors[3][3] = {{50, 50, 210}, {40, 190, 50}, {210, 40, 40}};
  const char* names[3] = {"blue", "green", "red"};
  Generator gen(seed);
  for (int c = 0; c < 3; ++c) {
    fs::create_directories(root / names[c]);
    for (int i = 0; i < per_class; ++i) {
      Image img(16, 16, 3);
      for (int y = 0; y < 16; ++y)
        for (int x = 0; x < 16; ++x)
          for (int k = 0; k < 3; ++k)
            img.at(y, x, k) = static_cast<uint8_t>(std::clamp(colors[c][k] + static_cast<int>(gen.randint(61)) - 30, 0, 255));
      save_png(img, (root / names[c] / (std::to_string(i) + ".png")).string());
    }
  }
}

std::vector<std::vector<std::string>> csv_rows(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    rows.push_back(cells);
  }
  return rows;
}

std::vector<double> values(const Tensor& t) {
  std::vector<double> v;
  if (t.dtype() == DType::Int64)
    for (int64_t x : t.to_labels()) v.push_back(static_cast<double>(x));
  else
    for (float x : t.to_vector()) v.push_back(x);
  return v;
}

// Bit for bit: every tensor of two weight files.
void check_same_tensors(const fs::path& a, const fs::path& b) {
  NamedTensors x = load_tensors(a.string()), y = load_tensors(b.string());
  REQUIRE(x.size() == y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    REQUIRE(x[i].first == y[i].first);
    CHECK_MESSAGE(values(x[i].second) == values(y[i].second), x[i].first);
  }
}

const std::string kSpec = "spec:conv(4,3) batchnorm relu maxpool(2) flatten linear(n)";

std::vector<std::string> fine_tune_words(const fs::path& dir, const std::string& out, const std::string& fine_tune) {
  return {"--train", (dir / "train").string(), "--valid", (dir / "valid").string(), "--model", kSpec,
          "--input-size", "3x16x16", "--weights", "none", "--head", "linear(n)", "--fine-tune", fine_tune,
          "--train-transform", "hflip,resize=16x16", "--lr", "0.02", "--batch-size", "8", "--workers", "0",
          "--quiet", "--out", (dir / out).string()};
}

}  // namespace

TEST_CASE("fine-tune: the layer groups hold torchvision's parameter counts; phase 1 trains the head only, phase 2 all") {
  REQUIRE_REFERENCE(path, "fine_tune.h5");
  H5File f(path, H5File::Mode::Read);
  const std::vector<std::pair<std::string, std::string>> archs = {
      {"resnet18", "fc"}, {"vgg16", "classifier.6"}, {"densenet121", "classifier"}};
  for (const auto& [arch, head] : archs) {
    CAPTURE(arch);
    const std::vector<int64_t> n = f.read("counts/" + arch + "/n").to_labels();  // group 0, group 1, head, total
    ModulePtr m = make_model(arch, 5);
    const std::vector<LayerGroup> g = fine_tune_groups(*m, arch, head);
    REQUIRE(g.size() == 3);
    for (int i = 0; i < 3; ++i) CHECK(g[i].numel == n[i]);  // exact counts: integers
    CHECK(m->num_parameters() == n[3]);
    fine_tune_freeze(*m, 1, head);
    CHECK(m->num_parameters(true) == n[2]);
    fine_tune_freeze(*m, 2, head);
    CHECK(m->num_parameters(true) == n[3]);
  }
  // A spec model: fastai's default split, body | head.
  ModulePtr spec = build_spec_model("conv(4,3) batchnorm relu maxpool(2) flatten linear(n)", {3, 16, 16}, "", 3).model;
  const std::vector<LayerGroup> g = fine_tune_groups(*spec, "spec:...", "5");
  REQUIRE(g.size() == 2);
  CHECK(g[0].numel == 4 * 3 * 3 * 3 + 4 + 4 + 4);  // conv weight + bias, batch norm weight + bias
  CHECK(g[1].numel == 4 * 7 * 7 * 3 + 3);          // linear(196 -> 3)
  CHECK_THROWS_WITH(fine_tune_groups(*spec, "spec:...", ""), doctest::Contains("give --head"));
}

TEST_CASE("fine-tune: batch norm of the frozen body uses its running statistics in phase 1, trains in phase 2") {
  manual_seed(1);
  ModulePtr m = build_spec_model("conv(4,3) batchnorm relu flatten linear(n)", {2, 6, 6}, "", 3).model;
  auto bn = std::dynamic_pointer_cast<BatchNorm2d>(m->get("1"));
  REQUIRE(bn);
  bn->running_mean.copy_(Tensor::from_vector({4}, {0.3f, -0.2f, 0.1f, 0.5f}));  // not the batch's statistics
  Tensor x = Tensor::empty({5, 2, 6, 6});
  normal_(x, 1.0f, 2.0f);  // batch statistics far from the running ones
  const std::vector<float> before = bn->running_mean.to_vector();
  fine_tune_freeze(*m, 1, "4");
  m->eval();
  Tensor eval_out;
  {
    NoGradGuard ng;
    eval_out = (*m)(x);
  }
  m->train();
  const Tensor train_out = (*m)(x);
  CHECK(bn->running_mean.to_vector() == before);                // statistics untouched
  CHECK(values(train_out.detach()) == values(eval_out));        // the same arithmetic as eval mode: bit for bit
  fine_tune_freeze(*m, 2, "4");
  m->train();
  const Tensor phase2_out = (*m)(x);
  CHECK(bn->running_mean.to_vector() != before);                // batch statistics: the running mean moves
  CHECK(values(phase2_out.detach()) != values(eval_out));
}

// Tolerance: graft's OneCycleLR evaluates the closed form in double and stores float; torch
// computes in double and the reference stores float: 1-2 float ulps, so 5e-7 relative (as
// test_schedules.cpp). A wrong pct_start, div or final_div moves some lr by far more than 1e-3.
TEST_CASE("fine-tune: every group's lr at every step equals torch's OneCycleLR with fastai's max_lrs") {
  REQUIRE_REFERENCE(path, "fine_tune.h5");
  H5File f(path, H5File::Mode::Read);
  CHECK(even_mults(1e-4, 1e-2, 3) == std::vector<double>{1e-4, 1e-4 * 10, 1e-4 * 10 * 10});  // fastai's, by hand
  struct Case {
    std::string name;
    int phase;
    int64_t groups, steps;
    double lr_mult;
  };
  for (const Case& c : {Case{"phase1", 1, 1, 6, 100}, Case{"phase2_2", 2, 2, 6, 100}, Case{"phase2_3", 2, 3, 20, 10}}) {
    CAPTURE(c.name);
    FineTuneOptions o;
    o.base_lr = 0.02;
    o.lr_mult = c.lr_mult;
    const std::vector<double> max_lrs = c.phase == 1 ? std::vector<double>{o.base_lr} : fine_tune_lrs(o, c.groups);
    Tensor p = Tensor::zeros({1}).set_requires_grad(true);
    std::vector<ParamGroup> groups;
    for (int64_t i = 0; i < c.groups; ++i)
      groups.push_back(ParamGroup{i == 0 ? std::vector<Tensor>{p} : std::vector<Tensor>{}, static_cast<float>(max_lrs[i])});
    Adam opt(groups);
    OneCycleLR sched(opt, max_lrs, fine_tune_one_cycle(c.phase, c.steps));
    std::vector<float> lrs, mom;
    for (int64_t s = 0; s <= c.steps; ++s) {
      if (s > 0) sched.step();
      for (const ParamGroup& g : opt.param_groups()) lrs.push_back(g.lr);
      mom.push_back(opt.momentum_coefficient());
    }
    CHECK_CLOSE(c.name << " lrs", Tensor::from_vector({c.steps + 1, c.groups}, lrs), f.read("onecycle_" + c.name + "/lrs"),
                5e-7, 0);
    CHECK_CLOSE(c.name << " momentum", Tensor::from_vector({c.steps + 1}, mom),
                f.read("onecycle_" + c.name + "/momentum"), 5e-7, 0);
  }
}

TEST_CASE("commands: --fine-tune 2,2 follows the reference lrs, and resuming across the phase boundary is exact") {
  REQUIRE_REFERENCE(path, "fine_tune.h5");
  H5File f(path, H5File::Mode::Read);
  fs::path dir = scratch("resume");
  make_folder(dir / "train", 8, 3);  // 24 images, batch 8: 3 steps per epoch
  make_folder(dir / "valid", 3, 4);
  REQUIRE(cmd_train(fine_tune_words(dir, "straight", "2,2")) == 0);
  // The lr column (the head's lr at each epoch's start) against torch: steps 0 and 3 of each phase.
  const auto rows = csv_rows(dir / "straight" / "metrics.csv");
  REQUIRE(rows.size() == 4);
  const std::vector<float> p1 = f.read("onecycle_phase1/lrs").to_vector(), p2 = f.read("onecycle_phase2_2/lrs").to_vector();
  // metrics.csv prints 9 significant digits of the float lr: 1e-7 relative.
  CHECK(std::stod(rows[0][5]) == doctest::Approx(p1[0]).epsilon(1e-7));
  CHECK(std::stod(rows[1][5]) == doctest::Approx(p1[3]).epsilon(1e-7));
  CHECK(std::stod(rows[2][5]) == doctest::Approx(p2[0 * 2 + 1]).epsilon(1e-7));
  CHECK(std::stod(rows[3][5]) == doctest::Approx(p2[3 * 2 + 1]).epsilon(1e-7));
  {
    H5File last((dir / "straight" / "last.h5").string(), H5File::Mode::Read);
    CHECK(last.attr_numbers("run_state.fine_tune_phase") == std::vector<double>{2});
  }
  // Stopped at the boundary (--epochs 2) and inside phase 2 (--epochs 3), then resumed to the end:
  // the same weights, bit for bit, and the same metrics (time aside).
  for (const char* stop : {"2", "3"}) {
    CAPTURE(stop);
    const std::string out = std::string("stopped") + stop;
    std::vector<std::string> w = fine_tune_words(dir, out, "2,2");
    w.insert(w.end(), {"--epochs", stop});
    REQUIRE(cmd_train(w) == 0);
    {
      H5File last((dir / out / "last.h5").string(), H5File::Mode::Read);
      CHECK(last.attr_numbers("run_state.fine_tune_phase") == std::vector<double>{std::string(stop) == "2" ? 1.0 : 2.0});
    }
    std::vector<std::string> again = fine_tune_words(dir, out, "2,2");
    again.push_back("--resume");
    REQUIRE(cmd_train(again) == 0);
    check_same_tensors(dir / "straight" / "last.h5", dir / out / "last.h5");
    const auto r = csv_rows(dir / out / "metrics.csv");
    REQUIRE(r.size() == 4);
    for (size_t e = 0; e < 4; ++e) CHECK(std::vector<std::string>(r[e].begin(), r[e].end() - 1) ==
                                         std::vector<std::string>(rows[e].begin(), rows[e].end() - 1));
  }
  // Options that --fine-tune decides itself are refused by name.
  std::vector<std::string> bad = fine_tune_words(dir, "bad", "2,2");
  bad.insert(bad.end(), {"--schedule", "cosine"});
  CHECK_THROWS_WITH(cmd_train(bad), doctest::Contains("drop --schedule"));
  CHECK_THROWS_WITH(cmd_train(fine_tune_words(dir, "bad", "2")), doctest::Contains("expects E1,E2[,LR_MULT]"));
  fs::remove_all(dir);
}

TEST_CASE("commands: ReduceLROnPlateau's counters (best, bad epochs, cooldown) survive --resume") {
  // lr 1e-12 and no batch norm (whose running statistics would move): the weights hardly move, so the validation loss never improves by the relative
  // threshold 1e-4 after epoch 1. Patience 2, by hand: bad epochs 0 (epoch 1 sets best), 1, 2,
  // then epoch 4 makes 3 > 2: a reduction (too small to apply: below eps) that resets them to 0.
  // A resume after epoch 2 that started the counters afresh would end with best = epoch 3's
  // loss and 1 bad epoch.
  fs::path dir = scratch("plateau");
  make_folder(dir / "train", 4, 5);
  make_folder(dir / "valid", 2, 6);
  auto words = [&](const std::string& out, const char* epochs) {
    return std::vector<std::string>{"--train", (dir / "train").string(), "--valid", (dir / "valid").string(),
                                    "--model", "spec:conv(4,3) relu maxpool(2) flatten linear(n)",  // no batch norm
                                    "--input-size", "3x16x16", "--train-transform", "resize=16x16",
                                    "--lr", "1e-12", "--schedule", "plateau:2:0.5", "--batch-size", "4", "--epochs",
                                    epochs, "--workers", "0", "--quiet", "--out", (dir / out).string()};
  };
  auto counters = [&](const std::string& out) {
    H5File last((dir / out / "last.h5").string(), H5File::Mode::Read);
    return last.attr_numbers("run_state.plateau");
  };
  REQUIRE(cmd_train(words("straight", "4")) == 0);
  REQUIRE(cmd_train(words("resumed", "2")) == 0);
  const double epoch1_loss = std::stod(csv_rows(dir / "straight" / "metrics.csv")[0][3]);
  std::vector<double> c = counters("resumed");
  REQUIRE(c.size() == 3);
  CHECK(c[0] == doctest::Approx(epoch1_loss).epsilon(1e-7));  // metrics.csv prints 9 digits
  CHECK(c[1] == 1);
  CHECK(c[2] == 0);
  std::vector<std::string> again = words("resumed", "4");
  again.push_back("--resume");
  REQUIRE(cmd_train(again) == 0);
  c = counters("resumed");
  CHECK(c == counters("straight"));
  CHECK(c[0] == doctest::Approx(epoch1_loss).epsilon(1e-7));
  CHECK(c[1] == 0);
  fs::remove_all(dir);
}
