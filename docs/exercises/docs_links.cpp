// docs/exercises/docs_links.cpp — the documentation points at files that exist.
//
// For every docs/*.md (and README.md):
//   1. every relative Markdown link [text](target) resolves to an existing file or folder,
//      relative to the .md file, and an anchor into a .md file ("usage.md#graft-demo",
//      "#1-storage-and-shapes") names one of its headings (GitHub's slugs); web links are not
//      checked;
//   2. when such a link's text names a function or class in backticks, [`im2col`](../src/...),
//      that name occurs in the linked file (so a renamed function breaks the test, not the tour);
//   3. every repository path mentioned in the text — src/..., tools/..., tests/..., docs/...,
//      weights/... — exists, relative to the repository root ("src/layers/foo.{h,cpp}" is
//      expanded to both files; a pattern such as "tests/test_<area>.cpp" is skipped).
// Files of branches that land later can be listed in kPending (empty now):
// while they are missing the test prints a message (once per file) instead of failing; once
// they exist they are checked like everything else. .h5 files are outputs of commands (weights
// produced by the converter), never committed: they are not checked.
// The source root comes from GRAFT_SOURCE_ROOT, set by docs/exercises/meson.build.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cctype>
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

// Paths of branches not merged yet that the docs already refer to (e.g. "src/models" before the
// models branch landed). Empty now: everything the docs name is on this branch.
const std::vector<std::string> kPending = {};

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
  const fs::path root = fs::canonical(source_root());
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

// GitHub's anchor for a heading: lower case, spaces to '-', punctuation dropped.
// "3. Convolution as im2col + GEMM, and its backward" -> "3-convolution-as-im2col--gemm-and-its-backward"
std::string slug(const std::string& heading) {
  std::string out;
  for (unsigned char ch : heading) {
    if (std::isalnum(ch) || ch == '_' || ch == '-') out += static_cast<char>(std::tolower(ch));
    else if (ch == ' ') out += '-';
  }
  return out;
}

// The anchors of a Markdown file's headings ("## Title" lines outside code blocks).
std::set<std::string> anchors(const std::string& text) {
  std::set<std::string> out;
  std::stringstream ss(text);
  bool in_code = false;
  for (std::string line; std::getline(ss, line);) {
    if (line.rfind("```", 0) == 0) in_code = !in_code;
    if (in_code || line.empty() || line[0] != '#') continue;
    const size_t start = line.find_first_not_of('#');
    if (start == std::string::npos || line[start] != ' ') continue;
    out.insert(slug(line.substr(start + 1)));
  }
  return out;
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
      if (target.find("://") != std::string::npos || target.rfind("mailto:", 0) == 0) continue;
      const size_t hash = target.find('#');
      const std::string anchor = hash == std::string::npos ? "" : target.substr(hash + 1);
      target = target.substr(0, hash);
      const fs::path resolved = target.empty() ? md : (md.parent_path() / target).lexically_normal();
      if (!anchor.empty() && resolved.extension() == ".md" && fs::exists(resolved)) {
        INFO(md.filename().string() << ": link [" << (*it)[1] << "](" << (*it)[2] << "): no heading of "
                                    << resolved.filename().string() << " has the anchor '" << anchor << "'");
        CHECK(anchors(read_file(resolved)).count(anchor) == 1);
      }
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

TEST_CASE("docs: every header under src/ and tools/ starts with a comment naming itself") {
  // The convention of every header: "// src/layers/conv2d.h — what it is for", then the math,
  // the shapes it takes and a design note, all before "#pragma once".
  const fs::path root = fs::canonical(source_root());
  int checked = 0;
  for (const char* dir : {"src", "tools"})
    for (const auto& e : fs::recursive_directory_iterator(root / dir)) {
      const std::string ext = e.path().extension().string();
      if (!e.is_regular_file() || (ext != ".h" && ext != ".cuh")) continue;
      const std::string rel = e.path().lexically_relative(root).generic_string();
      std::stringstream ss(read_file(e.path()));
      std::string first;
      std::getline(ss, first);
      int comment_lines = first.rfind("//", 0) == 0 ? 1 : 0;
      for (std::string line; std::getline(ss, line) && line.rfind("//", 0) == 0;) ++comment_lines;
      ++checked;
      INFO(rel << " starts with '" << first << "'");
      CHECK(first.rfind("// " + rel + " \xE2\x80\x94 ", 0) == 0);  // "// <path> — " (an em dash)
      CHECK(comment_lines >= 2);
    }
  MESSAGE(checked << " headers checked");
  CHECK(checked > 40);
}
