// tests/test_examples.cpp — the examples/ scripts end to end, at a tiny scale, with the real
// `graft` program; plus what users get wrong: corrupt images, a killed run resumed, a
// checkpoint of the wrong architecture.
//
// Setup (once): a temporary folder with generated images (3 classes of 32x32 PNGs whose colour
// and stripes depend on the class, so there is something to learn; a 2-class train/valid
// folder; a CSV-labelled folder), and random-weight torchvision models converted by
// tools/convert_torchvision.py (--random-seed 0), as the real weights would be. Each script runs
// with TINY=1 (32x32 inputs, 2 epochs) and its outputs are checked: files exist, accuracies are
// fractions, losses finite, top-5 >= top-1, the parameter counts are the hand-computed ones.
//
// Needs: GRAFT_BIN (the graft program; tests/meson.build sets it), GRAFT_SOURCE_ROOT (for
// examples/ and tools/), GRAFT_PYTHON (a python with torch: the tests skip with a message
// without it). Random weights make accuracies meaningless, so only their ranges are checked.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/datasets.h"
#include "data/image.h"
#include "tensor/device.h"
#include "tensor/hdf5_io.h"
#include "tensor/random.h"

namespace fs = std::filesystem;
using graft::Image;

namespace {

struct Result {
  int rc = -1;
  std::string out;  // stdout and stderr together
};

// Runs a shell command, capturing stdout+stderr.
Result sh(const std::string& cmd) {
  Result r;
  std::FILE* p = popen(("( " + cmd + " ) 2>&1").c_str(), "r");
  REQUIRE_MESSAGE(p != nullptr, "popen failed for: " << cmd);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A 32x32 image of class c: a class colour, stripes whose direction and period depend on the
// class, and noise, so classes differ but no two images are equal.
Image class_image(int c, int i, int size = 32) {
  static const uint8_t colors[4][3] = {{200, 40, 40}, {40, 180, 60}, {50, 60, 210}, {200, 200, 40}};
  graft::Generator gen(static_cast<uint64_t>(1000 * c + i));
  std::uniform_int_distribution<int> noise(-25, 25);
  Image img(size, size, 3);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const bool stripe = ((c % 2 ? x : y) / (2 + c)) % 2 == 0;
      for (int k = 0; k < 3; ++k) {
        int v = colors[c % 4][k] / (stripe ? 1 : 2) + noise(gen.engine());
        img.at(y, x, k) = static_cast<uint8_t>(std::clamp(v, 0, 255));
      }
    }
  return img;
}

void make_image_folder(const fs::path& root, const std::vector<std::string>& classes, int per_class, int first = 0) {
  for (size_t c = 0; c < classes.size(); ++c) {
    fs::create_directories(root / classes[c]);
    for (int i = 0; i < per_class; ++i)
      graft::save_png(class_image(static_cast<int>(c), first + i), (root / classes[c] / (std::to_string(i) + ".png")).string());
  }
}

// Rows of a metrics.csv (epoch,train_loss,train_acc,valid_loss,valid_acc,lr,seconds) as numbers.
std::vector<std::vector<double>> metrics_rows(const std::string& path) {
  std::vector<std::vector<double>> rows;
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    std::vector<double> row;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) row.push_back(cell.empty() ? std::nan("") : std::atof(cell.c_str()));
    rows.push_back(row);
  }
  return rows;
}

// Every epoch: finite positive losses, accuracies in [0,1] (NaN allowed where no validation).
void check_metrics(const std::string& path, size_t min_rows = 1) {
  INFO("metrics file " << path);
  REQUIRE(fs::exists(path));
  auto rows = metrics_rows(path);
  REQUIRE(rows.size() >= min_rows);
  for (auto& r : rows) {
    REQUIRE(r.size() >= 5);
    CHECK(std::isfinite(r[1]));
    CHECK(r[1] >= 0);
    CHECK(r[2] >= 0);
    CHECK(r[2] <= 1);
    if (!std::isnan(r[4])) {
      CHECK(r[4] >= 0);
      CHECK(r[4] <= 1);
    }
  }
}

// The first number after "key": in a JSON text (NaN if absent).
double json_number(const std::string& json, const std::string& key) {
  std::smatch m;
  if (std::regex_search(json, m, std::regex("\"" + key + "\"\\s*:\\s*([-+0-9.eE]+)"))) return std::atof(m[1].str().c_str());
  return std::nan("");
}

// The shared fixture: data, weights, paths. Built once for all test cases.
struct World {
  bool ok = false;
  std::string skip_reason;
  std::string graft, root, python;
  fs::path dir;  // temporary folder with data/, weights/, runs/

  static World& get() {
    static World w;
    return w;
  }
  std::string env(const std::string& data, const std::string& out) const {
    return "TINY=1 OMP_NUM_THREADS=2 GRAFT=" + quote(graft) + " WEIGHTS=" + quote((dir / "weights").string()) +
           " DATA=" + quote(data) + " OUT=" + quote(out);
  }
  Result script(const std::string& name, const std::string& data) const {
    const std::string out = (dir / "runs" / name).string();
    return sh(env(data, out) + " bash " + quote(root + "/examples/" + name + ".sh"));
  }
  std::string g() const { return "OMP_NUM_THREADS=2 GRAFT_WEIGHTS=" + quote((dir / "weights").string()) + " " + quote(graft); }
  bool convert(const std::string& arch) const {
    const fs::path out = dir / "weights" / (arch + ".h5");
    if (fs::exists(out)) return true;
    Result r = sh(quote(python) + " " + quote(root + "/tools/convert_torchvision.py") + " --arch " + arch +
                  " --random-seed 0 --out " + quote(out.string()));
    if (r.rc != 0) MESSAGE("convert_torchvision.py --arch " << arch << " failed:\n" << r.out);
    return r.rc == 0;
  }

 private:
  World() {
    const char* bin = std::getenv("GRAFT_BIN");
    const char* src = std::getenv("GRAFT_SOURCE_ROOT");
    const char* py = std::getenv("GRAFT_PYTHON");
    if (!bin || !src) {
      skip_reason = "GRAFT_BIN / GRAFT_SOURCE_ROOT not set (meson test sets them)";
      return;
    }
    graft = bin;
    root = src;
    python = py ? py : "/usr/bin/python3";
    if (sh(quote(python) + " -c 'import torch, torchvision, h5py'").rc != 0) {
      skip_reason = python + " cannot import torch, torchvision and h5py (Debian: python3-torch python3-torchvision "
                             "python3-h5py): no weights to convert";
      return;
    }
    dir = fs::temp_directory_path() / ("graft_examples_" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "weights");
    make_image_folder(dir / "data" / "shapes", {"disc", "square", "stripe"}, 10);
    make_image_folder(dir / "data" / "pair" / "train", {"cat", "dog"}, 8);
    make_image_folder(dir / "data" / "pair" / "valid", {"cat", "dog"}, 4, 100);
    // CSV-labelled images: image_names,emergency_or_not (the seed's columns), 0/1 labels.
    fs::create_directories(dir / "data" / "csv" / "images");
    std::ofstream csv(dir / "data" / "csv" / "train.csv");
    csv << "image_names,emergency_or_not\n";
    for (int i = 0; i < 16; ++i) {
      const std::string name = std::to_string(i) + ".png";
      graft::save_png(class_image(i % 2, i), (dir / "data" / "csv" / "images" / name).string());
      csv << name << "," << i % 2 << "\n";
    }
    csv.close();
    ok = true;
  }
  ~World() {
    if (!dir.empty() && !std::getenv("GRAFT_KEEP_TMP")) fs::remove_all(dir);
  }
};

#define REQUIRE_WORLD(w)                           \
  World& w = World::get();                         \
  if (!w.ok) {                                     \
    MESSAGE("skipped: " << w.skip_reason);         \
    return;                                        \
  }

#define REQUIRE_RUN(r)                                                  \
  do {                                                                  \
    INFO("output:\n" << (r).out);                                       \
    REQUIRE((r).rc == 0);                                               \
  } while (0)

}  // namespace

TEST_CASE("examples: 000 VGG16 feature extraction, early stopping, top-5, single-image predictions") {
  REQUIRE_WORLD(w);
  REQUIRE(w.convert("vgg16"));
  Result r = w.script("000_vgg16_feature_extraction", (w.dir / "data" / "shapes").string());
  REQUIRE_RUN(r);
  INFO(r.out);
  // Stratified 50/25/25 of 10 per class: floor gives 5/2/2, the remainder 1 goes to train.
  CHECK(json_number(read_text((w.dir / "runs" / "000_vgg16_feature_extraction" / "test.json").string()), "count") == 6);
  // n = 3: 134,260,544 frozen (VGG16 without classifier.6) + 4096*256+256 + 256*3+3 trainable.
  CHECK(r.out.find("135,310,147 parameters, 1,049,603 trainable") != std::string::npos);
  const fs::path out = w.dir / "runs" / "000_vgg16_feature_extraction";
  CHECK(fs::exists(out / "run" / "best.h5"));
  CHECK(fs::exists(out / "run" / "report.html"));
  check_metrics((out / "run" / "metrics.csv").string());
  const std::string json = read_text((out / "test.json").string());
  // 3 classes: k = 5 is clamped to 3 (metrics.h), and the true class is always among the top 3.
  const double top1 = json_number(json, "top1"), topk = json_number(json, "top3");
  CHECK(top1 >= 0);
  CHECK(top1 <= 1);
  CHECK(topk == doctest::Approx(1.0));
  CHECK(std::isfinite(json_number(json, "mean_cross_entropy")));
  // Two predicted images, each with its class names and probabilities.
  CHECK(std::regex_search(r.out, std::regex("(disc|square|stripe)[^\\n]*[0-9.]+%")));
}

TEST_CASE("examples: 001 CSV labels, small CNN baseline vs VGG16 features + new last layer") {
  REQUIRE_WORLD(w);
  REQUIRE(w.convert("vgg16"));
  Result r = w.script("001_csv_cnn_vs_vgg16_features", (w.dir / "data" / "csv").string());
  REQUIRE_RUN(r);
  INFO(r.out);
  const fs::path out = w.dir / "runs" / "001_csv_cnn_vs_vgg16_features";
  CHECK(fs::exists(out / "vgg16_features.h5"));
  check_metrics((out / "cnn" / "metrics.csv").string());
  check_metrics((out / "vgg16" / "metrics.csv").string());
  CHECK(std::regex_search(r.out, std::regex("small CNN from scratch +[0-9.]+% +[0-9.]+%")));
  CHECK(std::regex_search(r.out, std::regex("VGG16 features \\+ linear +[0-9.]+% +[0-9.]+%")));
}

TEST_CASE("examples: 002 DenseNet121 frozen, early stopping, checkpoint reloaded for the test set") {
  REQUIRE_WORLD(w);
  REQUIRE(w.convert("densenet121"));
  Result r = w.script("002_densenet121_checkpoint", (w.dir / "data" / "shapes").string());
  REQUIRE_RUN(r);
  const fs::path out = w.dir / "runs" / "002_densenet121_checkpoint";
  check_metrics((out / "run" / "metrics.csv").string());
  const std::string json = read_text((out / "test.json").string());
  INFO(json);
  CHECK(json_number(json, "top1") >= 0);
  CHECK(json_number(json, "top1") <= 1);
  // Stratified 70/20/10 of 10 images per class: 7/2/1 per class, so 3 test images.
  CHECK(json_number(json, "count") == 3);
}

TEST_CASE("examples: 003 ResNet18, RandomResizedCrop + flip, SGD momentum, curves and prediction grid") {
  REQUIRE_WORLD(w);
  REQUIRE(w.convert("resnet18"));
  Result r = w.script("003_resnet18_sgd_curves", (w.dir / "data" / "shapes").string());
  REQUIRE_RUN(r);
  const fs::path out = w.dir / "runs" / "003_resnet18_sgd_curves";
  check_metrics((out / "metrics.csv").string(), 2);
  const std::string html = read_text((out / "report.html").string());
  CHECK(html.find("<svg") != std::string::npos);                    // the curves
  CHECK(html.find("data:image/png;base64,") != std::string::npos);  // the grid
  CHECK(html.find("--momentum") != std::string::npos);              // the command line
}

TEST_CASE("examples: 004 BCE CNN, DenseNet121 out of the box, features exported, fine-tuning, last layers") {
  REQUIRE_WORLD(w);
  REQUIRE(w.convert("densenet121"));
  Result r = w.script("004_densenet121_flavours", (w.dir / "data" / "pair").string());
  REQUIRE_RUN(r);
  INFO(r.out);
  const fs::path out = w.dir / "runs" / "004_densenet121_flavours";
  for (const char* m : {"cnn", "extractor", "finetune", "last_layers"}) check_metrics((out / m / "metrics.csv").string());
  CHECK(fs::exists(out / "densenet121_features.h5"));
  // Out of the box: five ImageNet classes (names from weights/imagenet_classes.txt) with
  // probabilities, in the lines after the predict command.
  std::set<std::string> imagenet;
  {
    std::ifstream f(w.root + "/weights/imagenet_classes.txt");
    for (std::string name; std::getline(f, name);) imagenet.insert(name);
  }
  REQUIRE(imagenet.size() == 1000);
  const size_t at = r.out.find("predict --model densenet121");
  REQUIRE(at != std::string::npos);
  std::stringstream lines(r.out.substr(at));
  std::string line;
  int named = 0;
  double prob_sum = 0;
  std::getline(lines, line);  // the command itself
  while (std::getline(lines, line) && !line.empty() && line[0] != '$') {
    std::smatch m;
    if (std::regex_match(line, m, std::regex("\\s*([0-9.]+)%\\s+(.*)"))) {
      named += imagenet.count(m[2].str()) > 0;
      prob_sum += std::atof(m[1].str().c_str());
    }
  }
  CHECK(named == 5);
  CHECK(prob_sum <= 100.01);  // five of 1000 softmax probabilities (printed to 0.01%)
  CHECK(std::regex_search(r.out, std::regex("finetune +[0-9.]+%")));
}

TEST_CASE("graft train: a truncated JPEG is reported by file name") {
  REQUIRE_WORLD(w);
  const fs::path data = w.dir / "data" / "corrupt";
  make_image_folder(data, {"a", "b"}, 3);
  graft::save_jpeg(class_image(0, 99), (data / "a" / "broken.jpg").string());
  const auto size = fs::file_size(data / "a" / "broken.jpg");
  fs::resize_file(data / "a" / "broken.jpg", size / 3);  // cut inside the entropy-coded data
  Result r = sh(w.g() + " train --data " + quote(data.string()) +
                " --split 1 --model 'spec:conv(4,3) relu flatten linear(n)' --input-size 3x32x32 --epochs 1 "
                "--eval-transform resize=32x32 --train-transform resize=32x32 --quiet --out " +
                quote((w.dir / "runs" / "corrupt").string()));
  INFO(r.out);
  CHECK(r.rc == 1);
  CHECK(r.out.find("broken.jpg") != std::string::npos);
}

TEST_CASE("graft train --resume: a run killed with SIGKILL finishes where it stopped") {
  REQUIRE_WORLD(w);
  const std::string data = (w.dir / "data" / "shapes").string();
  const std::string common = " train --data " + quote(data) +
                             " --split 0.75,0.25 --model 'spec:conv(8,3) relu maxpool(2) flatten linear(n)' "
                             "--input-size 3x32x32 --train-transform hflip --eval-transform resize=32x32 "
                             "--epochs 40 --batch-size 4 --seed 3 --quiet --out ";
  const fs::path killed = w.dir / "runs" / "killed", whole = w.dir / "runs" / "whole";
  // Start in the background; kill -9 as soon as two epochs are on disk (no chance to clean up).
  Result start = sh(w.g() + common + quote(killed.string()) + " > /dev/null 2>&1 & echo $!");
  const pid_t pid = static_cast<pid_t>(std::atol(start.out.c_str()));
  REQUIRE(pid > 0);
  bool killed_midway = false;
  for (int i = 0; i < 3000; ++i) {  // at most 60 s
    if (metrics_rows((killed / "metrics.csv").string()).size() >= 2) {
      killed_midway = kill(pid, SIGKILL) == 0;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  int status = 0;
  waitpid(pid, &status, 0);  // not our child (the shell's): reaped by init; harmless if it fails
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const size_t done = metrics_rows((killed / "metrics.csv").string()).size();
  if (!killed_midway || done >= 40) {
    MESSAGE("the run finished before it could be killed; the resume check is not meaningful this time");
    return;
  }
  Result resumed = sh(w.g() + common + quote(killed.string()) + " --resume");
  INFO(resumed.out);
  REQUIRE(resumed.rc == 0);
  auto rows = metrics_rows((killed / "metrics.csv").string());
  REQUIRE(rows.size() == 40);
  for (size_t i = 0; i < rows.size(); ++i) CHECK(rows[i][0] == static_cast<double>(i + 1));  // no epoch twice
  // The same run without the interruption: resuming restores model, optimizer, epoch and RNG,
  // so the last epoch's losses agree. Tolerance: float32 sums over a few batches, 1e-4 relative
  // (the same code on the same data; any state not restored moves them by far more).
  Result uninterrupted = sh(w.g() + common + quote(whole.string()));
  REQUIRE(uninterrupted.rc == 0);
  auto ref = metrics_rows((whole / "metrics.csv").string());
  REQUIRE(ref.size() == 40);
  CHECK(rows.back()[1] == doctest::Approx(ref.back()[1]).epsilon(1e-4));
  CHECK(rows.back()[3] == doctest::Approx(ref.back()[3]).epsilon(1e-4));
}

TEST_CASE("graft: weights of the wrong architecture are refused, naming both") {
  REQUIRE_WORLD(w);
  REQUIRE(w.convert("resnet18"));
  const std::string img = (w.dir / "data" / "shapes" / "disc" / "0.png").string();
  Result r = sh(w.g() + " predict --model densenet121 --weights " + quote((w.dir / "weights" / "resnet18.h5").string()) +
                " " + quote(img));
  INFO(r.out);
  CHECK(r.rc == 1);
  CHECK(r.out.find("resnet18") != std::string::npos);
  CHECK(r.out.find("densenet121") != std::string::npos);
  // A checkpoint trained as a spec model, evaluated as if it were ResNet18's weights.
  Result t = sh(w.g() + " train --data " + quote((w.dir / "data" / "shapes").string()) +
                " --split 0.75,0.25 --model 'spec:conv(4,3) relu flatten linear(n)' --input-size 3x32x32 --epochs 1 "
                "--eval-transform resize=32x32 --train-transform resize=32x32 --quiet --out " +
                quote((w.dir / "runs" / "spec").string()));
  REQUIRE_RUN(t);
  Result e = sh(w.g() + " train --data " + quote((w.dir / "data" / "shapes").string()) +
                " --model resnet18 --weights " + quote((w.dir / "runs" / "spec" / "best.h5").string()) +
                " --epochs 1 --eval-transform resize=32x32 --train-transform resize=32x32 --quiet --out " +
                quote((w.dir / "runs" / "wrong").string()));
  INFO(e.out);
  CHECK(e.rc == 1);
  CHECK(e.out.find("best.h5") != std::string::npos);
}

// docs/usage.md: every `graft CMD --option` written in its code blocks names a command and
// options that exist (checked against `graft CMD --help`), so the manual cannot drift from the
// program (also after a launcher: mpirun ... graft train). Lines continued with a backslash are
// joined first.
TEST_CASE("docs/usage.md: every graft command and option in the code blocks exists") {
  const char* bin = std::getenv("GRAFT_BIN");
  const char* src = std::getenv("GRAFT_SOURCE_ROOT");
  if (!bin || !src) {
    MESSAGE("skipped: GRAFT_BIN / GRAFT_SOURCE_ROOT not set (meson test sets them)");
    return;
  }
  const std::string doc = read_text(std::string(src) + "/docs/usage.md");
  REQUIRE_FALSE(doc.empty());
  std::vector<std::string> commands;
  bool in_code = false;
  std::string pending;
  std::stringstream ss(doc);
  std::string line;
  while (std::getline(ss, line)) {
    if (line.rfind("```", 0) == 0) {
      in_code = !in_code;
      continue;
    }
    if (!in_code) continue;
    if (!line.empty() && line.back() == '\\') {
      pending += line.substr(0, line.size() - 1) + " ";
      continue;
    }
    line = pending + line;
    pending.clear();
    std::smatch m;
    if (std::regex_search(line, m, std::regex("^\\s*(?:\\$ )?(?:(?:mpirun|srun)\\b.*?\\s)?(?:build/tools/)?graft ([a-z][a-z-]*)(.*)$"))) commands.push_back(line);
  }
  REQUIRE(commands.size() >= 10);
  std::map<std::string, std::string> help;  // command -> its --help text
  int checked = 0;
  for (const std::string& c : commands) {
    std::smatch m;
    std::regex_search(c, m, std::regex("graft ([a-z][a-z-]*)(.*)$"));  // lr-find: a hyphen
    const std::string cmd = m[1], rest = m[2];
    if (!help.count(cmd)) {
      Result r = sh(quote(bin) + " " + cmd + " --help");
      INFO("command line in docs/usage.md: " << c);
      CHECK_MESSAGE(r.rc == 0, "`graft " << cmd << " --help` failed:\n" << r.out);
      help[cmd] = r.out;
    }
    // Options: --name, outside quotes (a quoted head spec may contain anything).
    std::string unquoted;
    char q = 0;
    for (char ch : rest) {
      if (q) {
        if (ch == q) q = 0;
      } else if (ch == '\'' || ch == '"') {
        q = ch;
      } else {
        unquoted += ch;
      }
    }
    const std::string after_hash = unquoted.substr(0, unquoted.find(" #"));  // drop shell comments
    static const std::regex option_re("(^|\\s)--([a-z][a-z0-9-]*)");
    for (std::sregex_iterator it(after_hash.begin(), after_hash.end(), option_re), end;
         it != end; ++it) {
      const std::string opt = (*it)[2];
      if (opt == "help" || opt == "no") continue;
      std::string name = opt.rfind("no-", 0) == 0 && help[cmd].find("--" + opt) == std::string::npos ? opt.substr(3) : opt;
      INFO("command line in docs/usage.md: " << c);
      CHECK_MESSAGE(help[cmd].find("--" + name) != std::string::npos, "graft " << cmd << " has no option --" << name);
      ++checked;
    }
  }
  MESSAGE(commands.size() << " command lines, " << checked << " options checked");
}

TEST_CASE("graft summary: seed 000's VGG16 with the new head, backbone frozen") {
  const char* bin = std::getenv("GRAFT_BIN");
  if (!bin) {
    MESSAGE("skipped: GRAFT_BIN not set (meson test sets it)");
    return;
  }
  // Hand-computed: VGG16 has 138,357,544 parameters; classifier.6 (4096*1000 + 1000 = 4,097,000)
  // is replaced by 4096*256 + 256 + 256*100 + 100 = 1,074,532, the only trainable ones:
  // 138,357,544 - 4,097,000 + 1,074,532 = 135,335,076 (the numbers the seed's PyTorch prints).
  Result r = sh(std::string("OMP_NUM_THREADS=2 ") + quote(bin) +
                " summary --model vgg16 --head 'linear(256) relu dropout(0.4) linear(n) logsoftmax' --num-classes 100"
                " --freeze backbone --input-size 3x32x32");
  INFO(r.out);
  REQUIRE(r.rc == 0);
  CHECK(r.out.find("total 135,335,076 parameters, 1,074,532 trainable, 134,260,544 frozen") != std::string::npos);
  // Output shapes of one 32x32 input: five 2x2 max pools leave 1x1, the new head gives 100.
  CHECK(std::regex_search(r.out, std::regex("features\\.30 +MaxPool2d +\\[1, 512, 1, 1\\]")));
  CHECK(std::regex_search(r.out, std::regex("classifier\\.6\\.3 +Linear +\\[1, 100\\] +25,700 +25,700")));
  // A spec model: conv(8,5) on 1x28x28 -> 8x24x24 (208 = 8*25 + 8), pool -> 8x12x12, 1152*10+10.
  Result s = sh(std::string(quote(bin)) +
                " summary --model 'spec:conv(8,5) relu maxpool(2) flatten linear(n)' --input-size 1x28x28 --num-classes 10");
  INFO(s.out);
  REQUIRE(s.rc == 0);
  CHECK(std::regex_search(s.out, std::regex("0 +Conv2d +\\[1, 8, 24, 24\\] +208 +208")));
  CHECK(s.out.find("total 11,738 parameters, 11,738 trainable, 0 frozen") != std::string::npos);
  Result bad = sh(std::string(quote(bin)) + " summary --model vgg17");
  CHECK(bad.rc == 1);
  CHECK(bad.out.find("vgg17") != std::string::npos);
}

TEST_CASE("graft split: counts per class, links, refusing to overwrite, errors") {
  const char* bin = std::getenv("GRAFT_BIN");
  if (!bin) {
    MESSAGE("skipped: GRAFT_BIN not set (meson test sets it)");
    return;
  }
  const fs::path dir = fs::temp_directory_path() / ("graft_split_" + std::to_string(getpid()));
  fs::remove_all(dir);
  make_image_folder(dir / "data", {"a", "b", "c"}, 10);
  fs::create_directories(dir / "data" / "b" / "nested");
  graft::save_png(class_image(1, 50), (dir / "data" / "b" / "nested" / "x.png").string());  // b: 11 images
  const std::string g = quote(bin) + " split --data " + quote((dir / "data").string()) + " --out " +
                        quote((dir / "out").string());
  // Stratified 70/20/10: a, c: 7/2/1; b (11): floor 7/2/1 = 10, remainder 1 to train: 8/2/1.
  Result r = sh(g + " --fractions 0.7,0.2,0.1 --stratified --seed 5 --link hard");
  INFO(r.out);
  REQUIRE(r.rc == 0);
  CHECK(std::regex_search(r.out, std::regex("\\na +7 +2 +1 +10\\n")));
  CHECK(std::regex_search(r.out, std::regex("\\nb +8 +2 +1 +11\\n")));
  CHECK(std::regex_search(r.out, std::regex("\\ntotal +22 +6 +3 +31\\n")));
  auto count = [&](const fs::path& p) {
    int n = 0;
    for (auto& e : fs::recursive_directory_iterator(p)) n += e.is_regular_file();
    return n;
  };
  CHECK(count(dir / "out" / "train") == 22);
  CHECK(count(dir / "out" / "valid") == 6);
  CHECK(count(dir / "out" / "test") == 3);
  // Nothing lost or duplicated: every source file is in exactly one part, as a hard link.
  int placed = 0;
  for (auto& e : fs::recursive_directory_iterator(dir / "out"))
    if (e.is_regular_file()) {
      ++placed;
      CHECK(fs::hard_link_count(e.path()) == 2);
    }
  CHECK(placed == 31);
  CHECK(fs::exists(dir / "out" / "train" / "b" / "nested" / "x.png") + fs::exists(dir / "out" / "valid" / "b" / "nested" / "x.png") +
            fs::exists(dir / "out" / "test" / "b" / "nested" / "x.png") ==
        1);  // the path below the class folder is kept
  // The same seed gives the same split; a non-empty output is refused without --force.
  Result again = sh(g + " --fractions 0.7,0.2,0.1 --stratified --seed 5");
  CHECK(again.rc == 1);
  CHECK(again.out.find("--force") != std::string::npos);
  Result forced = sh(g + " --fractions 0.7,0.2,0.1 --stratified --seed 5 --force");
  CHECK(forced.rc == 0);
  CHECK(forced.out.substr(forced.out.find("\nclass")) == r.out.substr(r.out.find("\nclass")));
  // Two parts with --force: the old test/ folder does not stay behind.
  Result two = sh(g + " --fractions 0.8,0.2 --link symlink --force");
  CHECK(two.rc == 0);
  CHECK_FALSE(fs::exists(dir / "out" / "test"));
  CHECK(fs::is_symlink(*fs::recursive_directory_iterator(dir / "out" / "valid" / "a")));
  // Errors: missing folder, folder without classes, fractions that do not sum to 1.
  Result missing = sh(quote(bin) + " split --data " + quote((dir / "nope").string()) + " --out " + quote((dir / "o2").string()));
  CHECK(missing.rc == 1);
  CHECK(missing.out.find("nope") != std::string::npos);
  fs::create_directories(dir / "empty");
  Result empty = sh(quote(bin) + " split --data " + quote((dir / "empty").string()) + " --out " + quote((dir / "o3").string()));
  CHECK(empty.rc == 1);
  CHECK(empty.out.find("empty") != std::string::npos);
  Result frac = sh(g + "x --fractions 0.5,0.6");
  CHECK(frac.rc == 2);
  CHECK(frac.out.find("summing to 1") != std::string::npos);
  fs::remove_all(dir);
}

// ---- data-parallel training (graft train --distributed under mpirun) ----------------------------

namespace {

// "mpirun -np 2 ... graft" with one thread per rank (2 ranks on 2 cores), or "" (the test skips)
// when graft was built without MPI or mpirun is missing. As root, OpenMPI wants
// --allow-run-as-root; --oversubscribe lets 2 ranks start whatever the core count says;
// vader's single-copy mechanism needs ptrace rights that containers often lack.
std::string mpirun_graft(const World& w, int ranks) {
  const char* mpirun = std::getenv("GRAFT_MPIRUN");
  if (!mpirun) return "";
  return "OMP_NUM_THREADS=1 OMPI_MCA_btl_vader_single_copy_mechanism=none " + quote(mpirun) + " -np " +
         std::to_string(ranks) + " --allow-run-as-root --oversubscribe " + quote(w.graft);
}

#define REQUIRE_MPIRUN(cmd, w)                                                                          \
  const std::string cmd = mpirun_graft(w, 2);                                                           \
  if (cmd.empty()) {                                                                                    \
    MESSAGE("skipped: graft was built without MPI or mpirun is missing (apt-get install openmpi-bin " \
            "libopenmpi-dev)");                                                                         \
    return;                                                                                             \
  }

// A small CNN without batch norm or dropout (per-rank batch statistics and per-rank dropout
// masks are the two things that legitimately differ from one process), deterministic
// transforms, 24 training images: 3 steps of 8 per epoch.
std::string distributed_run(const World& w, const std::string& optimizer, int epochs,
                            const std::string& model = "spec:conv(4,3) relu maxpool(2) flatten linear(n)") {
  return " train --data " + quote((w.dir / "data" / "shapes").string()) + " --split 0.8,0.2 --model " + quote(model) +
         " --input-size 3x32x32"
         " --train-transform resize=32x32 --eval-transform resize=32x32 --weights none --seed 5 --workers 0 --quiet"
         " --optimizer " + optimizer + " --lr " + (optimizer == "sgd" ? "0.05 --momentum 0.9" : "0.003") +
         " --epochs " + std::to_string(epochs);
}

// Largest |a - b| over the float tensors that both checkpoints hold (model and optimizer state).
double max_checkpoint_difference(const fs::path& a, const fs::path& b) {
  const graft::NamedTensors ta = graft::load_tensors(a.string()), tb = graft::load_tensors(b.string());
  REQUIRE(ta.size() == tb.size());
  double worst = 0;
  size_t compared = 0;
  for (size_t i = 0; i < ta.size(); ++i) {
    REQUIRE(ta[i].first == tb[i].first);
    if (ta[i].second.dtype() != graft::DType::Float32) continue;
    const std::vector<float> x = ta[i].second.to_vector(), y = tb[i].second.to_vector();
    REQUIRE(x.size() == y.size());
    for (size_t j = 0; j < x.size(); ++j) worst = std::max(worst, double(std::abs(x[j] - y[j])));
    ++compared;
  }
  CHECK(compared >= 4);  // at least the conv and linear weights and biases
  return worst;
}

}  // namespace

TEST_CASE("graft train --distributed: 2 processes of batch 4 equal 1 process of batch 8 (SGD, Adam, --resume)") {
  REQUIRE_WORLD(w);
  REQUIRE_MPIRUN(mpirun, w);
  for (const std::string optimizer : {"sgd", "adam"}) {
    INFO("optimizer " << optimizer);
    const fs::path single = w.dir / "runs" / ("single_" + optimizer), dist = w.dir / "runs" / ("dist_" + optimizer);
    Result one = sh(w.g() + distributed_run(w, optimizer, 3) + " --batch-size 8 --out " + quote(single.string()));
    REQUIRE_RUN(one);
    // The SGD run stops after 2 epochs and resumes for the third: the resumed ranks must pick up
    // the same weights, optimizer state and shuffle as the uninterrupted single process.
    const bool resume = optimizer == "sgd";
    Result two = sh(mpirun + distributed_run(w, optimizer, resume ? 2 : 3) + " --batch-size 4 --distributed --out " +
                    quote(dist.string()));
    REQUIRE_RUN(two);
    CHECK(two.out.find("distributed: 2 processes") != std::string::npos);
    CHECK(two.out.find("8 images per step in all") != std::string::npos);
    CHECK(two.out.find(resume ? "6 steps" : "9 steps") != std::string::npos);  // 24 images / 8 per step
    if (resume) {
      Result more = sh(mpirun + distributed_run(w, optimizer, 3) + " --batch-size 4 --distributed --resume --out " +
                       quote(dist.string()));
      REQUIRE_RUN(more);
      CHECK(more.out.find("resumed") != std::string::npos);
    }
    // Only rank 0 writes: one line per epoch in metrics.csv, not one per rank.
    const auto a = metrics_rows((single / "metrics.csv").string()), b = metrics_rows((dist / "metrics.csv").string());
    REQUIRE(a.size() == 3);
    REQUIRE(b.size() == 3);
    // Tolerance: the same arithmetic but for the order of the sums (a mean over 8 vs the mean of
    // two means over 4, then float32 all-reduce), after 9 steps: rounding is ~1e-7 relative; a
    // wrong shard, a missed or doubled gradient or unaveraged metrics differ by far more (1e-2).
    for (size_t e = 0; e < 3; ++e)
      for (size_t col : {1, 2, 3, 4}) CHECK(b[e][col] == doctest::Approx(a[e][col]).epsilon(1e-5));
    CHECK(max_checkpoint_difference(single / "last.h5", dist / "last.h5") < 1e-5);
  }
}

TEST_CASE("graft train --distributed --sync-bn: batch norm over both processes equals one process of batch 8") {
  REQUIRE_WORLD(w);
  REQUIRE_MPIRUN(mpirun, w);
  const std::string model = "spec:conv(4,3) bn relu maxpool(2) flatten linear(n)";
  const fs::path single = w.dir / "runs" / "single_bn", synced = w.dir / "runs" / "dist_sync_bn",
                 per_rank = w.dir / "runs" / "dist_bn";
  const Result one = sh(w.g() + distributed_run(w, "sgd", 2, model) + " --batch-size 8 --out " + quote(single.string()));
  REQUIRE_RUN(one);
  const Result sync = sh(mpirun + distributed_run(w, "sgd", 2, model) + " --batch-size 4 --distributed --sync-bn --out " +
                         quote(synced.string()));
  REQUIRE_RUN(sync);
  const Result alone = sh(mpirun + distributed_run(w, "sgd", 2, model) + " --batch-size 4 --distributed --out " +
                          quote(per_rank.string()));
  REQUIRE_RUN(alone);
  // Weights, running statistics and optimizer state. Tolerance as in the test above (rounding
  // of sums in another order, 6 steps); per-rank statistics normalize 4 images instead of 8
  // and move everything by far more, which the last check shows.
  CHECK(max_checkpoint_difference(single / "last.h5", synced / "last.h5") < 1e-5);
  CHECK(max_checkpoint_difference(single / "last.h5", per_rank / "last.h5") > 1e-3);
}

TEST_CASE("graft features and train's feature cache --distributed: a share per rank, the rows of one process") {
  REQUIRE_WORLD(w);
  REQUIRE_MPIRUN(mpirun, w);
  REQUIRE(w.convert("resnet18"));
  const std::string data = quote((w.dir / "data" / "shapes").string());
  const std::string model = " --model resnet18 --weights " + quote((w.dir / "weights" / "resnet18.h5").string());
  const std::string t = "resize=32x32,normalize=imagenet";
  const fs::path one_h5 = w.dir / "runs" / "feats_one.h5", two_h5 = w.dir / "runs" / "feats_two.h5";
  const Result one = sh(w.g() + " features " + data + model + " --transform " + t + " --workers 0 --out " +
                        quote(one_h5.string()));
  REQUIRE_RUN(one);
  const Result two = sh(mpirun + " features " + data + model + " --transform " + t + " --workers 0 --distributed --out " +
                        quote(two_h5.string()));
  REQUIRE_RUN(two);
  // The same rows in the same (dataset) order; values from the same kernels with 1 thread per
  // rank instead of 2, whose partial sums may be ordered differently: 1e-5 on values of order 1.
  auto a = graft::open_dataset(one_h5.string()), b = graft::open_dataset(two_h5.string());
  REQUIRE(a->size() == 30);
  REQUIRE(b->size() == a->size());
  double worst = 0;
  for (int64_t i = 0; i < a->size(); ++i) {
    CHECK(a->source(i) == b->source(i));
    CHECK(a->label(i) == b->label(i));
    const std::vector<float> x = a->get(i).tensor.to_vector(), y = b->get(i).tensor.to_vector();
    REQUIRE(x.size() == y.size());
    for (size_t j = 0; j < x.size(); ++j) worst = std::max(worst, double(std::abs(x[j] - y[j])));
  }
  CHECK(worst < 1e-5);

  // A frozen backbone and a deterministic transform: train computes the features once — over
  // both ranks, each with all rows afterwards — and the head's training equals one process's.
  const std::string run = " train --data " + data + " --split 0.8,0.2" + model +
                          " --freeze backbone --head 'linear(n)' --train-transform " + t + " --eval-transform " + t +
                          " --epochs 2 --seed 5 --workers 0 --quiet --optimizer sgd --lr 0.05";
  const fs::path single = w.dir / "runs" / "cache_one", dist = w.dir / "runs" / "cache_two";
  const Result s1 = sh(w.g() + run + " --batch-size 8 --out " + quote(single.string()));
  REQUIRE_RUN(s1);
  const Result s2 = sh(mpirun + run + " --batch-size 4 --distributed --out " + quote(dist.string()));
  REQUIRE_RUN(s2);
  CHECK(s2.out.find("computing the backbone features once") != std::string::npos);
  CHECK(max_checkpoint_difference(single / "last.h5", dist / "last.h5") < 1e-5);  // as above, after 6 steps
}

TEST_CASE("graft eval --distributed: each rank a share of the images, rank 0 reports on all of them") {
  REQUIRE_WORLD(w);
  REQUIRE_MPIRUN(mpirun, w);
  const fs::path run = w.dir / "runs" / "eval_model";
  const Result trained = sh(w.g() + distributed_run(w, "sgd", 2) + " --batch-size 8 --out " + quote(run.string()));
  REQUIRE_RUN(trained);
  const std::string data = quote((w.dir / "data" / "shapes").string());
  for (const std::string tta : {"none", "flip"}) {
    INFO("--tta " << tta);
    const std::string eval = " eval --checkpoint " + quote((run / "best.h5").string()) + " " + data +
                             " --workers 0 --tta " + tta + " --json ";
    const fs::path one = w.dir / "runs" / ("eval_one_" + tta + ".json"), two = w.dir / "runs" / ("eval_two_" + tta + ".json");
    const Result a = sh(w.g() + eval + quote(one.string()));
    REQUIRE_RUN(a);
    const Result b = sh(mpirun + eval + quote(two.string()) + " --distributed");
    REQUIRE_RUN(b);
    const std::string ja = read_text(one.string()), jb = read_text(two.string());
    CHECK(json_number(jb, "count") == 30);  // every image once, none twice
    // The same outputs, gathered back into dataset order: the same counts exactly; the mean
    // cross-entropy to float32 rounding of the logits (1 vs 2 threads per process).
    CHECK(json_number(jb, "count") == json_number(ja, "count"));
    CHECK(json_number(jb, "top1") == json_number(ja, "top1"));
    CHECK(json_number(jb, "mean_cross_entropy") == doctest::Approx(json_number(ja, "mean_cross_entropy")).epsilon(1e-5));
    if (tta == "flip") CHECK(json_number(jb, "top1_without") == json_number(ja, "top1_without"));
  }
}

TEST_CASE("graft train --distributed: a rank that dies or hangs stops the run with an error, never a hang") {
  REQUIRE_WORLD(w);
  REQUIRE_MPIRUN(mpirun, w);
  const std::string run = distributed_run(w, "sgd", 3) + " --batch-size 4 --distributed --dist-timeout 3 --out ";
  using Clock = std::chrono::steady_clock;
  // `timeout 120`: if the run hangs after all, the test fails instead of hanging CI.
  {  // rank 1 killed by SIGKILL at its second step: mpirun sees it and stops rank 0.
    const auto t0 = Clock::now();
    Result r = sh("GRAFT_FAULT=kill:1:2 timeout 120 env " + mpirun + run + quote((w.dir / "runs" / "killed_rank").string()));
    INFO(r.out);
    CHECK(r.rc != 0);
    CHECK(r.rc != 124);  // not the timeout's doing
    CHECK(r.out.find("GRAFT_FAULT=kill:1:2") != std::string::npos);
    CHECK(r.out.find("rank 1") != std::string::npos);
    CHECK(std::chrono::duration<double>(Clock::now() - t0).count() < 60);
  }
  {  // rank 1 stops answering: rank 0's all-reduce times out after 3 s and aborts the job.
    const auto t0 = Clock::now();
    Result r = sh("GRAFT_FAULT=hang:1:2 timeout 120 env " + mpirun + run + quote((w.dir / "runs" / "hung_rank").string()));
    INFO(r.out);
    CHECK(r.rc != 0);
    CHECK(r.rc != 124);
    CHECK(r.out.find("rank 0 of 2: all-reduce of gradient bucket 0: no answer from the other ranks for 3 s") !=
          std::string::npos);
    CHECK(std::chrono::duration<double>(Clock::now() - t0).count() < 60);
  }
}

TEST_CASE("graft train --distributed --device cuda: one rank through NCCL equals the plain GPU run") {
  REQUIRE_WORLD(w);
  REQUIRE_MPIRUN(mpirun2, w);
  if (!graft::cuda_available()) {
    MESSAGE("skipped: no CUDA GPU (" << graft::device_summary(graft::Device::CUDA) << ")");
    return;
  }
  // One GPU here, and NCCL wants one GPU per rank: a world of one, which still sums through NCCL.
  const std::string mpirun1 = mpirun_graft(w, 1);
  const fs::path plain = w.dir / "runs" / "gpu_plain", nccl = w.dir / "runs" / "gpu_nccl";
  const Result a = sh(w.g() + distributed_run(w, "sgd", 2) + " --device cuda --batch-size 8 --out " + quote(plain.string()));
  REQUIRE_RUN(a);
  const Result b = sh(mpirun1 + distributed_run(w, "sgd", 2) + " --device cuda --batch-size 8 --distributed --out " +
                      quote(nccl.string()));
  REQUIRE_RUN(b);
  CHECK(b.out.find("gradients over NCCL") != std::string::npos);
  // The same kernels on the same GPU; a sum over one rank and a division by 1 change nothing.
  // 1e-5 leaves room for cuDNN picking a different (equally valid) algorithm in the other run.
  CHECK(max_checkpoint_difference(plain / "last.h5", nccl / "last.h5") < 1e-5);
}
