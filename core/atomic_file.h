// Crash-safe file output: write to a temporary name, fsync, rename over the target, fsync the directory.
#pragma once
#include <functional>
#include <string>

namespace scorch {

void write_file_atomic(const std::string& path, const std::string& bytes);
// For writers that need a path (HDF5, safetensors): `write(tmp_path)` fills the temporary file,
// which is then fsynced and renamed to `path`. On an exception the temporary file is removed.
void write_path_atomic(const std::string& path, const std::function<void(const std::string& tmp_path)>& write);
void fsync_path(const std::string& path);
std::string read_file(const std::string& path);
// Removes the temporary files that writes killed mid-way left in `dir` (".NAME.tmp-PID"; not recursive).
// Only for a directory no other process is writing into at the time.
void remove_atomic_leftovers(const std::string& dir);

}  // namespace scorch
