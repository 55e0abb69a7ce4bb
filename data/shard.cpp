// HDF5 shard io with the C API. Writing: contiguous layout, obj_track_times off. Reading: item i of a
// contiguous dataset sits at offset + i * item_bytes, so reads are plain pread calls without the HDF5 lock.
// Why not one chunk per image: HDF5 1.10 has no cheap way to list chunk addresses
// (H5Dget_chunk_info_by_coord scans every chunk: ~3 ms per call at 60,000 chunks, minutes per shard at
// open), and every chunked read through HDF5 must hold the global lock. A contiguous dataset reads one
// image with a hyperslab just as cheaply in h5py.
#include "data/shard.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/atomic_file.h"
#include "core/error.h"

namespace scorch::data {

namespace {

// Closes an HDF5 handle with the matching close function when leaving scope.
struct H5Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  // Closes now and says whether that worked: closing a file flushes its metadata, the write that fails on a
  // full disk or at the file-size limit.
  bool close_now() {
    const bool ok = id < 0 || close(id) >= 0;
    id = -1;
    return ok;
  }
  ~H5Handle() { close_now(); }
};

// Runs before the first other HDF5 call of the process (every entry point below starts with it).
void init_hdf5() {
  static std::once_flag once;
  std::call_once(once, [] {
    // After a failed H5Fclose (a full disk) the file stays in HDF5's table half torn down, and the library's
    // own exit handler then crashes closing it again; scorch has reported the error by then, so the
    // handler is not installed.
    H5dont_atexit();
  });
  // HDF5 prints its error stack to stderr by default; scorch reports its own message instead. A thread-safe
  // HDF5 (Debian's) keeps this setting per thread, so each thread (the loader's readers) turns it off itself.
  [[maybe_unused]] thread_local const bool quiet = H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) >= 0;
}

hid_t mem_type(const Manifest& m) { return m.dtype == "float32" ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8; }
hid_t file_type(const Manifest& m) { return m.dtype == "float32" ? H5T_IEEE_F32LE : H5T_STD_U8LE; }

void put_attr(hid_t obj, const char* name, hid_t type, const void* value, hsize_t n) {
  H5Handle space{H5Screate_simple(1, &n, nullptr), H5Sclose};
  H5Handle attr{
      H5Acreate2(obj, name, type == H5T_NATIVE_INT64 ? H5T_STD_I64LE : type, space.id, H5P_DEFAULT, H5P_DEFAULT),
      H5Aclose};
  SCORCH_CHECK(attr.id >= 0 && H5Awrite(attr.id, type, value) >= 0, "cannot write HDF5 attribute '{}'", name);
}

void put_string_attr(hid_t obj, const char* name, const std::string& value) {
  H5Handle type{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_size(type.id, value.size());
  H5Handle space{H5Screate(H5S_SCALAR), H5Sclose};
  H5Handle attr{H5Acreate2(obj, name, type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  SCORCH_CHECK(attr.id >= 0 && H5Awrite(attr.id, type.id, value.data()) >= 0, "cannot write HDF5 attribute '{}'", name);
}

}  // namespace

std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

void write_shard(const std::string& path, const Manifest& layout, const void* items, int64_t count,
                 const int64_t* labels) {
  SCORCH_CHECK(count > 0, "write_shard '{}': no items", path);
  write_path_atomic(path, [&](const std::string& tmp) {
    std::lock_guard<std::mutex> lock(hdf5_mutex());
    init_hdf5();
    H5Handle fcpl{H5Pcreate(H5P_FILE_CREATE), H5Pclose};
    H5Pset_obj_track_times(fcpl.id, false);  // the root group carries no time stamps either
    H5Handle file{H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, fcpl.id, H5P_DEFAULT), H5Fclose};
    SCORCH_CHECK(file.id >= 0, "cannot create HDF5 file '{}': {} (disk full? no write permission?)", tmp,
                 std::strerror(errno));

    std::vector<hsize_t> dims{static_cast<hsize_t>(count)};
    for (auto d : layout.shape) dims.push_back(d);
    H5Handle space{H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose};
    H5Handle dcpl{H5Pcreate(H5P_DATASET_CREATE), H5Pclose};
    H5Pset_obj_track_times(dcpl.id, false);
    H5Pset_layout(dcpl.id, H5D_CONTIGUOUS);
    H5Handle dset{H5Dcreate2(file.id, ("/" + layout.kind).c_str(), file_type(layout), space.id, H5P_DEFAULT, dcpl.id,
                             H5P_DEFAULT),
                  H5Dclose};
    SCORCH_CHECK(dset.id >= 0 && H5Dwrite(dset.id, mem_type(layout), H5S_ALL, H5S_ALL, H5P_DEFAULT, items) >= 0,
                 "cannot write /{} to '{}'", layout.kind, tmp);
    // Attributes in a fixed order: format, version, kind, shape, count.
    put_string_attr(dset.id, "format", kFormatName);
    const int64_t version = kFormatVersion;
    put_attr(dset.id, "version", H5T_NATIVE_INT64, &version, 1);
    put_string_attr(dset.id, "kind", layout.kind);
    put_attr(dset.id, "shape", H5T_NATIVE_INT64, layout.shape.data(), layout.shape.size());
    put_attr(dset.id, "count", H5T_NATIVE_INT64, &count, 1);

    if (labels != nullptr) {
      hsize_t n = count;
      H5Handle lspace{H5Screate_simple(1, &n, nullptr), H5Sclose};
      H5Handle lcpl{H5Pcreate(H5P_DATASET_CREATE), H5Pclose};
      H5Pset_obj_track_times(lcpl.id, false);
      H5Handle lset{H5Dcreate2(file.id, "/labels", H5T_STD_I64LE, lspace.id, H5P_DEFAULT, lcpl.id, H5P_DEFAULT),
                    H5Dclose};
      SCORCH_CHECK(lset.id >= 0 && H5Dwrite(lset.id, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels) >= 0,
                   "cannot write /labels to '{}'", tmp);
    }
    SCORCH_CHECK(dset.close_now() && file.close_now(), "writing '{}' failed when closing it (disk full?)", tmp);
  });
}

ShardReader::ShardReader(const std::string& path, const Manifest& layout, int64_t expected_count)
    : path_(path), item_bytes_(layout.item_bytes()) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  init_hdf5();
  struct stat st {};
  SCORCH_CHECK_HINT(::stat(path.c_str(), &st) == 0, "run `scorch data verify` on the dataset directory",
                    "shard '{}' is missing", path);
  SCORCH_CHECK(H5Fis_hdf5(path.c_str()) > 0, "shard '{}' is not an HDF5 file (corrupted or truncated?)", path);
  file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  SCORCH_CHECK(file_ >= 0, "cannot open shard '{}' with HDF5 (corrupted or truncated?)", path);
  const std::string name = "/" + layout.kind;
  SCORCH_CHECK(H5Lexists(file_, name.c_str(), H5P_DEFAULT) > 0, "shard '{}' has no dataset {}", path, name);
  dset_ = H5Dopen2(file_, name.c_str(), H5P_DEFAULT);
  SCORCH_CHECK(dset_ >= 0, "cannot open {} in shard '{}'", name, path);

  H5Handle type{H5Dget_type(dset_), H5Tclose};
  const bool is_u8 =
      H5Tget_class(type.id) == H5T_INTEGER && H5Tget_size(type.id) == 1 && H5Tget_sign(type.id) == H5T_SGN_NONE;
  const bool is_f32 = H5Tget_class(type.id) == H5T_FLOAT && H5Tget_size(type.id) == 4;
  SCORCH_CHECK(layout.dtype == "float32" ? is_f32 : is_u8, "shard '{}': {} has the wrong dtype (expected {})", path,
               name, layout.dtype);
  H5Handle space{H5Dget_space(dset_), H5Sclose};
  const int rank = H5Sget_simple_extent_ndims(space.id);
  SCORCH_CHECK(rank == static_cast<int>(layout.shape.size()) + 1, "shard '{}': {} has rank {}, expected {}", path, name,
               rank, layout.shape.size() + 1);
  dims_.resize(rank);
  H5Sget_simple_extent_dims(space.id, dims_.data(), nullptr);
  for (size_t i = 0; i < layout.shape.size(); ++i)
    SCORCH_CHECK(static_cast<int64_t>(dims_[i + 1]) == layout.shape[i],
                 "shard '{}': {} item dimension {} is {}, manifest says {}", path, name, i, dims_[i + 1],
                 layout.shape[i]);
  count_ = static_cast<int64_t>(dims_[0]);
  SCORCH_CHECK(count_ == expected_count, "shard '{}' holds {} items but the manifest says {}", path, count_,
               expected_count);

  if (layout.has_labels) {
    SCORCH_CHECK(H5Lexists(file_, "/labels", H5P_DEFAULT) > 0, "shard '{}' has no /labels but the manifest says it has",
                 path);
    H5Handle lset{H5Dopen2(file_, "/labels", H5P_DEFAULT), H5Dclose};
    H5Handle lspace{H5Dget_space(lset.id), H5Sclose};
    hsize_t n = 0;
    SCORCH_CHECK(H5Sget_simple_extent_ndims(lspace.id) == 1 && H5Sget_simple_extent_dims(lspace.id, &n, nullptr) == 1 &&
                     static_cast<int64_t>(n) == count_,
                 "shard '{}': /labels must be [{}]", path, count_);
    labels_.resize(count_);
    SCORCH_CHECK(H5Dread(lset.id, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels_.data()) >= 0,
                 "cannot read /labels of shard '{}' (corrupted or truncated?)", path);
  }

  // Direct path: a contiguous dataset; chunked ones (e.g. written by h5py) are read through HDF5.
  H5Handle dcpl{H5Dget_create_plist(dset_), H5Pclose};
  const H5D_layout_t kind = H5Pget_layout(dcpl.id);
  std::vector<int64_t> offsets;
  if (kind == H5D_CONTIGUOUS) {
    const haddr_t base = H5Dget_offset(dset_);
    SCORCH_CHECK(base != HADDR_UNDEF, "shard '{}': {} has no data written", path, name);
    for (int64_t i = 0; i < count_; ++i) offsets.push_back(static_cast<int64_t>(base) + i * item_bytes_);
  }
  if (!offsets.empty()) {
    int64_t end = 0;
    for (auto o : offsets) end = std::max(end, o + item_bytes_);
    SCORCH_CHECK(end <= static_cast<int64_t>(st.st_size), "shard '{}' is truncated: {} bytes, items reach byte {}",
                 path, st.st_size, end);
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    SCORCH_CHECK(fd_ >= 0, "cannot open shard '{}': {}", path, std::strerror(errno));
    offsets_ = std::move(offsets);
  }
}

ShardReader::~ShardReader() {
  if (fd_ >= 0) ::close(fd_);
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (dset_ >= 0) H5Dclose(dset_);
  if (file_ >= 0) H5Fclose(file_);
}

void ShardReader::read(int64_t index, void* dst) const {
  SCORCH_CHECK(index >= 0 && index < count_, "shard '{}': item {} out of range [0, {})", path_, index, count_);
  if (!offsets_.empty()) {
    auto* out = static_cast<char*>(dst);
    int64_t done = 0;
    while (done < item_bytes_) {
      const ssize_t n = ::pread(fd_, out + done, item_bytes_ - done, offsets_[index] + done);
      SCORCH_CHECK(n > 0, "shard '{}': read of item {} failed ({})", path_, index,
                   n == 0 ? "end of file" : std::strerror(errno));
      done += n;
    }
    return;
  }
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  std::vector<hsize_t> start(dims_.size(), 0), extent(dims_);
  start[0] = index, extent[0] = 1;
  H5Handle fspace{H5Dget_space(dset_), H5Sclose};
  H5Sselect_hyperslab(fspace.id, H5S_SELECT_SET, start.data(), nullptr, extent.data(), nullptr);
  H5Handle mspace{H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr), H5Sclose};
  H5Handle ftype{H5Dget_type(dset_), H5Tclose};
  const hid_t type = H5Tget_class(ftype.id) == H5T_FLOAT ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8;
  SCORCH_CHECK(H5Dread(dset_, type, mspace.id, fspace.id, H5P_DEFAULT, dst) >= 0,
               "shard '{}': cannot read item {} (corrupted or truncated?)", path_, index);
}

}  // namespace scorch::data
