// src/data/datasets.cpp — ImageFolder, CsvDataset, IdxDataset, FeaturesDataset; see datasets.h.
#include "data/datasets.h"

#include "tensor/check.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>

#include "tensor/hdf5_io.h"

namespace fs = std::filesystem;

namespace graft {

const std::vector<std::string> kImageExtensions = {".jpg", ".jpeg", ".png", ".ppm", ".bmp",
                                                   ".pgm", ".tif", ".tiff", ".webp"};
const std::vector<std::string> kFashionMnistClasses = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                       "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

namespace {
// The most classes a dataset may have when its labels are indices (classes 0..max): a label of
// 10^12 in a CSV or features file would otherwise make that many class names.
constexpr int64_t kMaxClasses = 1000000;

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
bool hidden(const fs::path& p) { return !p.filename().empty() && p.filename().string()[0] == '.'; }
std::string extensions_text() {
  std::string s;
  for (auto& e : kImageExtensions) s += (s.empty() ? "" : ", ") + e;
  return s;
}
}  // namespace

bool has_image_extension(const std::string& filename) {
  std::string l = lower(filename);
  for (auto& e : kImageExtensions)
    if (l.size() >= e.size() && l.compare(l.size() - e.size(), e.size(), e) == 0) return true;
  return false;
}

Sample ImageDatasetBase::get(int64_t i) const {
  check_index(i);
  Sample s;
  s.image = load_image(files_[i]);
  s.label = labels_[i];
  s.source = files_[i];
  return s;
}

// ---- ImageFolder (torchvision.datasets.folder.find_classes + make_dataset) ---------------
ImageFolder::ImageFolder(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw std::runtime_error("ImageFolder: '" + root + "' is not a folder (it should hold one subfolder per class)");
  for (auto& e : fs::directory_iterator(root, fs::directory_options::follow_directory_symlink))
    if (fs::is_directory(e.path(), ec) && !hidden(e.path())) classes_.push_back(e.path().filename().string());
  std::sort(classes_.begin(), classes_.end());
  if (classes_.empty())
    throw std::runtime_error("ImageFolder: couldn't find any class folder in '" + root +
                             "'; put the images of each class in their own subfolder, e.g. " + root + "/cat/1.jpg");
  std::vector<std::string> empty;
  for (size_t c = 0; c < classes_.size(); ++c) {
    // os.walk(followlinks=True), sorted by folder path, files sorted inside each folder.
    std::map<std::string, std::vector<std::string>> by_dir;
    fs::path dir = fs::path(root) / classes_[c];
    by_dir[dir.string()];
    // Errors while walking name the entry relative to the root, briefly: the std::filesystem
    // message of a symlink loop holds the path repeated until the OS gives up (ELOOP /
    // ENAMETOOLONG), hundreds of characters. os.walk(followlinks=True) would loop forever.
    auto rel = [&](const fs::path& p) { return p.lexically_relative(root).string(); };
    auto walk_error = [&](const fs::path& p, const std::string& why) {
      return std::runtime_error("ImageFolder '" + root + "': '" + rel(p) + "' " + why);
    };
    std::error_code walk_ec;
    fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, walk_ec);
    if (walk_ec) throw walk_error(dir, "cannot be read (" + walk_ec.message() + ")");
    for (; it != fs::recursive_directory_iterator(); it.increment(walk_ec)) {
      if (walk_ec) break;
      const fs::path& p = it->path();
      if (hidden(p)) {
        if (std::error_code hec; it->is_directory(hec)) it.disable_recursion_pending();
        continue;
      }
      std::error_code ec;
      const bool is_dir = fs::is_directory(p, ec);  // follows links; ELOOP for a link to itself
      if (ec && fs::is_symlink(it->symlink_status(ec)))
        throw walk_error(p, "is a symbolic link that cannot be followed (it points to itself or to a missing "
                            "target); remove it or point it elsewhere");
      if (is_dir && it->is_symlink()) {
        // A link to a folder that contains it: following it would never end.
        const fs::path target = fs::canonical(p, ec), parent = fs::canonical(p.parent_path(), ec);
        auto [t, q] = std::mismatch(target.begin(), target.end(), parent.begin(), parent.end());
        if (!ec && t == target.end())
          throw walk_error(p, "is a symbolic link loop (it points to '" + target.string() +
                                  "', a folder that contains it); remove the link or point it elsewhere");
      }
      if (!is_dir && has_image_extension(p.filename().string()))
        by_dir[p.parent_path().string()].push_back(p.filename().string());
    }
    if (walk_ec) throw walk_error(it == fs::recursive_directory_iterator() ? dir : it->path(),
                                  "cannot be read (" + walk_ec.message() + ")");
    size_t before = files_.size();
    for (auto& [d, names] : by_dir) {
      std::sort(names.begin(), names.end());
      for (auto& n : names) {
        files_.push_back((fs::path(d) / n).string());
        labels_.push_back(int64_t(c));
      }
    }
    if (files_.size() == before) empty.push_back(classes_[c]);
  }
  if (!empty.empty()) {
    std::string names;
    for (auto& e : empty) names += (names.empty() ? "" : ", ") + e;
    throw std::runtime_error("ImageFolder '" + root + "': Found no valid file for the classes " + names +
                             ". Supported extensions are: " + extensions_text() +
                             "; add images to those folders or remove them");
  }
}

// ---- CsvDataset --------------------------------------------------------------------------
namespace {
// Splits one CSV line (RFC 4180 quotes, no embedded newlines).
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char ch = line[i];
    if (quoted) {
      if (ch == '"' && i + 1 < line.size() && line[i + 1] == '"') { out.back() += '"'; ++i; }
      else if (ch == '"') quoted = false;
      else out.back() += ch;
    } else if (ch == '"') quoted = true;
    else if (ch == ',') out.emplace_back();
    else if (ch != '\r') out.back() += ch;
  }
  for (auto& f : out) {  // trim spaces
    while (!f.empty() && f.back() == ' ') f.pop_back();
    while (!f.empty() && f.front() == ' ') f.erase(f.begin());
  }
  return out;
}
bool is_integer(const std::string& s) {
  if (s.empty()) return false;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}
}  // namespace

CsvDataset::CsvDataset(const std::string& csv_path, const std::string& image_dir) {
  std::ifstream in(csv_path);
  if (!in) throw std::runtime_error("CsvDataset: cannot open '" + csv_path + "' (does the file exist?)");
  const fs::path dir = image_dir.empty() ? fs::path(csv_path).parent_path() : fs::path(image_dir);
  std::string line;
  if (!std::getline(in, line)) throw std::runtime_error("CsvDataset: '" + csv_path + "' is empty; expected a header row and then <file>,<label> rows");
  std::vector<std::string> names, raw_labels;
  std::vector<int64_t> label_lines;           // the line of each row, for messages
  std::map<std::string, int64_t> first_line;  // file name -> the line that listed it
  int64_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
    auto f = csv_fields(line);
    if (f.size() < 2 || f[0].empty() || f[1].empty())
      throw std::runtime_error("CsvDataset: '" + csv_path + "' line " + std::to_string(line_no) +
                               ": expected <file>,<label>, got '" + line + "'");
    // A NUL byte ends a path for the OS: "a\0b" would name "a" (or, alone, the CSV's folder).
    if (f[0].find('\0') != std::string::npos)
      throw std::runtime_error("CsvDataset: '" + csv_path + "' line " + std::to_string(line_no) +
                               ": the file name holds a NUL byte; is this a CSV file?");
    // The same file twice would be trained on twice (or with two labels): never what a
    // hand-edited list means, so say where both rows are.
    auto [seen, fresh] = first_line.emplace(f[0], line_no);
    if (!fresh)
      throw std::runtime_error("CsvDataset: '" + csv_path + "' line " + std::to_string(line_no) + ": '" + f[0] +
                               "' is already listed on line " + std::to_string(seen->second) +
                               "; remove the duplicate row");
    names.push_back(f[0]);
    raw_labels.push_back(f[1]);
    label_lines.push_back(line_no);
  }
  if (names.empty()) throw std::runtime_error("CsvDataset: '" + csv_path + "' has a header but no rows");
  std::vector<std::string> missing;
  for (auto& n : names)
    if (!fs::exists(dir / n)) missing.push_back(n);
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < std::min<size_t>(missing.size(), 5); ++i) list += (i ? ", " : "") + missing[i];
    if (missing.size() > 5) list += ", ...";
    throw std::runtime_error("CsvDataset: " + std::to_string(missing.size()) + " of " + std::to_string(names.size()) +
                             " files named in '" + csv_path + "' do not exist in '" + dir.string() + "': " + list +
                             "; fix the CSV or the image folder");
  }
  const bool integers = std::all_of(raw_labels.begin(), raw_labels.end(), is_integer);
  if (integers) {
    int64_t mx = -1;
    for (size_t r = 0; r < raw_labels.size(); ++r) {
      const std::string& l = raw_labels[r];
      errno = 0;
      const long long v = std::strtoll(l.c_str(), nullptr, 10);  // is_integer: digits only
      if (v < 0) throw std::runtime_error("CsvDataset: '" + csv_path + "': negative label " + l + "; labels must be class indices >= 0 or names");
      // Integer labels are class indices, and the class list is 0..max: a label of 10^12 (or
      // beyond int64) would make that many class names. No dataset has a million classes.
      if (errno == ERANGE || v >= kMaxClasses)
        throw std::runtime_error("CsvDataset: '" + csv_path + "' line " + std::to_string(label_lines[r]) + ": label " + l +
                                 " is not a class index (integer labels must be below " + std::to_string(kMaxClasses) +
                                 "); number the classes from 0, or write them as names");
      labels_.push_back(v);
      mx = std::max<int64_t>(mx, v);
    }
    for (int64_t c = 0; c <= mx; ++c) classes_.push_back(std::to_string(c));
  } else {
    std::set<std::string> uniq(raw_labels.begin(), raw_labels.end());
    classes_.assign(uniq.begin(), uniq.end());
    for (auto& l : raw_labels)
      labels_.push_back(int64_t(std::lower_bound(classes_.begin(), classes_.end(), l) - classes_.begin()));
  }
  for (auto& n : names) files_.push_back((dir / n).string());
}

// ---- IDX (MNIST) -------------------------------------------------------------------------
std::vector<uint8_t> read_idx(const std::string& path, std::vector<int64_t>& dims) {
  gzFile g = gzopen(path.c_str(), "rb");  // reads raw files transparently too
  if (!g) throw std::runtime_error("IDX: cannot open '" + path + "' (does the file exist?)");
  std::vector<uint8_t> all;
  uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(g, buf, sizeof buf)) > 0) all.insert(all.end(), buf, buf + n);
  bool err = n < 0;
  gzclose(g);
  if (err) throw std::runtime_error("IDX: '" + path + "' is a corrupt gzip file; download it again");
  if (all.size() < 4 || all[0] != 0 || all[1] != 0 || all[2] != 0x08)
    throw std::runtime_error("IDX: '" + path + "' is not an unsigned-byte IDX file (magic 00 00 08 nd)");
  int nd = all[3];
  size_t off = 4 + size_t(nd) * 4;
  if (all.size() < off) throw std::runtime_error("IDX: '" + path + "' is truncated (header)");
  dims.clear();
  std::string claimed;  // "60000 x 28 x 28"
  for (int d = 0; d < nd; ++d) {
    const uint8_t* p = &all[4 + d * 4];
    dims.push_back((int64_t(p[0]) << 24) | (int64_t(p[1]) << 16) | (int64_t(p[2]) << 8) | int64_t(p[3]));
    claimed += (d ? " x " : "") + std::to_string(dims.back());
  }
  // The product of the dims, checked step by step against the bytes present: up to 255 dims of
  // up to 2^32 - 1 each overflow any integer type.
  const uint64_t data_bytes = all.size() - off;
  uint64_t count = std::find(dims.begin(), dims.end(), 0) != dims.end() ? 0 : 1;
  for (size_t d = 0; count != 0 && d < dims.size(); ++d) {
    if (uint64_t(dims[d]) > data_bytes / count)  // count * dim > data_bytes
      throw std::runtime_error("IDX: '" + path + "' holds " + std::to_string(data_bytes) + " data bytes, but its header " +
                               "says " + claimed + ", more than that; the file is truncated or corrupt, download it again");
    count *= uint64_t(dims[d]);
  }
  if (data_bytes != count)
    throw std::runtime_error("IDX: '" + path + "' holds " + std::to_string(data_bytes) + " data bytes, its header says " +
                             claimed + " = " + std::to_string(count) +
                             "; the file is truncated or corrupt, download it again");
  return std::vector<uint8_t>(all.begin() + long(off), all.end());
}

IdxDataset::IdxDataset(const std::string& images_path, const std::string& labels_path, bool three_channels,
                       std::vector<std::string> class_names)
    : path_(images_path), three_(three_channels), classes_(std::move(class_names)) {
  std::vector<int64_t> di, dl;
  pixels_ = read_idx(images_path, di);
  auto lab = read_idx(labels_path, dl);
  if (di.size() != 3) throw std::runtime_error("IDX: '" + images_path + "' should be [N, rows, cols], has " + std::to_string(di.size()) + " dims");
  if (dl.size() != 1 || dl[0] != di[0])
    throw std::runtime_error("IDX: '" + labels_path + "' should hold " + std::to_string(di[0]) + " labels for '" + images_path + "'");
  n_ = di[0]; rows_ = di[1]; cols_ = di[2];
  int64_t mx = 0;
  for (uint8_t l : lab) { labels_.push_back(l); mx = std::max<int64_t>(mx, l); }
  if (classes_.empty())
    for (int64_t c = 0; c <= std::max<int64_t>(mx, 9); ++c) classes_.push_back(std::to_string(c));
}

IdxDataset IdxDataset::from_folder(const std::string& folder, bool train, bool three_channels,
                                   std::vector<std::string> class_names) {
  const std::string prefix = train ? "train" : "t10k";
  auto find = [&](const std::string& stem) {
    for (const char* ext : {"", ".gz"})
      if (fs::exists(fs::path(folder) / (stem + ext))) return (fs::path(folder) / (stem + ext)).string();
    throw std::runtime_error("IDX: no '" + stem + "' or '" + stem + ".gz' in '" + folder +
                             "'; download the MNIST/Fashion-MNIST files into that folder");
  };
  const std::string images = find(prefix + "-images-idx3-ubyte");  // looked up first: error order
  return IdxDataset(images, find(prefix + "-labels-idx1-ubyte"), three_channels, std::move(class_names));
}

Sample IdxDataset::get(int64_t i) const {
  check_index(i);
  Sample s;
  s.image = Image(rows_, cols_, three_ ? 3 : 1);
  const uint8_t* p = &pixels_[size_t(i * rows_ * cols_)];
  for (int64_t k = 0; k < rows_ * cols_; ++k)
    for (int64_t c = 0; c < s.image.C; ++c) s.image.data[size_t(k * s.image.C + c)] = p[k];
  s.label = labels_[i];
  s.source = source(i);
  return s;
}

// ---- FeaturesDataset ---------------------------------------------------------------------
FeaturesDataset::FeaturesDataset(const std::string& h5_path) : path_(h5_path) {
  H5File f(h5_path, H5File::Mode::Read);
  for (const char* k : {"features", "labels"})
    if (!f.contains(k)) throw std::runtime_error("FeaturesDataset: '" + h5_path + "' has no dataset '" + k + "' (write it with save_features)");
  features_ = f.read("features");
  Tensor l = f.read("labels");
  if (features_.dim() != 2 || l.dim() != 1 || l.size(0) != features_.size(0))
    throw std::runtime_error("FeaturesDataset: '" + h5_path + "': expected features [N,F] and labels [N], got " +
                             shape_str(features_.shape()) + " and " + shape_str(l.shape()));
  if (l.dtype() != DType::Int64) throw std::runtime_error("FeaturesDataset: '" + h5_path + "': labels must be integers");
  if (features_.dtype() != DType::Float32)
    throw std::runtime_error("FeaturesDataset: '" + h5_path + "': features must be floats, the file holds integers");
  labels_ = l.to_labels();
  if (f.contains("files")) files_ = f.read_strings("files");
  if (f.has_attr("class_names")) classes_ = f.attr_strings("class_names");
  int64_t mx = -1;
  for (int64_t v : labels_) {
    if (v < 0 || v >= kMaxClasses)  // the class list is 0..max when the file names none
      throw std::runtime_error("FeaturesDataset: '" + h5_path + "': label " + std::to_string(v) +
                               " is not a class index (0 to " + std::to_string(kMaxClasses - 1) +
                               "); the file is corrupt, write it again with save_features");
    mx = std::max(mx, v);
  }
  if (classes_.empty())
    for (int64_t c = 0; c <= mx; ++c) classes_.push_back(std::to_string(c));
  if (mx >= int64_t(classes_.size()))
    throw std::runtime_error("FeaturesDataset: '" + h5_path + "': label " + std::to_string(mx) + " but only " +
                             std::to_string(classes_.size()) + " class names");
}

Sample FeaturesDataset::get(int64_t i) const {
  check_index(i);
  Sample s;
  s.tensor = features_.slice(i, i + 1).view({features_.size(1)});
  s.label = labels_[i];
  s.source = source(i);
  return s;
}

std::string FeaturesDataset::source(int64_t i) const {
  check_index(i);
  return size_t(i) < files_.size() ? files_[i] : path_ + "#" + std::to_string(i);
}

TensorDataset::TensorDataset(Tensor rows, std::vector<int64_t> labels, std::vector<std::string> sources,
                             std::vector<std::string> class_names)
    : rows_(std::move(rows)), labels_(std::move(labels)), sources_(std::move(sources)), classes_(std::move(class_names)) {
  GRAFT_CHECK(rows_.dim() >= 1 && rows_.dtype() == DType::Float32, "TensorDataset", "expected float32 rows [N, ...], got ",
              rows_);
  GRAFT_CHECK(rows_.size(0) == static_cast<int64_t>(labels_.size()), "TensorDataset", rows_.size(0), " rows but ",
              labels_.size(), " labels");
  sources_.resize(labels_.size());
}

Sample TensorDataset::get(int64_t i) const {
  check_index(i);
  Sample s;
  s.tensor = rows_.slice(i, i + 1).clone();  // a copy: the loader may run in other threads
  s.tensor = s.tensor.view(Shape(rows_.shape().begin() + 1, rows_.shape().end()));
  s.label = labels_[i];
  s.source = source(i);
  return s;
}

std::string TensorDataset::source(int64_t i) const {
  check_index(i);
  return sources_[i].empty() ? "row " + std::to_string(i) : sources_[i];
}

std::shared_ptr<Dataset> open_dataset(const std::string& path, bool train) {
  const std::string ext = lower(fs::path(path).extension().string());
  if (ext == ".csv") return std::make_shared<CsvDataset>(path);
  if (ext == ".h5" || ext == ".hdf5") return std::make_shared<FeaturesDataset>(path);
  std::error_code ec;
  if (!fs::is_directory(path, ec))
    throw std::runtime_error("open_dataset: '" + path + "' is neither a folder of class folders, a .csv list, an IDX "
                             "folder nor a .h5 features file");
  const std::string stem = std::string(train ? "train" : "t10k") + "-images-idx3-ubyte";
  if (fs::exists(fs::path(path) / stem) || fs::exists(fs::path(path) / (stem + ".gz")))
    return std::make_shared<IdxDataset>(IdxDataset::from_folder(path, train));
  return std::make_shared<ImageFolder>(path);
}

void save_features(const std::string& h5_path, const Tensor& features, const std::vector<int64_t>& labels,
                   const std::vector<std::string>& files, const std::vector<std::string>& class_names) {
  check_dim("save_features", "features", features, 2);
  if (features.size(0) != int64_t(labels.size()))
    throw std::invalid_argument("save_features: " + std::to_string(labels.size()) + " labels for features " + shape_str(features.shape()));
  save_tensors(h5_path, {{"features", features.to(Device::CPU)}, {"labels", Tensor::from_labels(labels)}}, [&](H5File& f) {
    if (!files.empty()) f.write_strings("files", files);
    if (!class_names.empty()) f.set_attr("class_names", class_names);
  });
}

}  // namespace graft
