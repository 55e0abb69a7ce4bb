// The dataset directory format: manifest.json + shard-00000.h5 … (see docs/data.md).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace scorch::data {

inline constexpr const char* kFormatName = "scorch-dataset";
inline constexpr int kFormatVersion = 1;
inline constexpr const char* kManifestName = "manifest.json";

struct ShardEntry {
  std::string file;  // relative to the dataset directory
  int64_t count = 0;
  std::string sha256;
};

// What one item is: "images" uint8 [H, W, C] items, or "points" float32 [D] items (synthetic mixtures).
struct Manifest {
  std::string kind = "images";
  std::vector<int64_t> shape;  // per item: {H, W, C} or {D}
  std::string dtype = "uint8";
  int64_t count = 0;
  bool has_labels = false;
  std::vector<ShardEntry> shards;
  nlohmann::json source = nlohmann::json::object();  // what was packed, e.g. {"type": "idx", "files": [...]}
  std::string command;                               // the command line that made it
  nlohmann::json extra = nlohmann::json::object();   // e.g. mixture parameters, class names

  std::string dataset_name() const { return kind; }  // HDF5 dataset path without '/'
  int64_t item_bytes() const;
  int64_t item_elements() const;
};

std::string shard_file_name(int64_t index);
nlohmann::json to_json(const Manifest& m);
// `what` names the source (the manifest path) in error messages.
Manifest manifest_from_json(const nlohmann::json& j, const std::string& what);
Manifest read_manifest(const std::string& dir);
void write_manifest(const std::string& dir, const Manifest& m);

}  // namespace scorch::data
