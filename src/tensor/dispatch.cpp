// src/tensor/dispatch.cpp — choosing a kernel's entry, and the selection (see dispatch.h).
//
// The choice for (table, device) is cached in the table with the selection's generation
// number; select_kernels() bumps the generation, so the next call of every table chooses again.
// A call therefore costs two atomic loads and an indirect call when nothing changed.
#include "tensor/dispatch.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "tensor/check.h"

namespace graft {

namespace {

struct Selection {
  std::mutex mutex;
  std::string text;                                        // as given ("" = defaults)
  std::vector<std::pair<std::string, std::string>> rules;  // (pattern, variant), in order
  bool environment_read = false;
};

Selection& selection() {
  static Selection* s = new Selection;  // never destroyed: kernels may run during static destruction
  return *s;
}

std::atomic<unsigned> g_generation{1};
std::atomic<KernelTable*> g_tables{nullptr};  // tables with an entry, newest first

bool matches(const std::string& pattern, const char* name) {
  if (!pattern.empty() && pattern.back() == '*')
    return std::string(name).rfind(pattern.substr(0, pattern.size() - 1), 0) == 0;
  return pattern == name;
}

std::vector<std::pair<std::string, std::string>> parse_selection(const std::string& spec) {
  std::vector<std::pair<std::string, std::string>> rules;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    std::string item = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? spec.size() + 1 : comma + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      GRAFT_CHECK(item == "reference" || item == "default", "select_kernels",
                  "expected 'reference', 'default' or KERNEL=VARIANT items separated by commas, got '", item,
                  "' in '", spec, "'");
      rules.emplace_back("*", item);
    } else {
      GRAFT_CHECK(eq > 0 && eq + 1 < item.size(), "select_kernels", "expected KERNEL=VARIANT, got '", item, "' in '",
                  spec, "'");
      rules.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    }
  }
  return rules;
}

std::string variant_list(const KernelTable& t, Device d) {
  std::string s;
  for (const auto& v : t.variants(d)) s += (s.empty() ? "" : ", ") + v.name + (v.rank == 0 ? " (reference)" : "");
  return s.empty() ? "none" : s;
}

[[noreturn]] void not_built(const KernelTable& t, Device d) {
  GRAFT_FAIL_DATA(t.name(), "not built for ", device_name(d), " (",
                  d == Device::CUDA ? "graft was built without CUDA: rebuild on a machine with nvcc and cuDNN, "
                                      "meson setup build -Dcuda=enabled, or use --device cpu"
                                    : "no kernel registered for this device",
                  ")");
}

}  // namespace

bool KernelTable::add(Device d, const char* variant, AnyFn fn, int rank, bool (*supported)()) {
  const int i = index(d);
  GRAFT_ASSERT(count_[i] < kMaxVariants, name_, "more than ", kMaxVariants, " variants registered for ",
               device_name(d));
  for (int k = 0; k < count_[i]; ++k)
    GRAFT_ASSERT(std::string(entries_[i][k].variant) != variant, name_, "variant '", variant,
                 "' registered twice for ", device_name(d));
  if (count_[0] == 0 && count_[1] == 0) {  // first entry: join the list of tables
    next_ = g_tables.load();
    while (!g_tables.compare_exchange_weak(next_, this)) {
    }
  }
  entries_[i][count_[i]++] = Entry{variant, fn, rank, supported};
  return true;
}

const KernelTable::Entry* KernelTable::pick(Device d) const {
  const int i = index(d);
  const Entry* best = nullptr;  // the default: highest rank this machine supports
  const Entry* reference = nullptr;
  for (int k = 0; k < count_[i]; ++k) {
    const Entry& e = entries_[i][k];
    if (e.rank == 0) reference = &e;
    if ((!e.supported || e.supported()) && (!best || e.rank > best->rank)) best = &e;
  }
  // The last rule that matches this table and names a variant that exists on d wins.
  const auto& rules = selection().rules;
  for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
    if (!matches(it->first, name_)) continue;
    if (it->second == "default") return best;
    if (it->second == "reference") return reference ? reference : best;
    for (int k = 0; k < count_[i]; ++k)
      if (it->second == entries_[i][k].variant) return &entries_[i][k];
  }
  return best;
}

KernelTable::AnyFn KernelTable::choose(Device d, unsigned generation) const {
  if (!has(d)) not_built(*this, d);
  std::lock_guard<std::mutex> lock(selection().mutex);
  const Entry* e = pick(d);
  GRAFT_CHECK_DATA(e, name_, "no variant for ", device_name(d), " runs on this machine (variants: ",
                   variant_list(*this, d), ")");
  chosen_[index(d)].store(e->fn, std::memory_order_relaxed);
  chosen_generation_[index(d)].store(generation, std::memory_order_release);
  return e->fn;
}

std::string KernelTable::variant(Device d) const {
  if (!has(d)) not_built(*this, d);
  std::lock_guard<std::mutex> lock(selection().mutex);
  const Entry* e = pick(d);
  return e ? e->variant : "none";
}

std::vector<KernelTable::VariantInfo> KernelTable::variants(Device d) const {
  std::vector<VariantInfo> out;
  const int i = index(d);
  for (int k = 0; k < count_[i]; ++k) {
    const Entry& e = entries_[i][k];
    out.push_back({e.variant, e.rank, !e.supported || e.supported()});
  }
  std::sort(out.begin(), out.end(), [](const VariantInfo& a, const VariantInfo& b) { return a.rank > b.rank; });
  return out;
}

KernelTable::AnyFn KernelTable::variant_fn(Device d, const std::string& variant) const {
  if (!has(d)) not_built(*this, d);
  const int i = index(d);
  for (int k = 0; k < count_[i]; ++k) {
    const Entry& e = entries_[i][k];
    if (variant != e.variant) continue;
    GRAFT_CHECK(!e.supported || e.supported(), name_, "variant '", variant, "' cannot run on this machine");
    return e.fn;
  }
  GRAFT_FAIL(name_, "no variant '", variant, "' for ", device_name(d), " (variants: ", variant_list(*this, d), ")");
}

// ---- the selection ---------------------------------------------------------------------------

std::vector<const KernelTable*> registered_kernels() {
  std::vector<const KernelTable*> out;
  for (const KernelTable* t = g_tables.load(); t; t = t->next_) out.push_back(t);
  std::sort(out.begin(), out.end(),
            [](const KernelTable* a, const KernelTable* b) { return std::string(a->name()) < b->name(); });
  return out;
}

void select_kernels(const std::string& spec) {
  auto rules = parse_selection(spec);
  const auto tables = registered_kernels();
  // Every rule must name something that exists, and an exact variant must run here: a typo or
  // an AVX-512 request on an AVX2 machine is an error, not a silent default.
  for (const auto& [pattern, variant] : rules) {
    bool any_table = false, any_variant = variant == "reference" || variant == "default";
    for (const KernelTable* t : tables) {
      if (!matches(pattern, t->name())) continue;
      any_table = true;
      for (Device d : {Device::CPU, Device::CUDA})
        for (const auto& v : t->variants(d))
          if (v.name == variant) {
            GRAFT_CHECK(v.supported, "select_kernels", t->name(), "=", variant, ": this machine cannot run it (",
                        device_name(d), " variants here: ", variant_list(*t, d), ")");
            any_variant = true;
          }
    }
    if (!any_table) {
      std::string names;
      for (const KernelTable* t : tables) names += (names.empty() ? "" : ", ") + std::string(t->name());
      GRAFT_FAIL("select_kernels", "no kernel matches '", pattern, "' (kernels: ", names, ")");
    }
    GRAFT_CHECK(any_variant, "select_kernels", "no kernel matching '", pattern, "' has a variant '", variant,
                "'; see `graft kernels` for the variants");
  }
  Selection& s = selection();
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.text = spec;
    s.rules = std::move(rules);
    s.environment_read = true;  // an explicit selection replaces the environment's
  }
  g_generation.fetch_add(1, std::memory_order_acq_rel);
}

std::string kernel_selection() {
  select_kernels_from_environment();
  Selection& s = selection();
  std::lock_guard<std::mutex> lock(s.mutex);
  return s.text;
}

void select_kernels_from_environment() {
  Selection& s = selection();
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.environment_read) return;
    s.environment_read = true;
  }
  for (const char* old : {"GRAFT_GEMM", "GRAFT_REFERENCE"})
    GRAFT_CHECK_DATA(!std::getenv(old), "", old, " is no longer read: use GRAFT_KERNELS instead (e.g. ",
                     "GRAFT_KERNELS=gemm=avx2, or GRAFT_KERNELS=reference for every reference loop)");
  const char* env = std::getenv("GRAFT_KERNELS");
  if (!env || !*env) return;
  try {
    select_kernels(env);
  } catch (const std::invalid_argument& e) {
    GRAFT_FAIL_DATA("", "GRAFT_KERNELS='", env, "': ", e.what());
  }
}

unsigned KernelTable::selection_generation() {
  static const bool environment = (select_kernels_from_environment(), true);
  (void)environment;
  return g_generation.load(std::memory_order_acquire);
}

std::string kernel_report() {
  std::string out;
  for (const KernelTable* t : registered_kernels()) {
    std::string line = std::string(t->name()) + ":";
    for (Device d : {Device::CPU, Device::CUDA}) {
      if (!t->has(d)) continue;
      line += std::string(" ") + device_name(d) + " " + t->variant(d);
      const auto vs = t->variants(d);
      if (vs.size() > 1) {
        line += " [";
        for (size_t k = 0; k < vs.size(); ++k)
          line += (k ? " " : "") + vs[k].name + (vs[k].rank == 0 ? "*" : "") + (vs[k].supported ? "" : "(n/a)");
        line += "]";
      }
      line += ";";
    }
    line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace graft
