// tools/cmd_bench.cpp — `graft bench`: images per second of the models, side by side with PyTorch.
//
// For every model x (batch, image size) x mode it builds the model, runs `warmup` untimed
// steps, then `reps` timed steps, and reports images/s = batch / median(step seconds) with the
// spread (slowest and fastest step) and the peak resident memory. Modes:
//   infer   eval mode under NoGradGuard, forward only
//   train   forward, cross_entropy, backward, SGD step (momentum 0.9) on every parameter
//   frozen  the head replaced by a new Linear (10 classes), everything else frozen: the
//           backbone records no graph, so the backward pass stops at the head
// --pytorch runs tools/bench_pytorch.py (Debian's torch, /usr/bin/python3) with the same
// configurations and thread count, reads its JSON lines and prints the ratio graft/PyTorch.
// --features E adds the feature-extraction workflow: a frozen-backbone run over a small fixed
// dataset for E epochs; graft computes the backbone's features once (epoch 1) and epochs 2..E
// only train the head, where the usual PyTorch loop runs the backbone forward every epoch.
//
// Peak memory: VmHWM of /proc/self/status, reset before each configuration by writing 5 to
// /proc/self/clear_refs (Linux >= 4.0). The thread-local convolution workspaces persist
// between configurations, so a later configuration's peak includes them when they are larger.
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "autograd/engine.h"
#include "layers/basic.h"
#include "layers/conv_bn.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "models/models.h"
#include "optim/sgd.h"
#include "tensor/check.h"
#include "tensor/device.h"
#include "layers/conv2d.h"
#include "layers/conv_bn.h"
#include "tensor/gemm.h"
#include "train/fit.h"
#include "args.h"
#include "commands.h"
#include "tensor/random.h"

#ifndef GRAFT_SOURCE_DIR
#define GRAFT_SOURCE_DIR "."
#endif

namespace graft {

namespace {

struct Config {
  int64_t batch, size;
};

struct Options {
  std::vector<std::string> models = {"resnet18", "densenet121", "vgg16"};
  std::vector<std::string> modes = {"infer", "train", "frozen"};
  std::vector<Config> configs;
  int reps = 3, warmup = 1, threads = 0, feature_epochs = 0, feature_images = 64;
  int64_t feature_size = 112, feature_batch = 16;
  std::string features_model = "resnet18";
  Device device = Device::CPU;
  bool pytorch = false;
  std::string out, note, python, script;
};

struct Row {
  std::string model, mode;
  Config config;
  double ips = 0, ips_min = 0, ips_max = 0, peak_mb = 0;
  double torch_ips = 0, torch_peak_mb = 0;  // 0: not measured
};

struct FeatureResult {
  std::string model;
  double first_epoch_s = 0, later_epoch_s = 0;  // graft: epoch 1 (extract + head), mean of 2..E
  double torch_epoch_s = 0;                     // PyTorch: mean epoch (backbone forward + head)
};

// ---- options ------------------------------------------------------------------------------

std::vector<std::string> split(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

int64_t to_int(const std::string& s, const std::string& what) {
  try {
    size_t used = 0;
    const long long v = std::stoll(s, &used);
    if (used == s.size() && v > 0) return v;
  } catch (const std::exception&) {
  }
  throw tools::ArgError("graft bench: " + what + " must be a positive integer, got '" + s + "'");
}

tools::ArgParser bench_parser() {
  tools::ArgParser p("graft bench",
                     "Images per second of the three models (inference, a training step, a frozen-backbone step),\n"
                     "with --pytorch the same configurations in PyTorch on this machine and the ratio.");
  p.add_string("models", "resnet18,densenet121,vgg16", "models, comma-separated")
      .add_string("modes", "infer,train,frozen", "modes, comma-separated: infer, train, frozen")
      .add_string("batch", "", "batch sizes (every one with every --size; or use --configs)")
      .add_string("size", "", "image sizes (with --batch)")
      .add_string("configs", "8x224,32x112", "BATCHxSIZE pairs, comma-separated")
      .add_int("reps", 3, "timed steps per configuration")
      .add_int("warmup", 1, "untimed steps before")
      .add_int("threads", 0, "OpenMP threads for graft and PyTorch (0: all cores)")
      .add_string("device", "cpu", "cpu or cuda (cuda needs a CUDA build)", false, {"cpu", "cuda"})
      .add_flag("pytorch", "also run tools/bench_pytorch.py with /usr/bin/python3 (--python, --script)")
      .add_int("features", 0, "feature-extraction workflow over this many epochs (0: not run)")
      .add_string("features-model", "resnet18", "model of the feature-extraction workflow")
      .add_int("features-size", 112, "its image size")
      .add_int("features-images", 64, "its number of images")
      .add_int("features-batch", 16, "its batch size")
      .add_string("out", "", "write the table to this Markdown file (e.g. docs/benchmarks.md)")
      .add_string("note", "", "a remark written under the file's heading")
      .add_string("python", "/usr/bin/python3", "the Python that runs the PyTorch side")
      .add_string("script", GRAFT_SOURCE_DIR "/tools/bench_pytorch.py", "the PyTorch benchmark script")
      .add_example("graft bench --pytorch --threads 2", "every model and mode against PyTorch")
      .add_example("GRAFT_KERNELS='*=avx2' graft bench --pytorch --models resnet18",
                   "the AVX2 path on an AVX-512 machine");
  return p;
}

Options options_from(const tools::Args& a) {
  Options o;
  o.models = split(a.get("models"));
  o.modes = split(a.get("modes"));
  for (const auto& m : o.modes)
    if (m != "infer" && m != "train" && m != "frozen")
      throw tools::ArgError("graft bench: unknown mode '" + m + "'; expected infer, train or frozen");
  if (a.given("batch") != a.given("size"))
    throw tools::ArgError("graft bench: give --batch and --size together (or --configs)");
  if (a.given("batch")) {
    for (auto& b : split(a.get("batch")))
      for (auto& z : split(a.get("size"))) o.configs.push_back({to_int(b, "--batch"), to_int(z, "--size")});
  } else {
    for (auto& c : split(a.get("configs"))) {
      const auto parts = split(c, 'x');
      if (parts.size() != 2) throw tools::ArgError("graft bench: --configs wants BATCHxSIZE, got '" + c + "'");
      o.configs.push_back({to_int(parts[0], "batch"), to_int(parts[1], "size")});
    }
  }
  o.reps = static_cast<int>(to_int(a.get("reps"), "--reps"));
  o.warmup = static_cast<int>(a.get_int("warmup"));
  if (o.warmup < 0) throw tools::ArgError("graft bench: --warmup must be 0 or more");
  o.threads = static_cast<int>(a.get_int("threads"));
  o.device = parse_device(a.get("device"));
  o.pytorch = a.flag("pytorch");
  o.feature_epochs = static_cast<int>(a.get_int("features"));
  o.features_model = a.get("features-model");
  o.feature_size = to_int(a.get("features-size"), "--features-size");
  o.feature_images = static_cast<int>(to_int(a.get("features-images"), "--features-images"));
  o.feature_batch = to_int(a.get("features-batch"), "--features-batch");
  o.out = a.get("out");
  o.note = a.get("note");
  o.python = a.get("python");
  o.script = a.get("script");
  GRAFT_CHECK_DATA(o.device != Device::CUDA || cuda_available(), "graft bench",
                   "--device cuda, but this graft cannot use CUDA (", device_summary(Device::CUDA),
                   "): use --device cpu");
  if (o.threads <= 0) o.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return o;
}

// ---- measuring ----------------------------------------------------------------------------

void reset_peak_memory() {
  std::ofstream f("/proc/self/clear_refs");
  if (f) f << "5";  // resets VmHWM to the current RSS
}

double peak_memory_mb() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // "VmHWM:  123 kB"
  rusage u{};
  getrusage(RUSAGE_SELF, &u);  // fallback: the process's peak, never reset
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// Waits until the device has finished: reading one value back synchronizes a CUDA stream.
void sync(const Tensor& t) {
  if (t.defined() && t.is_cuda()) (void)t.detach().view({-1}).slice(0, 1).to(Device::CPU);
}

Tensor random_images(const Config& c, Device device, Generator& gen) {
  Tensor x = Tensor::empty({c.batch, 3, c.size, c.size});
  normal_(x, 0.0f, 1.0f, gen);
  return x.to(device);
}

Tensor random_labels(int64_t n, int64_t classes, Device device, uint64_t seed) {
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = static_cast<int64_t>((seed + 7 * i) % classes);
  return Tensor::from_labels(labels, device);
}

// The model for one mode: 1000 classes (torchvision's default) for infer/train; for frozen a
// new 10-class Linear head with everything else frozen.
ModulePtr build(const std::string& arch, const std::string& mode, Device device) {
  ModulePtr model = make_model(arch, 1000);
  if (mode == "frozen") {
    replace_head(*model, arch, "linear(n)", 10);
    freeze_all_but_last(*model, 1);
  }
  model->to(device);
  if (mode == "infer") model->eval();
  else model->train();  // frozen: the frozen batch norms keep their statistics (BatchNorm2d)
  return model;
}

Row bench_one(const std::string& arch, const std::string& mode, const Config& c, const Options& o) {
  reset_peak_memory();
  Generator gen(1234);
  ModulePtr model = build(arch, mode, o.device);
  const Tensor x = random_images(c, o.device, gen);
  const Tensor target = random_labels(c.batch, mode == "frozen" ? 10 : 1000, o.device, 3);
  std::unique_ptr<SGD> opt;
  if (mode != "infer") opt = std::make_unique<SGD>(model->parameters(true), 0.01f, 0.9f);

  const LossFn ce = [](const Tensor& out, const Tensor& y) { return cross_entropy(out, y); };
  std::function<void()> step = [&] {
    if (mode == "infer") {
      NoGradGuard no_grad;
      sync((*model)(x));
    } else {
      sync(train_step(*model, *opt, ce, x, target).loss);  // the training loop's step (train/fit.h)
    }
  };
  for (int i = 0; i < o.warmup; ++i) step();
  std::vector<double> seconds;
  for (int i = 0; i < o.reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  Row r{arch, mode, c};
  const double median = seconds.size() % 2 ? seconds[seconds.size() / 2]
                                           : 0.5 * (seconds[seconds.size() / 2 - 1] + seconds[seconds.size() / 2]);
  r.ips = static_cast<double>(c.batch) / median;
  r.ips_min = static_cast<double>(c.batch) / seconds.back();
  r.ips_max = static_cast<double>(c.batch) / seconds.front();
  r.peak_mb = peak_memory_mb();
  return r;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Frozen backbone + new Linear head over a fixed dataset (no augmentation): the features are
// computed once, in epoch 1, and epochs 2..E train the head on the cached features.
FeatureResult bench_features(const Options& o) {
  const std::string& arch = o.features_model;
  ModulePtr model = make_model(arch, 1000);
  const std::string head = replace_head(*model, arch, "linear(n)", 10);
  ModulePtr linear = model->get(head);
  model->replace(head, std::make_shared<Identity>());  // the model now outputs the features
  model->to(o.device);
  linear->to(o.device);
  model->eval();
  linear->train();
  SGD opt(linear->parameters(), 0.01f, 0.9f);

  Generator gen(99);
  const Config c{o.feature_images, o.feature_size};
  const Tensor images = random_images(c, o.device, gen);
  const Tensor labels = random_labels(c.batch, 10, o.device, 5);
  std::vector<Tensor> features;  // one [B, F] tensor per batch, filled in epoch 1

  const LossFn ce = [](const Tensor& out, const Tensor& y) { return cross_entropy(out, y); };
  auto head_step = [&](const Tensor& f, const Tensor& t) { sync(train_step(*linear, opt, ce, f, t).loss); };
  FeatureResult r{arch};
  for (int epoch = 0; epoch < o.feature_epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t b = 0, i = 0; b < c.batch; b += o.feature_batch, ++i) {
      const int64_t e = std::min(c.batch, b + o.feature_batch);
      if (epoch == 0) {
        NoGradGuard no_grad;
        features.push_back((*model)(images.slice(b, e)));
      }
      head_step(features[static_cast<size_t>(i)], labels.slice(b, e));
    }
    const double s = seconds_since(t0);
    if (epoch == 0) r.first_epoch_s = s;
    else r.later_epoch_s += s / (o.feature_epochs - 1);
  }
  return r;
}

// ---- PyTorch ------------------------------------------------------------------------------

// One line of flat JSON {"key": "text" or number, ...} -> key -> raw value (strings unquoted).
std::map<std::string, std::string> parse_flat_json(const std::string& line) {
  std::map<std::string, std::string> out;
  size_t i = line.find('{');
  if (i == std::string::npos) return out;
  auto skip = [&] { while (i < line.size() && (line[i] == ' ' || line[i] == ',' || line[i] == '{')) ++i; };
  auto read_string = [&] {
    std::string s;
    for (++i; i < line.size() && line[i] != '"'; ++i) s += line[i] == '\\' && i + 1 < line.size() ? line[++i] : line[i];
    ++i;
    return s;
  };
  for (skip(); i < line.size() && line[i] == '"'; skip()) {
    const std::string key = read_string();
    i = line.find(':', i) + 1;
    while (i < line.size() && line[i] == ' ') ++i;
    if (line[i] == '"') {
      out[key] = read_string();
    } else {
      const size_t end = line.find_first_of(",}", i);
      out[key] = line.substr(i, end - i);
      i = end;
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s += ',';
    s += x;
  }
  return s;
}

// Runs the PyTorch script for `rows` (one model, configuration and mode each; none with
// `features`); fills their torch figures and returns torch's version line.
std::string run_pytorch(const Options& o, std::vector<Row>& rows, FeatureResult* features) {
  std::vector<std::string> models, modes;
  std::string configs;
  for (const auto& r : rows) {  // appended piecewise: "," + std::string trips GCC 12's -Wrestrict
    if (std::find(models.begin(), models.end(), r.model) == models.end()) models.push_back(r.model);
    if (std::find(modes.begin(), modes.end(), r.mode) == modes.end()) modes.push_back(r.mode);
    std::string c = std::to_string(r.config.batch);
    c += 'x';
    c += std::to_string(r.config.size);
    if (configs.find(c) == std::string::npos) {
      if (!configs.empty()) configs += ',';
      configs += c;
    }
  }
  if (rows.empty()) {  // the feature workflow alone: bench_pytorch.py skips the model "none"
    models = {"none"};
    modes = {"infer"};
    configs = "1x1";
  }
  std::string cmd = o.python + " " + o.script + " --models " + join(models) + " --modes " + join(modes) +
                    " --configs " + configs + " --reps " + std::to_string(o.reps) + " --warmup " +
                    std::to_string(o.warmup) + " --threads " + std::to_string(o.threads) + " --device " +
                    device_name(o.device);
  if (features)
    cmd += " --features " + std::to_string(o.feature_epochs) + " --features-model " + o.features_model +
           " --features-size " + std::to_string(o.feature_size) + " --features-images " +
           std::to_string(o.feature_images) + " --features-batch " + std::to_string(o.feature_batch);
  std::fprintf(stderr, "graft bench: %s\n", cmd.c_str());
  FILE* pipe = popen(cmd.c_str(), "r");
  GRAFT_CHECK_DATA(pipe != nullptr, "graft bench", "could not start '", cmd, "'");
  std::string version;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) {
    auto kv = parse_flat_json(buffer);
    if (kv.count("torch")) version = "PyTorch " + kv["torch"] + " (" + kv["threads"] + " threads, " + kv["backend"] + ")";
    if (kv.count("epoch_s") && features) features->torch_epoch_s = std::stod(kv["epoch_s"]);
    if (!kv.count("ips")) continue;
    for (auto& r : rows)
      if (r.model == kv["model"] && r.mode == kv["mode"] && std::to_string(r.config.batch) == kv["batch"] &&
          std::to_string(r.config.size) == kv["size"]) {
        r.torch_ips = std::stod(kv["ips"]);
        r.torch_peak_mb = std::stod(kv["peak_mb"]);
      }
  }
  const int status = pclose(pipe);
  GRAFT_CHECK_DATA(status == 0, "graft bench", "'", cmd, "' failed (exit status ", status,
                   "); run it by hand to see why");
  return version;
}

// ---- report -------------------------------------------------------------------------------

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

std::string fmt(const char* format, double v) {
  char b[64];
  std::snprintf(b, sizeof b, format, v);
  return b;
}

std::string table(const std::vector<Row>& rows, bool with_torch) {
  std::string s = "| model | mode | batch | size | graft img/s (min-max) | graft peak MB |";
  if (with_torch) s += " PyTorch img/s | PyTorch peak MB | graft/PyTorch |";
  s += "\n|---|---|---|---|---|---|";
  if (with_torch) s += "---|---|---|";
  s += "\n";
  for (const auto& r : rows) {
    s += "| " + r.model + " | " + r.mode + " | " + std::to_string(r.config.batch) + " | " +
         std::to_string(r.config.size) + " | " + fmt("%.1f", r.ips) + " (" + fmt("%.1f", r.ips_min) + "-" +
         fmt("%.1f", r.ips_max) + ") | " + fmt("%.0f", r.peak_mb) + " |";
    if (!with_torch) {
      // nothing more
    } else if (r.torch_ips > 0) {
        s += ' ';
        s += fmt("%.1f", r.torch_ips) + " | " + fmt("%.0f", r.torch_peak_mb) + " | " + fmt("%.2f", r.ips / r.torch_ips);
        s += " |";
      } else {
        s += " - | - | - |";
      }
    s += "\n";
  }
  return s;
}

std::string features_text(const FeatureResult& f, bool with_torch, const Options& o) {
  std::string s = "Feature-extraction workflow: " + f.model + ", " + std::to_string(o.feature_images) + " images of " +
                  std::to_string(o.feature_size) + "x" + std::to_string(o.feature_size) + ", batch " +
                  std::to_string(o.feature_batch) + ", " + std::to_string(o.feature_epochs) +
                  " epochs, frozen backbone, new Linear head, no augmentation.\n\n"
                  "| | epoch 1 (ms) | epochs 2..E, each (ms) |\n|---|---|---|\n";
  s += "| graft (features cached after epoch 1) | " + fmt("%.1f", 1e3 * f.first_epoch_s) + " | " +
       fmt("%.2f", 1e3 * f.later_epoch_s) + " |\n";
  if (with_torch)
    s += "| PyTorch (backbone forward every epoch; mean epoch) | " + fmt("%.1f", 1e3 * f.torch_epoch_s) + " | " +
         fmt("%.1f", 1e3 * f.torch_epoch_s) + " |\n";
  return s;
}

}  // namespace
}  // namespace graft

// words: the options after `graft bench` (tools/commands.h).
int graft::cmd_bench(const std::vector<std::string>& words) {
  try {
    const tools::ArgParser parser = bench_parser();
    const tools::Args args = parser.parse(words);
    if (tools::print_help_if_asked(parser, args)) return 0;
    const Options o = options_from(args);
    select_kernels_from_environment();  // a GRAFT_KERNELS typo is reported before any work
    omp_set_num_threads(o.threads);
    std::vector<Row> rows;
    std::string torch_version = "PyTorch not run";
    for (const auto& arch : o.models)
      for (const auto& c : o.configs)
        for (const auto& mode : o.modes) {
          // graft, then PyTorch on the same row right away: on a shared machine the load
          // drifts over minutes, and neighbouring measurements see about the same load.
          std::vector<Row> row = {bench_one(arch, mode, c, o)};
          if (o.pytorch) torch_version = run_pytorch(o, row, nullptr);
          const Row& r = row[0];
          std::printf("%-12s %-6s batch %3lld size %3lld  %8.1f img/s (%.1f-%.1f)  peak %.0f MB", arch.c_str(),
                      mode.c_str(), static_cast<long long>(c.batch), static_cast<long long>(c.size), r.ips,
                      r.ips_min, r.ips_max, r.peak_mb);
          if (o.pytorch) std::printf("   PyTorch %8.1f img/s  ratio %.2f", r.torch_ips, r.ips / r.torch_ips);
          std::printf("\n");
          std::fflush(stdout);
          rows.push_back(r);
        }
    FeatureResult features;
    if (o.feature_epochs > 0) {
      features = bench_features(o);
      std::printf("features %s: graft epoch 1 %.1f ms, epochs 2..%d %.2f ms each\n", features.model.c_str(),
                  1e3 * features.first_epoch_s, o.feature_epochs, 1e3 * features.later_epoch_s);
      if (o.pytorch) {
        std::vector<Row> none;
        torch_version = run_pytorch(o, none, &features);
      }
    }

    const std::string header =
        "Machine: " + cpu_model() + ", " + std::to_string(std::thread::hardware_concurrency()) +
        " logical cores. Threads: " + std::to_string(o.threads) + ". graft 0.1.0 (" + device_name(o.device) +
        ", kernels: gemm " + kernels::gemm.variant(o.device) + ", conv2d " + kernels::conv2d_forward.variant(o.device) +
        ", batch norm " + kernels::batch_norm_act_backward.variant(o.device) +
        ", compiler " + __VERSION__ + "); " + torch_version +
        ". Steps: " + std::to_string(o.warmup) + " warm-up + " + std::to_string(o.reps) +
        " timed per row; img/s from the median step.\n";
    std::string report = header + "\n" + table(rows, o.pytorch);
    if (o.feature_epochs > 0) {
      report += '\n';
      report += features_text(features, o.pytorch, o);
    }
    std::printf("\n%s", report.c_str());
    if (!o.out.empty()) {
      std::ofstream f(o.out);
      GRAFT_CHECK_DATA(f, "graft bench", "cannot write ", o.out, " (does its folder exist?)");
      f << "# graft vs PyTorch on the CPU\n\nWritten by `graft bench`";
      f << (o.note.empty() ? ".\n\n" : ". " + o.note + "\n\n") << report;
    }
    return 0;
  } catch (const tools::ArgError&) {
    throw;  // the dispatcher prints it and exits 2, as for every command
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
