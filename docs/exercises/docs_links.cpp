// docs/exercises/docs_links.cpp — the documentation points at files that exist.
//
// For every docs/*.md (and README.md):
//   1. every relative Markdown link [text](target) resolves to an existing file or folder,
//      relative to the .md file (anchors "#..." are ignored, web links are not checked);
//   2. when such a link's text names a function or class in backticks, [`im2col`](../src/...),
//      that name occurs in the linked file (so a renamed function breaks the test, not the tour);
//   3. every repository path mentioned in the text — src/..., tools/..., tests/..., docs/...,
//      weights/... — exists, relative to the repository root ("src/layers/foo.{h,cpp}" is
//      expanded to both files; a pattern such as "tests/test_<area>.cpp" is skipped).
// Files of branches that land soon (src/models/, the weight converter) are listed in kPending:
// while they are missing the test prints a message (once per file) instead of failing; once
// they exist they are checked like everything else. .h5 files are outputs of commands (weights
// produced by the converter), never committed: they are not checked.
// The source root comes from GRAFT_SOURCE_ROOT, set by docs/exercises/meson.build.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

// Paths on the `models` branch (src/models/*, tools/convert_torchvision.py, ...), referred to by
// the docs before that branch is merged. Remove an entry once its files are on main.
const std::vector<std::string> kPending = {
    "src/models",
    "tools/convert_torchvision.py",
    "tools/load_graft_checkpoint.py",
    "tools/references/models.py",
    "tests/test_models.cpp",
    "weights",  // the folder, weights/README.md and weights/imagenet_classes.txt
};

// Files that commands produce and that are never committed ("weights/resnet18.h5",
// "demo-out/pretrained.h5"): named in examples, not checked.
bool is_generated(const std::string& rel) { return rel.size() > 3 && rel.compare(rel.size() - 3, 3, ".h5") == 0; }

fs::path source_root() {
  const char* root = std::getenv("GRAFT_SOURCE_ROOT");
  return root ? fs::path(root) : fs::current_path();
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<fs::path> markdown_files() {
  std::vector<fs::path> out;
  const fs::path root = source_root();
  if (fs::exists(root / "README.md")) out.push_back(root / "README.md");
  for (const auto& e : fs::directory_iterator(root / "docs"))
    if (e.path().extension() == ".md") out.push_back(e.path());
  return out;
}

// Says once per path that it is not on this branch yet.
void note_pending(const std::string& rel) {
  static std::set<std::string> told;
  if (told.insert(rel).second) MESSAGE(rel << " is not on this branch yet (listed in kPending)");
}

bool is_pending(const std::string& rel) {
  for (const auto& p : kPending)
    if (rel == p || rel.rfind(p + "/", 0) == 0) return true;
  return false;
}

// "src/layers/foo.{h,cpp}" -> {"src/layers/foo.h", "src/layers/foo.cpp"}; others unchanged.
std::vector<std::string> expand_braces(const std::string& s) {
  const size_t open = s.find('{'), close = s.find('}');
  if (open == std::string::npos || close == std::string::npos || close < open) return {s};
  std::vector<std::string> out;
  std::string inner = s.substr(open + 1, close - open - 1);
  std::stringstream ss(inner);
  for (std::string part; std::getline(ss, part, ',');)
    for (auto& rest : expand_braces(s.substr(close + 1))) out.push_back(s.substr(0, open) + part + rest);
  return out;
}

// The identifier a link text names: "`im2col`" -> "im2col", "`Module::state_dict()`" ->
// "state_dict", "`record()`" -> "record". Empty when the text is not a code name.
std::string code_name(const std::string& text) {
  static const std::regex code(R"(^`([A-Za-z_][A-Za-z0-9_:~]*)(\(\))?`$)");
  std::smatch m;
  if (!std::regex_match(text, m, code)) return "";
  std::string name = m[1];
  const size_t colons = name.rfind("::");
  return colons == std::string::npos ? name : name.substr(colons + 2);
}

bool is_source(const fs::path& p) {
  static const std::set<std::string> ext = {".h", ".cpp", ".cu", ".cuh", ".py", ".build", ".sh"};
  return ext.count(p.extension().string()) > 0;
}

}  // namespace

TEST_CASE("docs: relative links point at existing files, and named functions are in them") {
  const fs::path root = fs::canonical(source_root());
  static const std::regex link(R"(\[([^\]]*)\]\(([^)\s]+)\))");
  int checked = 0;
  for (const fs::path& md : markdown_files()) {
    const std::string text = read_file(md);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), link); it != std::sregex_iterator(); ++it) {
      std::string target = (*it)[2];
      if (target.find("://") != std::string::npos || target.rfind("mailto:", 0) == 0 || target[0] == '#') continue;
      target = target.substr(0, target.find('#'));
      const fs::path resolved = (md.parent_path() / target).lexically_normal();
      const std::string rel = resolved.lexically_relative(root).generic_string();
      ++checked;
      if (!fs::exists(resolved)) {
        if (is_pending(rel)) {
          note_pending(rel);
          continue;
        }
        FAIL_CHECK(md.filename().string() << ": link [" << (*it)[1] << "](" << (*it)[2] << ") points at " << rel
                                          << ", which does not exist");
        continue;
      }
      const std::string name = code_name((*it)[1]);
      if (!name.empty() && fs::is_regular_file(resolved) && is_source(resolved)) {
        INFO(md.filename().string() << ": link [" << (*it)[1] << "](" << (*it)[2] << "): '" << name
                                    << "' does not occur in " << rel);
        CHECK(read_file(resolved).find(name) != std::string::npos);
      }
    }
  }
  MESSAGE(checked << " relative links checked");
  CHECK(checked > 50);  // the tour links every chapter to its code: a parser that finds none is broken
}

TEST_CASE("docs: every repository path mentioned in the text exists") {
  const fs::path root = fs::canonical(source_root());
  // A path starts at a word boundary (optionally after ../) with one of the top-level folders.
  static const std::regex path(R"((?:^|[^A-Za-z0-9_.\-/])(?:\.\./)*((?:src|tools|tests|docs|weights)/[A-Za-z0-9_.\-/{},]*))");
  int checked = 0;
  for (const fs::path& md : markdown_files()) {
    const std::string text = read_file(md);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), path); it != std::sregex_iterator(); ++it) {
      std::string p = (*it)[1];
      // A pattern, not a path: "tests/test_<area>.cpp", "src/layers/*_cuda_stub.cpp".
      const size_t end = static_cast<size_t>(it->position(1) + it->length(1));
      if (end < text.size() && (text[end] == '<' || text[end] == '*')) continue;
      while (!p.empty() && (p.back() == '.' || p.back() == ',' || p.back() == ':')) p.pop_back();
      for (const std::string& candidate : expand_braces(p)) {
        ++checked;
        if (fs::exists(root / candidate) || is_generated(candidate)) continue;
        if (is_pending(candidate)) {
          note_pending(candidate);
          continue;
        }
        FAIL_CHECK(md.filename().string() << ": mentions " << candidate << ", which does not exist");
      }
    }
  }
  MESSAGE(checked << " paths checked");
  CHECK(checked > 50);
}
