// src/tensor/hdf5_io.cpp — HDF5 C API behind H5File (see hdf5_io.h).
#include "tensor/hdf5_io.h"

#include <hdf5.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "tensor/check.h"

namespace graft {

namespace {

// HDF5 prints its own error stack to stderr by default; graft reports errors itself.
// H5dont_atexit (before anything starts the library): no clean-up at exit. After a close that
// failed (a full disk) HDF5 1.10 keeps the half-closed file in its tables and its exit handler
// crashes on it (SIGSEGV after graft's message). Every file graft opens is closed by H5File's
// destructor, so the clean-up has nothing to flush.
struct SilenceHdf5 {
  SilenceHdf5() {
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
};
const SilenceHdf5 silence_hdf5;

// Closes an HDF5 handle at the end of a scope.
struct Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  ~Handle() {
    if (id >= 0) close(id);
  }
};

}  // namespace

#define H5_CHECK(expr, what) \
  do {                       \
    if ((expr) < 0) fail(what); \
  } while (0)

void H5File::fail(const std::string& what) const {
  GRAFT_FAIL_DATA("", "HDF5 file '", path_, "': ", what);
}

H5File::H5File(const std::string& path, Mode mode) : path_(path) {
  if (mode == Mode::Truncate) {
    file_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file_ < 0) fail("cannot create the file (does the folder exist and is it writable?)");
    return;
  }
  GRAFT_CHECK_DATA(std::filesystem::exists(path), "", "HDF5 file '", path, "' does not exist");
  file_ = H5Fopen(path.c_str(), mode == Mode::Read ? H5F_ACC_RDONLY : H5F_ACC_RDWR, H5P_DEFAULT);
  if (file_ < 0) fail("cannot open it as HDF5 (is it truncated, or not an HDF5 file?)");
}

H5File::~H5File() {
  if (file_ >= 0) H5Fclose(file_);
}

void H5File::close() {
  if (file_ < 0) return;
  const herr_t r = H5Fclose(file_);
  file_ = -1;
  if (r < 0) fail("cannot finish writing the file (disk full, or a file size limit?)");
}

bool H5File::contains(const std::string& key) const {
  return H5Lexists(file_, key.c_str(), H5P_DEFAULT) > 0;
}

std::vector<std::string> H5File::keys() const {
  std::vector<std::string> out;
  H5Literate(
      file_, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->push_back(name);
        return 0;
      },
      &out);
  return out;
}

Shape H5File::shape_of(const std::string& key) const {
  if (!contains(key)) fail("no dataset named '" + key + "'");
  Handle ds{H5Dopen2(file_, key.c_str(), H5P_DEFAULT), H5Dclose};
  if (ds.id < 0) fail("'" + key + "' is not a dataset");
  Handle space{H5Dget_space(ds.id), H5Sclose};
  int rank = H5Sget_simple_extent_ndims(space.id);
  if (rank < 0) fail("cannot read the shape of '" + key + "'");
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space.id, dims.data(), nullptr);
  // A graft Shape is int64: sizes (and their product, the element count) must fit in it.
  std::string claimed;
  for (size_t i = 0; i < dims.size(); ++i) claimed += (i ? ", " : "[") + std::to_string(dims[i]);
  claimed += "]";
  int64_t numel = 1;
  for (hsize_t d : dims)
    if (d > hsize_t(INT64_MAX) || __builtin_mul_overflow(numel, int64_t(d), &numel))
      fail("dataset '" + key + "' claims the shape " + claimed + ", more elements than any tensor can have; the file "
           "is corrupt");
  return Shape(dims.begin(), dims.end());
}

// Before allocating a dataset's tensor: a corrupt (or hostile) file can claim any shape while
// holding no data (a chunked dataset never written reads as fill values), and a shape beyond
// the machine's memory must be an error naming the key, not std::bad_alloc or the OOM killer.
void H5File::check_fits_in_memory(const std::string& key, const Shape& shape, size_t element_size) const {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  const double memory = pages > 0 && page > 0 ? double(pages) * double(page) : 0;
  const double bytes = double(shape_numel(shape)) * double(element_size);
  if (memory > 0 && bytes > memory) {
    char sizes[96];
    std::snprintf(sizes, sizeof sizes, "%.4g GB in memory), more than this machine's %.3g GB", bytes / 1e9, memory / 1e9);
    fail("dataset '" + key + "' has the shape " + shape_str(shape) + " (" + sizes +
         "; the file is corrupt or was not made for graft");
  }
}

Tensor H5File::read(const std::string& key) const {
  Shape shape = shape_of(key);
  Handle ds{H5Dopen2(file_, key.c_str(), H5P_DEFAULT), H5Dclose};
  Handle type{H5Dget_type(ds.id), H5Tclose};
  H5T_class_t cls = H5Tget_class(type.id);
  if (cls == H5T_FLOAT || cls == H5T_INTEGER) check_fits_in_memory(key, shape, cls == H5T_FLOAT ? 4 : 8);
  if (cls == H5T_FLOAT) {
    Tensor t = Tensor::empty(shape, DType::Float32);
    H5_CHECK(H5Dread(ds.id, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data()),
             "cannot read dataset '" + key + "'");
    return t;
  }
  if (cls == H5T_INTEGER) {
    Tensor t = Tensor::empty(shape, DType::Int64);
    H5_CHECK(H5Dread(ds.id, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr<int64_t>()),
             "cannot read dataset '" + key + "'");
    return t;
  }
  fail("dataset '" + key + "' is neither float nor integer");
}

void H5File::write(const std::string& key, const Tensor& tensor) {
  Tensor t = tensor.to(Device::CPU);
  if (contains(key)) H5_CHECK(H5Ldelete(file_, key.c_str(), H5P_DEFAULT), "cannot replace '" + key + "'");
  std::vector<hsize_t> dims(t.shape().begin(), t.shape().end());
  Handle space{H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose};
  bool is_float = t.dtype() == DType::Float32;
  hid_t file_type = is_float ? H5T_IEEE_F32LE : H5T_STD_I64LE;
  Handle ds{H5Dcreate2(file_, key.c_str(), file_type, space.id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            H5Dclose};
  if (ds.id < 0) fail("cannot create dataset '" + key + "'");
  const void* src = is_float ? static_cast<const void*>(t.data()) : static_cast<const void*>(t.data_ptr<int64_t>());
  H5_CHECK(H5Dwrite(ds.id, is_float ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, src),
           "cannot write dataset '" + key + "' (disk full?)");
}

namespace {
hid_t vlen_string_type() {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

// Reads strings from a dataset or an attribute, fixed-length or variable-length, ASCII or UTF-8
// (h5py writes all four, depending on how the user made them: str, bytes, np.bytes_). The
// memory type takes the stored character set: HDF5 converts between lengths but not between
// ASCII and UTF-8. Returns false when HDF5 cannot read them.
template <class ReadFn>
bool read_string_array(hid_t stored_type, size_t n, ReadFn read_fn, std::vector<std::string>& out) {
  out.clear();
  const H5T_cset_t cset = H5Tget_cset(stored_type);
  if (H5Tis_variable_str(stored_type) > 0) {
    std::vector<char*> ptrs(n, nullptr);
    Handle mem{vlen_string_type(), H5Tclose};
    if (cset >= 0) H5Tset_cset(mem.id, cset);
    if (read_fn(mem.id, ptrs.data()) < 0) return false;
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    Handle space{H5Screate_simple(1, std::vector<hsize_t>{n}.data(), nullptr), H5Sclose};
    H5Dvlen_reclaim(mem.id, space.id, H5P_DEFAULT, ptrs.data());
  } else {
    size_t len = H5Tget_size(stored_type);
    std::vector<char> buf(n * len);
    Handle mem{H5Tcopy(H5T_C_S1), H5Tclose};
    H5Tset_size(mem.id, len);
    if (cset >= 0) H5Tset_cset(mem.id, cset);
    if (read_fn(mem.id, buf.data()) < 0) return false;
    for (size_t i = 0; i < n; ++i) {
      std::string s(buf.data() + i * len, len);
      out.push_back(s.substr(0, s.find('\0')));
    }
  }
  return true;
}
}  // namespace

void H5File::write_strings(const std::string& key, const std::vector<std::string>& values) {
  if (contains(key)) H5_CHECK(H5Ldelete(file_, key.c_str(), H5P_DEFAULT), "cannot replace '" + key + "'");
  hsize_t n = values.size();
  Handle space{H5Screate_simple(1, &n, nullptr), H5Sclose};
  Handle type{vlen_string_type(), H5Tclose};
  Handle ds{H5Dcreate2(file_, key.c_str(), type.id, space.id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose};
  if (ds.id < 0) fail("cannot create dataset '" + key + "'");
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  H5_CHECK(H5Dwrite(ds.id, type.id, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()),
           "cannot write dataset '" + key + "'");
}

std::vector<std::string> H5File::read_strings(const std::string& key) const {
  Shape shape = shape_of(key);
  Handle ds{H5Dopen2(file_, key.c_str(), H5P_DEFAULT), H5Dclose};
  Handle type{H5Dget_type(ds.id), H5Tclose};
  if (H5Tget_class(type.id) != H5T_STRING) fail("dataset '" + key + "' does not hold strings");
  check_fits_in_memory(key, shape, std::max<size_t>(H5Tget_size(type.id), sizeof(char*)));
  size_t n = static_cast<size_t>(shape_numel(shape));
  std::vector<std::string> out;
  auto read = [&](hid_t mem, void* buf) { return H5Dread(ds.id, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf); };
  if (!read_string_array(type.id, n, read, out))
    fail("cannot read the strings of dataset '" + key + "'");
  return out;
}

bool H5File::has_attr(const std::string& name) const { return H5Aexists(file_, name.c_str()) > 0; }

void H5File::set_attr(const std::string& name, const std::vector<std::string>& values) {
  if (has_attr(name)) H5Adelete(file_, name.c_str());
  hsize_t n = values.size();
  Handle space{H5Screate_simple(1, &n, nullptr), H5Sclose};
  Handle type{vlen_string_type(), H5Tclose};
  Handle attr{H5Acreate2(file_, name.c_str(), type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  if (attr.id < 0) fail("cannot create attribute '" + name + "'");
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  H5_CHECK(H5Awrite(attr.id, type.id, ptrs.data()), "cannot write attribute '" + name + "'");
}

void H5File::set_attr(const std::string& name, const std::string& value) {
  if (has_attr(name)) H5Adelete(file_, name.c_str());
  Handle space{H5Screate(H5S_SCALAR), H5Sclose};
  Handle type{vlen_string_type(), H5Tclose};
  Handle attr{H5Acreate2(file_, name.c_str(), type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  if (attr.id < 0) fail("cannot create attribute '" + name + "'");
  const char* p = value.c_str();
  H5_CHECK(H5Awrite(attr.id, type.id, &p), "cannot write attribute '" + name + "'");
}

void H5File::set_attr(const std::string& name, const std::vector<double>& values) {
  if (has_attr(name)) H5Adelete(file_, name.c_str());
  hsize_t n = values.size();
  Handle space{H5Screate_simple(1, &n, nullptr), H5Sclose};
  Handle attr{H5Acreate2(file_, name.c_str(), H5T_IEEE_F64LE, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  if (attr.id < 0) fail("cannot create attribute '" + name + "'");
  H5_CHECK(H5Awrite(attr.id, H5T_NATIVE_DOUBLE, values.data()), "cannot write attribute '" + name + "'");
}

void H5File::set_attr(const std::string& name, double value) {
  if (has_attr(name)) H5Adelete(file_, name.c_str());
  Handle space{H5Screate(H5S_SCALAR), H5Sclose};
  Handle attr{H5Acreate2(file_, name.c_str(), H5T_IEEE_F64LE, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  if (attr.id < 0) fail("cannot create attribute '" + name + "'");
  H5_CHECK(H5Awrite(attr.id, H5T_NATIVE_DOUBLE, &value), "cannot write attribute '" + name + "'");
}

std::vector<std::string> H5File::attr_strings(const std::string& name) const {
  if (!has_attr(name)) fail("no attribute named '" + name + "'");
  Handle attr{H5Aopen(file_, name.c_str(), H5P_DEFAULT), H5Aclose};
  Handle type{H5Aget_type(attr.id), H5Tclose};
  if (H5Tget_class(type.id) != H5T_STRING) fail("attribute '" + name + "' does not hold strings");
  Handle space{H5Aget_space(attr.id), H5Sclose};
  const hssize_t points = H5Sget_simple_extent_npoints(space.id);
  if (points < 0) fail("cannot read the size of attribute '" + name + "'");
  std::vector<std::string> out;
  if (!read_string_array(type.id, size_t(points), [&](hid_t mem, void* buf) { return H5Aread(attr.id, mem, buf); }, out))
    fail("cannot read the strings of attribute '" + name + "'");
  return out;
}

std::string H5File::attr_string(const std::string& name) const {
  auto v = attr_strings(name);
  if (v.size() != 1) fail("attribute '" + name + "' is a list, expected one string");
  return v[0];
}

std::vector<double> H5File::attr_numbers(const std::string& name) const {
  if (!has_attr(name)) fail("no attribute named '" + name + "'");
  Handle attr{H5Aopen(file_, name.c_str(), H5P_DEFAULT), H5Aclose};
  Handle space{H5Aget_space(attr.id), H5Sclose};
  const hssize_t points = H5Sget_simple_extent_npoints(space.id);
  if (points < 0) fail("cannot read the size of attribute '" + name + "'");
  std::vector<double> out(static_cast<size_t>(points));
  H5_CHECK(H5Aread(attr.id, H5T_NATIVE_DOUBLE, out.data()), "attribute '" + name + "' is not numeric");
  return out;
}

double H5File::attr_number(const std::string& name) const {
  auto v = attr_numbers(name);
  if (v.size() != 1) fail("attribute '" + name + "' is a list, expected one number");
  return v[0];
}

void save_tensors(const std::string& path, const NamedTensors& tensors,
                  const std::function<void(H5File&)>& extra) {
  std::string tmp = path + ".tmp";
  try {
    {
      H5File f(tmp, H5File::Mode::Truncate);
      for (const auto& [name, t] : tensors) f.write(name, t);
      if (extra) extra(f);
      f.close();
    }
    // On disk before the rename, so that after a crash the name holds the old or the new file.
    const int fd = ::open(tmp.c_str(), O_RDONLY);
    const bool synced = fd >= 0 && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    GRAFT_CHECK_DATA(synced, "", "cannot fsync '", tmp, "': ", std::strerror(errno));
  } catch (const std::exception& e) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    const bool old = std::filesystem::exists(path, ignored);
    GRAFT_FAIL_DATA("", "could not save '", path, "' (", e.what(), "); ",
                    old ? "the previous '" + path + "' is unchanged" : std::string("no file was written"),
                    ". Free disk space (or raise the file size limit) and try again");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  GRAFT_CHECK_DATA(!ec, "", "cannot rename '", tmp, "' to '", path, "': ", ec.message());
}

NamedTensors load_tensors(const std::string& path) {
  H5File f(path, H5File::Mode::Read);
  NamedTensors out;
  for (const auto& k : f.keys()) out.emplace_back(k, f.read(k));
  return out;
}

}  // namespace graft
