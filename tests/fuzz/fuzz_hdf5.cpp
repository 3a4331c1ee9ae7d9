// tests/fuzz/fuzz_hdf5.cpp — graft's HDF5 readers (weights, training checkpoints, features
// files; src/tensor/hdf5_io.cpp, src/models/models.cpp, src/train/checkpoint.cpp,
// src/data/datasets.cpp) on *valid* HDF5 files whose content the input chooses.
//
// Raw bytes would mostly test libhdf5's own parser, which is not graft's and crashes on
// malformed files (docs/reliability.md). Instead the input is a small program that writes a
// well-formed file with the HDF5 library: datasets and root attributes with the names graft
// looks for (or others), any dtype (float32/64, int8..64, strings, a compound), any rank, dims
// from 0 to "huge" (2^40 and up: chunked, never written, so the file stays small), groups
// and dangling links where datasets are expected. Then every reader runs on it:
//   load_tensors, read_weights_info, load_weights (strict and not) into a small spec model,
//   load_checkpoint, load_training_checkpoint (model + SGD + a generator), FeaturesDataset.
// Accepted outcomes: success, or std::runtime_error / std::invalid_argument with a message.
//
// The program, one record after another until the input ends (fuzz::Bytes reads past the end
// as zeros):
//   kind % 5 == 0  dataset:   name, dtype % 9, rank % 6 (5: a null dataspace), dims, values
//   kind % 5 == 1  attribute: name, form % 6, length % 33, values
//   kind % 5 == 2  group:     name
//   kind % 5 == 3  soft link: name -> "/nowhere"
//   kind % 5 == 4  a tensor with its right name, shape and dtype (a model tensor or an SGD
//                  state tensor): index, values
// Names: byte < 200 picks from the tables below (the names graft reads), else a string from
// the input. tests/fuzz/make_corpus.py writes seeds in this form.
#include <hdf5.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/datasets.h"
#include "layers/module.h"
#include "models/models.h"
#include "models/spec.h"
#include "optim/sgd.h"
#include "tensor/hdf5_io.h"
#include "train/checkpoint.h"
#include "fuzz_common.h"

namespace {

const char* kModelSpec = "conv(2,3) bn relu flatten linear(3)";  // on [1,5,5]
const char* kArch = "fuzz";

struct Tables {
  std::vector<std::string> datasets, attributes, strings;
  graft::NamedTensors shaped;  // name and the right shape and dtype (model, optimizer state)
};
Tables tables;

graft::SpecModel make_model() { return graft::build_spec_model(kModelSpec, {1, 5, 5}); }
// One model for every input (building it costs more than the rest): loading overwrites it, a
// failed load leaves it partly loaded, and the next load does not care.
graft::SpecModel& model() {
  static graft::SpecModel m = make_model();
  return m;
}

const double kNumbers[] = {0, 1, 2, 3, 7, -1, 0.5, 1e300, -1e300, 9.3e18, -9.3e18, 2147483648.0,
                           std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity(), 1e-300};

// Dims: small (0..8) mostly; now and then "huge": at least 2^40 elements, so the claimed size
// is either tiny or beyond any memory, never a few GB that a sanitizer would refuse to allocate.
hsize_t dim_from(uint8_t b) {
  // libhdf5 refuses sizes above 2^62 ("unable to get the next power of 2"); two of these
  // make 2^80 elements and more, beyond int64.
  static const hsize_t huge[] = {hsize_t(1) << 40, hsize_t(1) << 48, hsize_t(1) << 56, hsize_t(1) << 62};
  return b < 248 ? b % 9 : huge[b % 4];
}

struct Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  ~Handle() {
    if (id >= 0) close(id);
  }
};

std::string pick(fuzz::Bytes& in, const std::vector<std::string>& table) {
  const uint8_t b = in.u8();
  if (b < 200) return table[b % table.size()];
  std::string s = in.str(24);
  return s.empty() ? "x" : s;
}

double number(fuzz::Bytes& in) {
  const uint8_t b = in.u8();
  if (b < 240) return kNumbers[b % (sizeof kNumbers / sizeof kNumbers[0])];
  uint64_t bits = uint64_t(in.u32()) | uint64_t(in.u32()) << 32;
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

hid_t vlen_str() {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  return t;
}

void write_dataset(hid_t file, fuzz::Bytes& in) {
  const std::string name = pick(in, tables.datasets);
  const int form = in.u8() % 9, rank_b = in.u8() % 6;
  Handle space{-1, H5Sclose};
  std::vector<hsize_t> dims;
  if (rank_b == 5) {
    space.id = H5Screate(H5S_NULL);
  } else {
    for (int i = 0; i < rank_b; ++i) dims.push_back(dim_from(in.u8()));
    space.id = rank_b == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank_b, dims.data(), nullptr);
  }
  if (space.id < 0) return;
  double numel = 1;
  for (hsize_t d : dims) numel *= double(d);
  const bool huge = numel > 4096;
  static const hid_t numeric[] = {H5T_IEEE_F32LE, H5T_IEEE_F64BE, H5T_STD_I64LE, H5T_STD_I32BE,
                                  H5T_STD_U8LE,   H5T_STD_I8LE,   H5T_STD_U64LE};
  Handle type{-1, H5Tclose};
  if (form < 7) type.id = H5Tcopy(numeric[form]);
  else if (form == 7) type.id = (in.u8() & 1) ? vlen_str() : [] { hid_t t = H5Tcopy(H5T_C_S1); H5Tset_size(t, 4); return t; }();
  else {
    type.id = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(type.id, "a", 0, H5T_NATIVE_FLOAT);
    H5Tinsert(type.id, "b", 4, H5T_NATIVE_FLOAT);
  }
  Handle dcpl{H5Pcreate(H5P_DATASET_CREATE), H5Pclose};
  if (huge) {  // chunked with late allocation: the file holds no data for the claimed size
    std::vector<hsize_t> chunk(dims.size(), 1);
    H5Pset_chunk(dcpl.id, int(chunk.size()), chunk.data());
    H5Pset_alloc_time(dcpl.id, H5D_ALLOC_TIME_LATE);
  }
  Handle ds{H5Dcreate2(file, name.c_str(), type.id, space.id, H5P_DEFAULT, dcpl.id, H5P_DEFAULT), H5Dclose};
  if (ds.id < 0 || huge || rank_b == 5) return;
  const size_t n = size_t(numel);
  if (form == 7) {
    std::vector<std::string> values;
    for (size_t i = 0; i < n; ++i) values.push_back(pick(in, tables.strings));
    if (H5Tis_variable_str(type.id) > 0) {
      std::vector<const char*> ptrs;
      for (auto& v : values) ptrs.push_back(v.c_str());
      H5Dwrite(ds.id, type.id, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data());
    } else {
      std::vector<char> buf(n * 4, 0);
      for (size_t i = 0; i < n; ++i) values[i].copy(buf.data() + i * 4, 4);
      H5Dwrite(ds.id, type.id, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
    }
  } else {
    std::vector<double> values(form == 8 ? 2 * n : n);
    for (auto& v : values) v = number(in);
    if (form == 8) {
      std::vector<float> f(values.begin(), values.end());
      H5Dwrite(ds.id, type.id, H5S_ALL, H5S_ALL, H5P_DEFAULT, f.data());
    } else {
      // HDF5 converts doubles to the file type (clipping out-of-range values, NaN to 0 for ints).
      H5Dwrite(ds.id, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    }
  }
}

void write_attribute(hid_t file, fuzz::Bytes& in) {
  const std::string name = pick(in, tables.attributes);
  const int form = in.u8() % 6;
  const hsize_t len = in.u8() % 33;
  if (H5Aexists(file, name.c_str()) > 0) H5Adelete(file, name.c_str());
  const bool scalar = form == 0 || form == 2 || form == 4;
  Handle space{scalar ? H5Screate(H5S_SCALAR) : (len == 0 ? H5Screate(H5S_NULL) : H5Screate_simple(1, &len, nullptr)),
               H5Sclose};
  const size_t n = scalar ? 1 : size_t(len);
  if (form <= 1 || form == 5) {  // numbers: float64 (0, 1) or int32 (5)
    hid_t t = form == 5 ? H5T_STD_I32LE : H5T_IEEE_F64LE;
    Handle a{H5Acreate2(file, name.c_str(), t, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
    std::vector<double> v(n);
    for (auto& x : v) x = number(in);
    if (a.id >= 0 && n) H5Awrite(a.id, H5T_NATIVE_DOUBLE, v.data());
  } else if (form == 2 || form == 3) {  // variable-length strings
    Handle t{vlen_str(), H5Tclose};
    Handle a{H5Acreate2(file, name.c_str(), t.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
    std::vector<std::string> v(n);
    std::vector<const char*> ptrs;
    for (auto& s : v) s = pick(in, tables.strings);
    for (auto& s : v) ptrs.push_back(s.c_str());
    if (a.id >= 0 && n) H5Awrite(a.id, t.id, ptrs.data());
  } else {  // form 4: one fixed-length string (h5py's np.bytes_ attributes)
    const std::string s = pick(in, tables.strings);
    Handle t{H5Tcopy(H5T_C_S1), H5Tclose};
    H5Tset_size(t.id, s.empty() ? 1 : s.size());
    Handle a{H5Acreate2(file, name.c_str(), t.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
    std::string buf = s.empty() ? std::string(1, '\0') : s;
    if (a.id >= 0) H5Awrite(a.id, t.id, buf.data());
  }
}

void write_shaped(hid_t file, fuzz::Bytes& in) {
  const auto& [name, t] = tables.shaped[in.u8() % tables.shaped.size()];
  if (H5Lexists(file, name.c_str(), H5P_DEFAULT) > 0) return;
  std::vector<hsize_t> dims(t.shape().begin(), t.shape().end());
  Handle space{dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(int(dims.size()), dims.data(), nullptr),
               H5Sclose};
  const bool integer = t.dtype() == graft::DType::Int64;
  Handle ds{H5Dcreate2(file, name.c_str(), integer ? H5T_STD_I64LE : H5T_IEEE_F32LE, space.id, H5P_DEFAULT,
                       H5P_DEFAULT, H5P_DEFAULT),
            H5Dclose};
  std::vector<double> v(size_t(t.numel()));
  for (auto& x : v) x = in.u8() < 250 ? (in.u8() - 128) / 64.0 : number(in);
  if (ds.id >= 0) H5Dwrite(ds.id, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
}

std::string build_file(const uint8_t* data, size_t size) {
  const std::string path = (fuzz::scratch_dir() / "fuzz.h5").string();
  Handle file{H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose};
  if (file.id < 0) fuzz::fail("cannot create " + path);
  fuzz::Bytes in{data, size};
  for (int records = 0; !in.empty() && records < 64; ++records) {
    switch (in.u8() % 5) {
      case 0: write_dataset(file.id, in); break;
      case 1: write_attribute(file.id, in); break;
      case 2: {
        const std::string name = pick(in, tables.datasets);
        Handle g{H5Gcreate2(file.id, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose};
        break;
      }
      case 3: H5Lcreate_soft("/nowhere", file.id, pick(in, tables.datasets).c_str(), H5P_DEFAULT, H5P_DEFAULT); break;
      default: write_shaped(file.id, in); break;
    }
  }
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // the builder's own failed calls are expected
  graft::SpecModel m = make_model();
  const graft::NamedTensors state = m.model->state_dict();
  const std::vector<graft::Tensor> params = m.model->parameters();
  tables.shaped = state;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string key = "optim.state.0." + std::to_string(i) + ".";
    tables.shaped.emplace_back(key + "momentum_buffer", graft::Tensor::zeros(params[i].shape()));
    tables.shaped.emplace_back(key + "step", graft::Tensor::zeros({}, graft::DType::Int64));
  }
  tables.shaped.emplace_back("optim.param_groups.0.lr", graft::Tensor::zeros({}));
  tables.shaped.emplace_back("optim.param_groups.0.weight_decay", graft::Tensor::zeros({}));
  for (const auto& [k, t] : tables.shaped) tables.datasets.push_back(k);
  for (const char* k : {"features", "labels", "files", "optim.state.9.0.momentum_buffer", "optim.state.x.momentum_buffer",
                        "optim.state.0.0.velocity", "model.0.weight", "main.0.weight", "main.4.bias", "a/b", ".", "optim."})
    tables.datasets.push_back(k);
  tables.attributes = {"graft_checkpoint", "run",       "architecture",  "epoch",       "best_valid_loss",
                       "epochs_since_best", "best_epoch", "settings",     "rng_names",   "rng.default",
                       "history",         "partial_epoch", "keys",        "class_names", "num_classes",
                       "preprocess",      "mean",        "std",           "source"};
  graft::Generator gen(7);
  tables.strings = {kArch, "other", "resnet18", graft::generator_state(gen), "default", "", "features", "labels",
                    "1 2 3", "resize=8,normalize=imagenet"};
  for (const auto& [k, t] : state) tables.strings.push_back(k);
  if (std::getenv("FUZZ_PRINT_TABLES")) {  // what tests/fuzz/make_corpus.py mirrors
    for (const auto& [k, t] : tables.shaped) std::printf("shaped %s %s\n", k.c_str(), graft::shape_str(t.shape()).c_str());
    for (const auto& k : tables.datasets) std::printf("dataset %s\n", k.c_str());
    for (const auto& k : tables.attributes) std::printf("attribute %s\n", k.c_str());
    for (const auto& k : tables.strings) std::printf("string %.40s\n", k.c_str());
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = build_file(data, size);
  auto run = [](auto&& f) { fuzz::expect_only<std::runtime_error, std::invalid_argument>(f); };
  run([&] { graft::load_tensors(path); });
  run([&] { graft::read_weights_info(path); });
  run([&] { graft::load_weights(*model().model, path, /*strict=*/true); });
  run([&] { graft::load_weights(*model().model, path, /*strict=*/false); });
  run([&] { graft::load_checkpoint(path); });
  run([&] {
    graft::SpecModel& m = model();
    graft::SGD sgd(m.model->parameters(), 0.1f, 0.9f);
    graft::Generator gen;
    graft::load_training_checkpoint(path, kArch, *m.model, &sgd, {{"default", &gen}});
  });
  run([&] {
    graft::FeaturesDataset ds(path);
    for (int64_t i = 0; i < ds.size() && i < 64; ++i) {
      const graft::Sample s = ds.get(i);
      if (s.label < 0 || s.label >= int64_t(ds.class_names().size())) fuzz::fail("label outside the class list");
    }
  });
  // HDF5 keeps freed blocks on its own free lists: hand them back, so that an input frees what
  // it allocated (libFuzzer runs LeakSanitizer after any input whose mallocs outnumber its frees).
  H5garbage_collect();
  return 0;
}
