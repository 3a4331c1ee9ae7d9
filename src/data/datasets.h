// src/data/datasets.h — the concrete datasets: image folders, CSV lists, MNIST IDX, features.
//
//   ImageFolder  root/<class>/**/<file>.jpg as torchvision.datasets.ImageFolder: classes are
//                the sorted subfolder names, files sorted (os.walk order), extensions
//                IMG_EXTENSIONS case-insensitive. Unlike torchvision, hidden entries (".*") are
//                ignored, so ".ipynb_checkpoints" or "._x.jpg" never become classes or samples.
//   CsvDataset   a CSV "<file>,<label>" with a header row and a folder of images; string
//                labels map to sorted class names, integer labels are the class index.
//   IdxDataset   MNIST / Fashion-MNIST images + labels (IDX, gzip or raw): [1,28,28] u8 images
//                (or 3-channel copies), to be turned into floats by the pipeline (u8 / 255).
//   FeaturesDataset  an HDF5 file with "features" [N,F] float, "labels" [N] int64, optional
//                "files" strings and the root attribute "class_names": samples are [F] tensors.
// Every constructor checks its input and throws std::runtime_error naming the path.
#pragma once

#include "data/dataset.h"

namespace graft {

// torchvision's IMG_EXTENSIONS.
extern const std::vector<std::string> kImageExtensions;
bool has_image_extension(const std::string& filename);  // case-insensitive

class ImageDatasetBase : public Dataset {
 public:
  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  Sample get(int64_t i) const override;  // decodes the file
  int64_t label(int64_t i) const override { check_index(i); return labels_[i]; }
  std::string source(int64_t i) const override { check_index(i); return files_[i]; }
  const std::vector<std::string>& class_names() const override { return classes_; }
  const std::vector<std::string>& files() const { return files_; }  // full paths
  const std::vector<int64_t>& labels() const { return labels_; }

 protected:
  std::vector<std::string> files_, classes_;
  std::vector<int64_t> labels_;
};

class ImageFolder : public ImageDatasetBase {
 public:
  explicit ImageFolder(const std::string& root);
};

class CsvDataset : public ImageDatasetBase {
 public:
  // image_dir: folder the CSV's file names are relative to (default: the CSV's folder).
  explicit CsvDataset(const std::string& csv_path, const std::string& image_dir = "");
};

class IdxDataset : public Dataset {
 public:
  // images_path: "...-images-idx3-ubyte[.gz]"; labels_path: "...-labels-idx1-ubyte[.gz]".
  // class_names: default "0".."9" (pass kFashionMnistClasses for Fashion-MNIST).
  IdxDataset(const std::string& images_path, const std::string& labels_path, bool three_channels = false,
             std::vector<std::string> class_names = {});
  // Finds "train-images-idx3-ubyte[.gz]" + "train-labels-idx1-ubyte[.gz]" (or "t10k-...")
  // in a folder, as torchvision's MNIST/FashionMNIST raw folders hold them.
  static IdxDataset from_folder(const std::string& folder, bool train, bool three_channels = false,
                                std::vector<std::string> class_names = {});
  int64_t size() const override { return n_; }
  Sample get(int64_t i) const override;  // sample.image: 28x28x1 (or x3)
  int64_t label(int64_t i) const override { check_index(i); return labels_[i]; }
  std::string source(int64_t i) const override { return path_ + "#" + std::to_string(i); }
  const std::vector<std::string>& class_names() const override { return classes_; }

 private:
  std::string path_;
  int64_t n_ = 0, rows_ = 0, cols_ = 0;
  bool three_ = false;
  std::vector<uint8_t> pixels_;
  std::vector<int64_t> labels_;
  std::vector<std::string> classes_;
};
extern const std::vector<std::string> kFashionMnistClasses;

// Reads an IDX file (gzip or raw): returns the dims and the raw uint8 payload.
std::vector<uint8_t> read_idx(const std::string& path, std::vector<int64_t>& dims);

class FeaturesDataset : public Dataset {
 public:
  explicit FeaturesDataset(const std::string& h5_path);
  int64_t size() const override { return labels_.size() ? int64_t(labels_.size()) : 0; }
  Sample get(int64_t i) const override;  // sample.tensor: [F]
  int64_t label(int64_t i) const override { check_index(i); return labels_[i]; }
  std::string source(int64_t i) const override;
  const std::vector<std::string>& class_names() const override { return classes_; }
  const Tensor& features() const { return features_; }  // [N,F]

 private:
  std::string path_;
  Tensor features_;
  std::vector<int64_t> labels_;
  std::vector<std::string> files_, classes_;
};

// Rows of a tensor in memory: rows [N, ...] float32 (feature vectors [N,F], or images
// [N,C,H,W] already as floats), one label each. Sample i is a copy of row i. `sources` name the
// original files (may be empty: "row <i>"). What `graft train` trains a head on when it has
// computed a frozen backbone's features once, and how the demo feeds Fashion-MNIST.
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor rows, std::vector<int64_t> labels, std::vector<std::string> sources,
                std::vector<std::string> class_names);
  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  Sample get(int64_t i) const override;
  int64_t label(int64_t i) const override {
    check_index(i);
    return labels_[i];
  }
  std::string source(int64_t i) const override;
  const std::vector<std::string>& class_names() const override { return classes_; }

 private:
  Tensor rows_;
  std::vector<int64_t> labels_;
  std::vector<std::string> sources_, classes_;
};

// Picks the dataset type from the path: a .csv file -> CsvDataset; .h5/.hdf5 -> FeaturesDataset;
// a folder holding "<train|t10k>-images-idx3-ubyte[.gz]" -> IdxDataset (train selects which);
// any other folder -> ImageFolder. Throws naming the path when none applies.
std::shared_ptr<Dataset> open_dataset(const std::string& path, bool train = true);

// Writes a file FeaturesDataset reads (h5py-compatible): features [N,F], labels [N] int64,
// files (strings, may be empty), attribute class_names.
void save_features(const std::string& h5_path, const Tensor& features, const std::vector<int64_t>& labels,
                   const std::vector<std::string>& files, const std::vector<std::string>& class_names);
}  // namespace graft
