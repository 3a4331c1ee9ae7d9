// src/tensor/hdf5_io.h — named tensors in HDF5 files: weights, checkpoints, features, references.
//
// The format: one dataset per tensor at the root of the file, named with the tensor's full
// dotted name ("features.0.weight", "layer1.0.bn1.running_var"), float32 or int64, with the
// tensor's shape. Metadata lives in attributes of the root group (strings, numbers, lists of
// strings such as class names). h5py reads and writes the same files:
//     f = h5py.File("resnet18.h5"); w = f["conv1.weight"][()]
// Every error names the file and the key.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace graft {

class H5File {
 public:
  enum class Mode { Read, Truncate, ReadWrite };
  H5File(const std::string& path, Mode mode);
  ~H5File();
  // Flushes and closes the file now, throwing if that fails (disk full: HDF5 writes much of a
  // file only at close). The destructor closes too, but cannot report an error.
  void close();
  H5File(const H5File&) = delete;
  H5File& operator=(const H5File&) = delete;

  const std::string& path() const { return path_; }
  bool contains(const std::string& key) const;
  std::vector<std::string> keys() const;  // root datasets, in name order
  Shape shape_of(const std::string& key) const;

  // float64/float32 datasets read as float32, integer datasets as int64 (on the CPU).
  Tensor read(const std::string& key) const;
  // Writes (or replaces) a dataset; the tensor is copied to the host first.
  void write(const std::string& key, const Tensor& t);
  void write_strings(const std::string& key, const std::vector<std::string>& values);
  std::vector<std::string> read_strings(const std::string& key) const;

  bool has_attr(const std::string& name) const;
  void set_attr(const std::string& name, const std::string& value);
  void set_attr(const std::string& name, double value);
  void set_attr(const std::string& name, const std::vector<std::string>& values);
  void set_attr(const std::string& name, const std::vector<double>& values);
  std::string attr_string(const std::string& name) const;
  double attr_number(const std::string& name) const;
  std::vector<std::string> attr_strings(const std::string& name) const;
  std::vector<double> attr_numbers(const std::string& name) const;

 private:
  [[noreturn]] void fail(const std::string& what) const;
  void check_fits_in_memory(const std::string& key, const Shape& shape, size_t element_size) const;
  std::string path_;
  long long file_ = -1;  // hid_t
};

// Writes all tensors to `path` atomically: to "<path>.tmp" first, closed and fsync'ed, then
// rename(), so an interrupted run (Ctrl-C, kill -9, power loss) never leaves a half-written
// file under `path`. If writing fails (disk full, a file size limit) the temporary file is
// removed and the error says that the previous `path`, if any, is unchanged.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
// `extra` may add attributes or string datasets before the file is closed and renamed.
void save_tensors(const std::string& path, const NamedTensors& tensors,
                  const std::function<void(H5File&)>& extra = {});
// Reads every dataset of a file written by save_tensors (or by h5py), in name order.
NamedTensors load_tensors(const std::string& path);

}  // namespace graft
