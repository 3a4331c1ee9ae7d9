// tools/cmd_split.cpp — `graft split`: one ImageFolder -> train/valid(/test) ImageFolders.
//
// The files of root/<class>/... are listed as torchvision's ImageFolder lists them
// (src/data/datasets.h), split by fractions with a seed (src/data/split.h: shuffled, then cut
// into floor(f_i * N) parts, the remainder to the first parts; --stratified cuts each class
// the same way so every part keeps the class proportions), and each file is copied, hard-linked
// or symlinked to out/<part>/<class>/<path below the class folder>. The same seed always gives
// the same split, so a split can be re-made instead of shipped.
//
//   graft split --data flowers --out flowers-split --fractions 0.7,0.2,0.1 --seed 0
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "args.h"
#include "commands.h"
#include "data/datasets.h"
#include "data/split.h"
#include "tensor/check.h"

namespace graft {
namespace fs = std::filesystem;

namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// Places `src` at `dst` by copying, hard-linking or symlinking (to the absolute source path).
void place(const fs::path& src, const fs::path& dst, const std::string& how) {
  fs::create_directories(dst.parent_path());
  std::error_code ec;
  if (how == "hard")
    fs::create_hard_link(src, dst, ec);
  else if (how == "symlink")
    fs::create_symlink(fs::absolute(src), dst, ec);
  else
    fs::copy_file(src, dst, fs::copy_options::overwrite_existing, ec);
  GRAFT_CHECK_DATA(!ec, "", "could not ", how == "copy" ? "copy" : "link", " '", src.string(), "' to '", dst.string(),
                   "': ", ec.message(),
                   how == "hard" ? " (hard links need both folders on one file system: try --link symlink or "
                                   "--link copy)"
                                 : "");
}

}  // namespace

int cmd_split(const std::vector<std::string>& words) {
  tools::ArgParser parser("graft split",
                          "Split one ImageFolder (one subfolder per class) into train/valid/test ImageFolders by\n"
                          "fractions and a seed, copying or linking the files, and print the counts per class.");
  parser.add_string("data", "", "the ImageFolder to split", true)
      .add_string("out", "", "output folder: gets one ImageFolder per part (out/train, out/valid, ...)", true)
      .add_string("fractions", "0.7,0.2,0.1", "fractions of the parts, summing to 1 (2 or 3 numbers)")
      .add_string("names", "", "part names (default train,valid for 2 parts, train,valid,test for 3)")
      .add_int("seed", 0, "random seed: the same seed gives the same split")
      .add_flag("stratified", "split each class separately, so every part keeps the class proportions")
      .add_string("link", "copy", "copy the files, or hard-link / symlink them (no extra disk space)", false,
                  {"copy", "hard", "symlink"})
      .add_flag("force", "replace the parts in an output folder that is not empty")
      .add_example("graft split --data flowers --out flowers-split", "70/20/10, copies")
      .add_example("graft split --data pets --out pets-split --fractions 0.8,0.2 --stratified --link symlink",
                   "80/20 keeping class proportions, symlinks")
      .add_example("graft split --data pets --out pets-split --fractions 0.5,0.25,0.25 --seed 1 --force",
                   "re-split an existing output with another seed");
  tools::Args args = parser.parse(words);
  if (tools::print_help_if_asked(parser, args)) return 0;
  const std::string data = args.get("data"), out = args.get("out"), how = args.get("link");

  std::vector<double> fractions;
  for (const std::string& f : split_commas(args.get("fractions"))) {
    try {
      size_t used = 0;
      fractions.push_back(std::stod(f, &used));
      GRAFT_CHECK(used == f.size(), "", f);
    } catch (const std::exception&) {
      throw tools::ArgError("graft split: --fractions expects numbers separated by commas (e.g. 0.7,0.2,0.1), got '" +
                            args.get("fractions") + "'");
    }
    if (!(fractions.back() > 0))
      throw tools::ArgError("graft split: every fraction must be positive, got '" + args.get("fractions") + "'");
  }
  double sum = 0;
  for (double f : fractions) sum += f;
  if (fractions.size() < 2 || fractions.size() > 3 || std::abs(sum - 1) > 1e-6)
    throw tools::ArgError("graft split: --fractions needs 2 or 3 positive numbers summing to 1, got '" +
                          args.get("fractions") + "'");
  std::vector<std::string> names = args.get("names").empty()
                                       ? (fractions.size() == 2 ? std::vector<std::string>{"train", "valid"}
                                                                : std::vector<std::string>{"train", "valid", "test"})
                                       : split_commas(args.get("names"));
  if (names.size() != fractions.size())
    throw tools::ArgError("graft split: --names has " + std::to_string(names.size()) + " names for " +
                          std::to_string(fractions.size()) + " fractions");

  GRAFT_CHECK_DATA(fs::is_directory(data), "", "no folder '", data,
                   "' to split (it should hold one subfolder per class)");
  ImageFolder folder(data);  // throws for a folder without classes or a class without images
  const fs::path root = fs::absolute(data).lexically_normal(), out_root = fs::absolute(out).lexically_normal();
  GRAFT_CHECK_DATA((out_root.string() + "/").rfind(root.string() + "/", 0) != 0, "", "the output folder '", out,
                   "' is inside the data folder '", data, "': it would become a class; choose a folder outside it");
  if (fs::exists(out_root) && !fs::is_empty(out_root)) {
    GRAFT_CHECK_DATA(args.flag("force"), "", "output folder '", out, "' is not empty; pass --force to replace its ",
                     names[0], "/", names[1], names.size() > 2 ? "/" + names[2] : std::string(),
                     " folders (and any train/valid/test folder), or choose another --out");
    std::vector<std::string> old = names;  // also the default parts, so no stale part of an earlier split stays
    for (const char* d : {"train", "valid", "test"}) old.push_back(d);
    for (const std::string& n : old) fs::remove_all(out_root / n);
  }

  const auto parts = split_indices(folder.labels(), fractions, static_cast<uint64_t>(args.get_int("seed")),
                                   args.flag("stratified"));
  const std::vector<std::string>& classes = folder.class_names();
  std::vector<std::vector<int64_t>> counts(classes.size(), std::vector<int64_t>(parts.size(), 0));
  for (size_t p = 0; p < parts.size(); ++p) {
    fs::create_directories(out_root / names[p]);
    for (int64_t i : parts[p]) {
      const fs::path src = fs::absolute(folder.files()[i]).lexically_normal();
      const std::string& cls = classes[folder.labels()[i]];
      const fs::path rel = fs::path(src).lexically_relative(root / cls);  // keeps nested folders
      place(src, out_root / names[p] / cls / rel, how);
      ++counts[folder.labels()[i]][p];
    }
  }

  // ---- the table ------------------------------------------------------------------------------
  std::printf("split %lld images of %zu classes from %s into %s (seed %lld%s, %s)\n\n",
              static_cast<long long>(folder.size()), classes.size(), data.c_str(), out.c_str(),
              static_cast<long long>(args.get_int("seed")), args.flag("stratified") ? ", stratified" : "",
              how == "copy" ? "copies" : how == "hard" ? "hard links" : "symlinks");
  size_t width = 5;
  for (const auto& c : classes) width = std::max(width, c.size());
  std::printf("%-*s", static_cast<int>(width), "class");
  for (const auto& n : names) std::printf(" %8s", n.c_str());
  std::printf(" %8s\n", "total");
  std::vector<int64_t> totals(parts.size(), 0);
  for (size_t c = 0; c < classes.size(); ++c) {
    std::printf("%-*s", static_cast<int>(width), classes[c].c_str());
    int64_t row = 0;
    for (size_t p = 0; p < parts.size(); ++p) {
      std::printf(" %8lld", static_cast<long long>(counts[c][p]));
      row += counts[c][p];
      totals[p] += counts[c][p];
    }
    std::printf(" %8lld\n", static_cast<long long>(row));
  }
  std::printf("%-*s", static_cast<int>(width), "total");
  for (int64_t t : totals) std::printf(" %8lld", static_cast<long long>(t));
  std::printf(" %8lld\n", static_cast<long long>(folder.size()));
  for (size_t p = 0; p < parts.size(); ++p)
    for (size_t c = 0; c < classes.size(); ++c)
      if (counts[c][p] == 0)
        std::printf("warning: %s has no image of class '%s', so as an ImageFolder it has fewer classes than the "
                    "others and numbers them differently (too few images for these fractions: try --stratified)\n",
                    names[p].c_str(), classes[c].c_str());
  return 0;
}

}  // namespace graft
