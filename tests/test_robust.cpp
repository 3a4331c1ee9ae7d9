// tests/test_robust.cpp — interrupted runs and bounded memory (issue 15):
//   - an epoch stopped part way (FitOptions::stop_requested) and resumed equals the straight run;
//   - the real `graft` program under SIGINT / SIGTERM / a second SIGINT, a file size limit
//     (RLIMIT_FSIZE, a full disk as the program sees it) and kill -9 at random moments;
//   - the loader's peak memory with 12-megapixel images and 4 workers, and with 10000 small
//     files (nothing held per file unless caching is asked for).
// The program runs as a child process (fork + exec of GRAFT_BIN, set by tests/meson.build), so
// its signals, exit codes and files are the ones a user sees.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "data/datasets.h"
#include "data/image.h"
#include "data/loader.h"
#include "layers/activation.h"
#include "layers/dropout.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/sequential.h"
#include "optim/scheduler.h"
#include "optim/sgd.h"
#include "tensor/hdf5_io.h"
#include "tensor/random.h"
#include "testing.h"
#include "train/checkpoint.h"
#include "train/fit.h"
#include "train/interrupt.h"
#include "report.h"

namespace fs = std::filesystem;
using namespace graft;

namespace {

// ---- a child process running graft ---------------------------------------------------------

struct GraftChild {
  pid_t pid = -1;
  int out = -1;        // its stdout + stderr
  std::string output;  // what was read so far
};

// Starts GRAFT_BIN with `args`; fsize_limit > 0 sets RLIMIT_FSIZE (bytes) with SIGXFSZ ignored,
// so a write past the limit fails with EFBIG as on a full disk instead of killing the process.
GraftChild spawn(const std::vector<std::string>& args, rlim_t fsize_limit = 0) {
  const char* bin = std::getenv("GRAFT_BIN");
  REQUIRE_MESSAGE(bin != nullptr, "GRAFT_BIN not set (meson test sets it)");
  std::vector<std::string> words = {bin};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // only async-signal-safe calls until exec
    ::dup2(p[1], STDOUT_FILENO);
    ::dup2(p[1], STDERR_FILENO);
    ::close(p[0]);
    ::close(p[1]);
    if (fsize_limit > 0) {
      struct rlimit r{fsize_limit, fsize_limit};
      ::setrlimit(RLIMIT_FSIZE, &r);
      ::signal(SIGXFSZ, SIG_IGN);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(p[1]);
  return GraftChild{pid, p[0], ""};
}

// Reads until `needle` appears in the output (true) or the output ends (false).
bool read_until(GraftChild& c, const std::string& needle) {
  char buf[4096];
  while (c.output.find(needle) == std::string::npos) {
    const ssize_t n = ::read(c.out, buf, sizeof buf);
    if (n <= 0) return false;
    c.output.append(buf, size_t(n));
  }
  return true;
}

// Reads the rest of the output and waits: the exit code, or 128 + signal for a killed child
// (as a shell reports it).
int finish(GraftChild& c) {
  read_until(c, std::string(1, '\0'));  // never printed: reads to the end
  ::close(c.out);
  int status = 0;
  ::waitpid(c.pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run_graft(const std::vector<std::string>& args, std::string* output = nullptr, rlim_t fsize_limit = 0) {
  GraftChild c = spawn(args, fsize_limit);
  const int rc = finish(c);
  if (output) *output = c.output;
  return rc;
}

// root/<blue|green|red>/<i>.png: noisy flat-colour images (tests/test_commands.cpp's data).
void make_folder(const fs::path& root, int per_class, uint64_t seed, int size = 16) {
  const int colors[3][3] = {{50, 50, 210}, {40, 190, 50}, {210, 40, 40}};
  const char* names[3] = {"blue", "green", "red"};
  Generator gen(seed);
  for (int c = 0; c < 3; ++c) {
    fs::create_directories(root / names[c]);
    for (int i = 0; i < per_class; ++i) {
      Image img(size, size, 3);
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x)
          for (int k = 0; k < 3; ++k)
            img.at(y, x, k) = static_cast<uint8_t>(std::clamp(colors[c][k] + int(gen.randint(61)) - 30, 0, 255));
      save_png(img, (root / names[c] / (std::to_string(i) + ".png")).string());
    }
  }
}

// A spec CNN with dropout and random flips: resuming exactly needs the model, the optimizer
// state, the epoch, the position in the epoch and the random generator's state.
std::vector<std::string> train_args(const fs::path& dir, const fs::path& out, int epochs, int batch = 4) {
  return {"train", "--train", (dir / "train").string(), "--valid", (dir / "valid").string(), "--model",
          "spec:conv(4,3) relu maxpool(2) flatten dropout(0.2) linear(n)", "--input-size", "3x16x16",
          "--train-transform", "hflip,resize=16x16", "--optimizer", "sgd", "--lr", "0.02", "--batch-size",
          std::to_string(batch), "--epochs", std::to_string(epochs), "--workers", "2", "--grid", "0", "--out",
          out.string()};
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<double> values(const Tensor& t) {
  std::vector<double> v;
  if (t.dtype() == DType::Int64)
    for (int64_t x : t.to_labels()) v.push_back(double(x));
  else
    for (float x : t.to_vector()) v.push_back(x);
  return v;
}

// Every tensor of two files equal bit for bit.
void check_same_tensors(const fs::path& a, const fs::path& b) {
  const NamedTensors ta = load_tensors(a.string()), tb = load_tensors(b.string());
  REQUIRE(ta.size() == tb.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    REQUIRE(ta[i].first == tb[i].first);
    CHECK_MESSAGE(values(ta[i].second) == values(tb[i].second), ta[i].first);
  }
}

// ---- peak memory ------------------------------------------------------------------------------

// A field of /proc/self/status in KiB ("VmHWM": the peak resident set, "VmRSS": now).
int64_t status_kib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  return -1;
}
// Resets VmHWM to the current RSS (Linux >= 4.0: "5" to clear_refs), so the next VmHWM is the
// peak of what follows. False where /proc does not allow it.
bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.close();
  return bool(f) && status_kib("VmHWM") <= status_kib("VmRSS") + 1024;
}

}  // namespace

// ---- the library loop ---------------------------------------------------------------------------

// Runs GRAFT_BIN through the shell with `env` prepended (variable settings, `-u NAME`), both
// output streams captured; the exit code as the shell reports it.
int run_graft_env(const std::string& env, const std::string& args, std::string& output) {
  const char* bin = std::getenv("GRAFT_BIN");
  REQUIRE_MESSAGE(bin != nullptr, "GRAFT_BIN not set (meson test sets it)");
  std::FILE* p = ::popen(("env " + env + " '" + bin + "' " + args + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  output.clear();
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The last value libgomp printed for `name` under OMP_DISPLAY_ENV=verbose ("  NAME = 'v'"):
// graft's first run prints libgomp's defaults before it runs itself again, the second run
// prints what its threads use.
std::string last_omp_setting(const std::string& output, const std::string& name) {
  const std::string key = "  " + name + " = '";
  const size_t at = output.rfind(key);
  if (at == std::string::npos) return "(not printed)";
  const size_t from = at + key.size();
  return output.substr(from, output.find('\'', from) - from);
}

TEST_CASE("graft: OpenMP threads wait passively unless the user chose a policy; argv and exit code kept") {
  // libgomp's own default (what an OpenMP program gets without graft's re-run) is PASSIVE with
  // GOMP_SPINCOUNT 300000, i.e. it spins first; passive proper is spin count 0, active 3e10.
  std::string out;
  // A mistyped command: exit code 2 and the word in the message, so argv reached the second run.
  CHECK(run_graft_env("-u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose", "trian", out) == 2);
  CHECK_MESSAGE(out.find("trian") != std::string::npos, out);
  CHECK_MESSAGE(last_omp_setting(out, "OMP_WAIT_POLICY") == "PASSIVE", out);
  CHECK_MESSAGE(last_omp_setting(out, "GOMP_SPINCOUNT") == "0", out);
  // The user's choice wins, and graft then runs once (libgomp prints its settings once).
  CHECK(run_graft_env("-u GOMP_SPINCOUNT OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=verbose", "summary --help", out) == 0);
  CHECK_MESSAGE(last_omp_setting(out, "OMP_WAIT_POLICY") == "ACTIVE", out);
  CHECK_MESSAGE(last_omp_setting(out, "GOMP_SPINCOUNT") == "30000000000", out);
  size_t prints = 0;
  for (size_t at = out.find("OPENMP DISPLAY ENVIRONMENT BEGIN"); at != std::string::npos;
       at = out.find("OPENMP DISPLAY ENVIRONMENT BEGIN", at + 1))
    ++prints;
  CHECK_MESSAGE(prints == 1, out);
  CHECK(run_graft_env("-u OMP_WAIT_POLICY GOMP_SPINCOUNT=1000 OMP_DISPLAY_ENV=verbose", "summary --help", out) == 0);
  CHECK_MESSAGE(last_omp_setting(out, "GOMP_SPINCOUNT") == "1000", out);
}

TEST_CASE("fit: an epoch interrupted after batch k and resumed from its checkpoint equals the straight run") {
  // 24 points, batches of 5 (4 full + 1 of 4), shuffled; dropout and SGD momentum; a per-step
  // cosine schedule; 2 batches per step: the checkpoint must carry the position in the epoch,
  // the running sums, the momentum, the generator and the schedule's step.
  testing::TempDir dir("robust_fit");
  Tensor x = testing::random_tensor({24, 2}, 7);
  std::vector<int64_t> y;
  const std::vector<float> v = x.to_vector();
  for (int64_t i = 0; i < 24; ++i) y.push_back(v[2 * i] + v[2 * i + 1] > 0 ? 1 : 0);
  auto data = std::make_shared<TensorDataset>(x, y, std::vector<std::string>{}, std::vector<std::string>{"a", "b"});
  LoaderOptions lo;
  lo.batch_size = 5;
  lo.shuffle = true;
  lo.seed = 3;
  lo.num_workers = 2;  // stopped part way: the threads must end cleanly
  const LossFn ce = [](const Tensor& out, const Tensor& t) { return cross_entropy(out, t); };
  const int64_t epochs = 4, steps_per_epoch = 3;  // ceil(5 batches / 2)
  auto make_model = [] {
    return Sequential{std::make_shared<Linear>(2, 8), std::make_shared<ReLU>(), std::make_shared<Dropout>(0.3),
                      std::make_shared<Linear>(8, 2)};
  };
  auto train = [&](Sequential& model, SGD& opt, const FitProgress& from, int64_t steps_done,
                   std::function<bool(const FitState*)> stop) {
    for (ParamGroup& g : opt.param_groups()) g.lr = 0.3f;  // the base lr (a loaded optimizer holds the scheduled one)
    CosineAnnealingLR sched(opt, epochs * steps_per_epoch);
    sched.set_last_epoch(steps_done);
    SchedulePerStep per_step(sched);
    struct Watch : Callback {  // gives stop() the state of the batch just finished
      const FitState* s = nullptr;
      void on_batch_end(FitState& st, const Batch&, const StepResult&) override { s = &st; }
    } watch;
    DataLoader loader(data, Pipeline(), lo), valid(data, Pipeline(), LoaderOptions{});
    FitOptions fo;
    fo.epochs = epochs;
    fo.progress = from;
    fo.accumulate = 2;
    if (stop) fo.stop_requested = [&] { return stop(watch.s); };
    return fit(model, opt, ce, loader, &valid, fo, {&per_step, &watch});
  };

  manual_seed(4);
  Sequential straight = make_model();
  SGD opt_s(straight.parameters(), 0.3f, 0.9f);
  const FitProgress ps = train(straight, opt_s, {}, 0, nullptr);

  // Epoch 2, asked to stop after batch 3: it stops after batch 4, where the group of 2 ends.
  manual_seed(4);
  Sequential first = make_model();
  SGD opt_f(first.parameters(), 0.3f, 0.9f);
  const FitProgress pf =
      train(first, opt_f, {}, 0, [](const FitState* s) { return s && s->epoch == 2 && s->batch >= 3; });
  REQUIRE(pf.interrupted);
  CHECK(pf.epoch == 1);
  CHECK(pf.partial.batches == 4);
  CHECK(pf.partial.steps == 2);
  CHECK(pf.partial.seen == 20);
  CHECK(pf.history.size() == 1);
  TrainingState st;
  st.architecture = "toy";
  st.progress = pf;
  const std::string path = dir.file("last.h5");
  save_training_checkpoint(path, first, &opt_f, st, {{"default", &default_generator()}});

  manual_seed(99);  // "a new process": other weights and random stream until the checkpoint loads
  Sequential fresh = make_model();
  SGD opt_r(fresh.parameters(), 0.3f, 0.9f);
  const TrainingState back = load_training_checkpoint(path, "toy", fresh, &opt_r, {{"default", &default_generator()}});
  CHECK(back.progress.partial.batches == 4);
  CHECK(back.progress.partial.loss_sum == pf.partial.loss_sum);
  const FitProgress pr = train(fresh, opt_r, back.progress, pf.epoch * steps_per_epoch + back.progress.partial.steps,
                               nullptr);
  CHECK_FALSE(pr.interrupted);
  const NamedTensors a = straight.state_dict(), b = fresh.state_dict();
  for (size_t i = 0; i < a.size(); ++i) CHECK_CLOSE(a[i].first, b[i].second, a[i].second, 0, 0);  // the same steps: exact
  REQUIRE(pr.history.size() == ps.history.size());
  for (size_t i = 0; i < ps.history.size(); ++i) {  // epoch 2's sums continued from the checkpoint
    CHECK(pr.history[i].train_loss == ps.history[i].train_loss);
    CHECK(pr.history[i].train_acc == ps.history[i].train_acc);
    CHECK(pr.history[i].valid_loss == ps.history[i].valid_loss);
  }
}

TEST_CASE("loader: starting an epoch at batch k gives that epoch's batches k.. and a clear error past the end") {
  Tensor x = testing::random_tensor({10, 1}, 1);
  auto data = std::make_shared<TensorDataset>(x, std::vector<int64_t>(10, 0), std::vector<std::string>{},
                                              std::vector<std::string>{"a"});
  LoaderOptions lo;
  lo.batch_size = 3;
  lo.shuffle = true;
  lo.num_workers = 2;
  DataLoader loader(data, Pipeline(), lo);
  std::vector<std::vector<int64_t>> all;
  loader.for_each_batch(5, [&](Batch& b) { all.push_back(b.indices); });
  REQUIRE(all.size() == 4);
  loader.start_epoch(5, 2);
  Batch b;
  REQUIRE(loader.next(b));
  CHECK(b.number == 2);
  CHECK(b.indices == all[2]);
  REQUIRE(loader.next(b));
  CHECK(b.indices == all[3]);
  CHECK_FALSE(loader.next(b));
  loader.start_epoch(5, 1);
  loader.stop();  // mid-epoch, threads running
  CHECK_THROWS_WITH(loader.next(b), doctest::Contains("start_epoch"));
  CHECK_THROWS_WITH(loader.start_epoch(5, 5), doctest::Contains("has 4 batches"));
}

// ---- the program: signals, a full disk, kill -9 -------------------------------------------------

TEST_CASE("graft train: SIGINT saves a resumable last.h5, exits 130, and --resume ends where the straight run does") {
  testing::TempDir dir("robust_sigint");
  make_folder(dir.path / "train", 40, 1);  // 120 images in batches of 4: 30 batches per epoch
  make_folder(dir.path / "valid", 4, 2);
  const int epochs = 8;
  std::string out;
  REQUIRE(run_graft(train_args(dir.path, dir.path / "straight", epochs), &out) == 0);

  // The first progress line comes at ~10% of epoch 1 (plain lines: stdout is a pipe).
  GraftChild c = spawn(train_args(dir.path, dir.path / "run", epochs));
  REQUIRE_MESSAGE(read_until(c, "epoch 1/"), c.output);
  ::kill(c.pid, SIGINT);
  const int rc = finish(c);
  INFO(c.output);
  REQUIRE(rc == 130);
  CHECK(c.output.find("graft train: interrupted (SIGINT) at ") != std::string::npos);
  CHECK(c.output.find("resume with:") != std::string::npos);
  CHECK(c.output.find("--resume") != std::string::npos);
  const fs::path last = dir.path / "run" / "last.h5";
  REQUIRE(fs::exists(last));
  const Checkpoint ck = load_checkpoint(last.string());
  CHECK(ck.state.progress.epoch < epochs);
  CHECK(!fs::exists(dir.path / "run" / "last.h5.tmp"));
  MESSAGE("interrupted after epoch " << ck.state.progress.epoch << " + " << ck.state.progress.partial.batches
                                     << " batches");

  std::vector<std::string> resume = train_args(dir.path, dir.path / "run", epochs);
  resume.push_back("--resume");
  std::string out2;
  REQUIRE_MESSAGE(run_graft(resume, &out2) == 0, out2);
  CHECK(out2.find("resumed ") != std::string::npos);
  // The same steps as the straight run: the same weights, optimizer state and metrics.
  check_same_tensors(dir.path / "straight" / "last.h5", last);
  auto rows = [](const std::string& csv) {  // the time column aside
    std::vector<std::string> r;
    std::stringstream ss(csv);
    for (std::string l; std::getline(ss, l);) r.push_back(l.substr(0, l.rfind(',')));
    return r;
  };
  CHECK(rows(read_bytes(dir.path / "straight" / "metrics.csv")) == rows(read_bytes(dir.path / "run" / "metrics.csv")));
}

TEST_CASE("graft train: SIGTERM exits 143 with a checkpoint; a second SIGINT exits at once, leaving no corrupt file") {
  testing::TempDir dir("robust_sigterm");
  make_folder(dir.path / "train", 40, 1);
  make_folder(dir.path / "valid", 4, 2);
  {
    GraftChild c = spawn(train_args(dir.path, dir.path / "term", 50));
    REQUIRE_MESSAGE(read_until(c, "epoch 1/"), c.output);
    ::kill(c.pid, SIGTERM);
    const int rc = finish(c);
    INFO(c.output);
    CHECK(rc == 143);
    CHECK(c.output.find("interrupted (SIGTERM)") != std::string::npos);
    CHECK_NOTHROW(load_checkpoint((dir.path / "term" / "last.h5").string()));
  }
  {
    // A second SIGINT soon after the first: usually it lands while the step finishes or
    // last.h5 is written, and exits at once; either way 130 and no corrupt file. (The exact
    // order is the kernel's; the next test checks the second-signal path deterministically.)
    GraftChild c = spawn(train_args(dir.path, dir.path / "twice", 50));
    REQUIRE_MESSAGE(read_until(c, "epoch 1/"), c.output);
    ::kill(c.pid, SIGINT);
    REQUIRE_MESSAGE(read_until(c, "stopping after this step"), c.output);
    ::kill(c.pid, SIGINT);
    const int rc = finish(c);
    INFO(c.output);
    CHECK(rc == 130);
    const bool second = c.output.find("second interrupt") != std::string::npos;
    MESSAGE(std::string(second ? "the second SIGINT exited at once" : "the first SIGINT's save finished first"));
    for (const auto& e : fs::directory_iterator(dir.path / "twice"))
      if (e.path().extension() == ".h5") CHECK_NOTHROW(load_tensors(e.path().string()));
  }
}

TEST_CASE("interrupt: the first SIGINT only sets the flag, the second exits with 130 at once") {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // the child: signals to itself, then would report 1 if it were still alive
    ::dup2(p[1], STDERR_FILENO);
    ::close(p[0]);
    {
      InterruptGuard guard;
      if (interrupt_signal() != 0) ::_exit(2);
      ::raise(SIGINT);  // handled synchronously: the handler has run when raise returns
      if (interrupt_signal() != SIGINT) ::_exit(3);
      ::raise(SIGINT);
    }
    ::_exit(1);
  }
  ::close(p[1]);
  std::string err;
  char buf[512];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) err.append(buf, size_t(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  INFO(err);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK(err.find("stopping after this step") != std::string::npos);
  CHECK(err.find("second interrupt, exiting without saving") != std::string::npos);
  // After the guard, the default action is back: a SIGINT kills.
  const pid_t pid2 = ::fork();
  REQUIRE(pid2 >= 0);
  if (pid2 == 0) {
    ::signal(SIGINT, SIG_DFL);  // (doctest installs its own handler: the guard must restore the one before it)
    { InterruptGuard guard; }
    ::raise(SIGINT);
    ::_exit(1);
  }
  ::waitpid(pid2, &status, 0);
  CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGINT));
}

TEST_CASE("graft train: a save that hits a full disk (RLIMIT_FSIZE) keeps best.h5 and last.h5 and says so") {
  testing::TempDir dir("robust_fsize");
  make_folder(dir.path / "train", 4, 1);
  make_folder(dir.path / "valid", 2, 2);
  const fs::path run = dir.path / "run";
  std::string out;
  REQUIRE_MESSAGE(run_graft(train_args(dir.path, run, 2), &out) == 0, out);
  const std::string best = read_bytes(run / "best.h5"), last = read_bytes(run / "last.h5");
  REQUIRE(best.size() > 4096);
  // Every file larger than 4 KiB fails to write (EFBIG), as on a disk with 4 KiB left; the
  // small metrics.csv still fits.
  std::vector<std::string> more = train_args(dir.path, run, 4);
  more.push_back("--resume");
  const int rc = run_graft(more, &out, 4096);
  INFO(out);
  CHECK(rc == 1);
  CHECK(out.find("could not save '" + (run / "best.h5").string() + "'") != std::string::npos);
  CHECK(out.find("the previous '" + (run / "best.h5").string() + "' is unchanged") != std::string::npos);
  CHECK(out.find("training stopped after epoch 3; " + (run / "last.h5").string() + " holds epoch 2") !=
        std::string::npos);
  CHECK(read_bytes(run / "best.h5") == best);  // byte for byte
  CHECK(read_bytes(run / "last.h5") == last);
  CHECK(!fs::exists(run / "best.h5.tmp"));  // the half-written file is removed
  CHECK(!fs::exists(run / "last.h5.tmp"));
  // And the run resumes from the intact last.h5 once there is room.
  REQUIRE_MESSAGE(run_graft(more, &out) == 0, out);
  CHECK(out.find("resumed " + (run / "last.h5").string() + " at epoch 2") != std::string::npos);
}

TEST_CASE("write_file_atomic: a write past the file size limit keeps the old file, removes the .tmp, says so") {
  testing::TempDir dir("robust_atomic");
  const std::string path = dir.file("metrics.csv");
  tools::write_file_atomic(path, "old\n");
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // the child: 4 KiB files at most, then a 64 KiB write
    struct rlimit r{4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &r);
    ::signal(SIGXFSZ, SIG_IGN);
    std::string msg = "no error";
    try {
      tools::write_file_atomic(path, std::string(65536, 'x'));
    } catch (const std::exception& e) {
      msg = e.what();
    }
    ssize_t ignored = ::write(p[1], msg.data(), msg.size());
    (void)ignored;
    ::_exit(0);
  }
  ::close(p[1]);
  std::string msg;
  char buf[512];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) msg.append(buf, size_t(n));
  ::close(p[0]);
  ::waitpid(pid, nullptr, 0);
  INFO(msg);
  CHECK(msg.find("could not save " + path) != std::string::npos);
  CHECK(msg.find("the previous " + path + " is unchanged") != std::string::npos);
  CHECK(read_bytes(path) == "old\n");
  CHECK(!fs::exists(path + ".tmp"));
}

TEST_CASE("graft train: kill -9 at random moments, 25 times, never leaves a corrupt checkpoint") {
  // Tiny epochs (3 batches), so that best.h5 / last.h5 are being written most of the time and
  // the kills land inside saves; each run resumes the one before (when it left a last.h5).
  testing::TempDir dir("robust_kill");
  make_folder(dir.path / "train", 4, 1);
  make_folder(dir.path / "valid", 2, 2);
  const fs::path run = dir.path / "run";
  std::mt19937 rng(15);
  std::uniform_int_distribution<int> delay_ms(0, 300);
  int resumed = 0, tmp_left = 0;
  for (int i = 0; i < 25; ++i) {
    std::vector<std::string> args = train_args(dir.path, run, 100000);
    args.push_back("--quiet");
    if (fs::exists(run / "last.h5")) args.push_back("--resume"), ++resumed;
    GraftChild c = spawn(args);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ::kill(c.pid, SIGKILL);
    CHECK(finish(c) == 128 + SIGKILL);
    if (!fs::exists(run)) continue;
    for (const auto& e : fs::directory_iterator(run)) {
      const std::string name = e.path().filename().string();
      if (e.path().extension() == ".h5") {
        INFO("after kill " << i << ": " << name);
        CHECK_NOTHROW(load_tensors(e.path().string()));
        if (name == "last.h5") CHECK_NOTHROW(load_checkpoint(e.path().string()));
      } else if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") {
        ++tmp_left;  // a save the kill interrupted: never under a checkpoint's name
      }
    }
  }
  MESSAGE("25 kills: " << resumed << " runs resumed a killed run, " << tmp_left << " half-written .tmp files seen");
  CHECK(resumed > 0);  // the delays gave the runs time to write
  // The last checkpoint continues: one more epoch past it.
  REQUIRE(fs::exists(run / "last.h5"));
  const int64_t done = load_checkpoint((run / "last.h5").string()).state.progress.epoch;
  std::vector<std::string> args = train_args(dir.path, run, int(done) + 1);
  args.push_back("--resume");
  std::string out;
  CHECK_MESSAGE(run_graft(args, &out) == 0, out);
}

// ---- bounded memory -----------------------------------------------------------------------------

TEST_CASE("loader: 12-megapixel images with 4 workers stay within workers x (decoded image + decoder) of memory") {
  // 24 copies of one 4000x3000 JPEG (a smooth gradient: small on disk), resized to 64x64.
  // Decoded, one image is 4000*3000*3 = 36 MB; all 24 would be 864 MB.
  // The bound: each of the 4 workers holds one decoded image, the decoder's own buffers (at most
  // about one more image) and the file's bytes, and the queue holds at most workers * prefetch
  // = 8 batches of 64x64 floats (0.4 MB): 4 * 2 * 36 MB + 64 MB (allocator, thread stacks) = 352 MB.
  testing::TempDir dir("robust_huge");
  const int64_t H = 3000, W = 4000;
  Image img(H, W, 3);
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int k = 0; k < 3; ++k) img.at(y, x, k) = uint8_t((x * (k + 1) / 16 + y / 12) & 255);
  fs::create_directories(dir.path / "a");
  const std::string first = dir.file("a/0.jpg");
  save_jpeg(img, first, 85);
  img = Image(1, 1, 3);  // free it before measuring
  for (int i = 1; i < 24; ++i) fs::copy_file(first, dir.file("a/" + std::to_string(i) + ".jpg"));
  auto ds = std::make_shared<ImageFolder>(dir.path.string());
  LoaderOptions lo;
  lo.batch_size = 1;
  lo.num_workers = 4;
  lo.prefetch = 2;
  DataLoader loader(ds, Pipeline::parse("resize=64x64"), lo);
  if (!reset_peak_rss()) {
    MESSAGE("skipped: /proc/self/clear_refs cannot reset the peak RSS here");
    return;
  }
  const int64_t before = status_kib("VmRSS");
  int64_t batches = 0;
  loader.for_each_batch(0, [&](Batch& b) {
    ++batches;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a slow consumer: the workers run ahead
    CHECK(b.inputs.shape() == Shape{1, 3, 64, 64});
  });
  const double peak_mb = double(status_kib("VmHWM") - before) / 1024;
  CHECK(batches == 24);
  MESSAGE("peak RSS above the start: " << peak_mb << " MB (bound 352 MB; all 24 decoded images: 864 MB)");
  CHECK(peak_mb < 352);
}

TEST_CASE("loader: 10000 small files are not held in memory unless caching is asked for") {
  // 10000 48x48 PNGs: decoded 6912 bytes each, 69 MB together. Without a cache an epoch's extra
  // memory is the queue (2 workers * 2 prefetch batches of 100 * 3*48*48 floats = 11 MB), the
  // images in hand and the allocator's slack (measured 15-20 MB); it must not grow with the
  // number of files. With cache=true the loader holds them all, which shows the measurement
  // sees the 69 MB when they are kept. cache_max_bytes caps what is kept.
  testing::TempDir dir("robust_many");
  const int n = 10000;
  Generator gen(5);
  Image img(48, 48, 3);
  for (auto& p : img.data) p = uint8_t(gen.randint(256));
  for (int c = 0; c < 2; ++c) fs::create_directories(dir.path / std::to_string(c));
  save_png(img, dir.file("0/0.png"));
  for (int i = 1; i < n; ++i) fs::copy_file(dir.file("0/0.png"), dir.file(std::to_string(i % 2) + "/" + std::to_string(i) + ".png"));
  if (!reset_peak_rss()) {
    MESSAGE("skipped: /proc/self/clear_refs cannot reset the peak RSS here");
    return;
  }
  const int64_t before_list = status_kib("VmRSS");
  auto ds = std::make_shared<ImageFolder>(dir.path.string());
  REQUIRE(ds->size() == n);
  const double list_mb = double(status_kib("VmRSS") - before_list) / 1024;
  int64_t kept = 0;  // the cache's bytes after the epoch
  auto epoch_growth_mb = [&](bool cache, int64_t max_bytes) {
    LoaderOptions lo;
    lo.batch_size = 100;
    lo.num_workers = 2;
    lo.cache = cache;
    lo.cache_max_bytes = max_bytes;
    DataLoader loader(ds, Pipeline::parse("center_crop=48"), lo);
    reset_peak_rss();
    const int64_t before = status_kib("VmRSS");
    int64_t seen = 0;
    loader.for_each_batch(0, [&](Batch& b) { seen += b.labels.size(0); });
    CHECK(seen == n);
    kept = loader.cache_bytes();
    return double(status_kib("VmHWM") - before) / 1024;
  };
  const double plain = epoch_growth_mb(false, 0);
  CHECK(kept == 0);
  epoch_growth_mb(true, 20 << 20);
  // The first samples that fit: 20 MiB / 6912 bytes = 3033 images.
  CHECK(kept == int64_t((20 << 20) / 6912) * 6912);
  const double cached = epoch_growth_mb(true, 0);
  CHECK(kept == int64_t(n) * 6912);
  MESSAGE("listing 10000 files: " << list_mb << " MB; one epoch: " << plain << " MB without cache, " << cached
                                  << " MB with an unlimited cache (69 MB of pixels)");
  CHECK(plain < 40);   // the queue + images in hand + slack: not the 69 MB of images
  CHECK(cached > 60);  // the 69 MB of pixels (less what was already resident)
}
