// Integers from JSON that came out of a file (manifests, checkpoint metadata, safetensors headers, plans).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

namespace scorch {

// Why not nlohmann's get<int64_t>(): it converts a float (3.5, 1e300) or an unsigned number above INT64_MAX by
// a plain cast, which truncates, wraps, or is undefined, so a forged or damaged file could pass a wrong size or
// count on. These take an integer within the type's range and nothing else; `what` names the value in the
// error ("data/manifest.json: shape").
int64_t json_int64(const nlohmann::json& v, std::string_view what);
uint64_t json_uint64(const nlohmann::json& v, std::string_view what);
std::vector<int64_t> json_int64_list(const nlohmann::json& v, std::string_view what);
std::vector<uint64_t> json_uint64_list(const nlohmann::json& v, std::string_view what);

}  // namespace scorch
