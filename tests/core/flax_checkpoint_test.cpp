// score_sde's Flax classifier checkpoints: the msgpack reader, the mapping onto scorch's network against the
// outputs of score_sde's own Flax module (tests/fixtures/flax, make_fixture.py), and refusals naming the key.
#include "core/io/flax_checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "core/io/npz.h"
#include "core/models/model_weights.h"
#include "core/models/score_model.h"
#include "support/checks.h"
#include "support/run.h"

namespace scorch {
namespace {

using json = nlohmann::json;

std::string flax_fixture(const std::string& file) { return test::source_dir() + "/tests/fixtures/flax/" + file; }

Config small_config(const std::vector<std::string>& sets = {}) {
  return Config::resolve(flax_fixture("wrn_small.yaml"), sets);
}

// An ndarray leaf as flax.serialization writes it: msgpack ext 1 holding msgpack [shape, dtype, bytes].
json flax_array(const std::vector<int64_t>& shape, const std::string& dtype, size_t bytes, uint64_t ext = 1,
                uint8_t fill = 0) {
  const auto payload = json::to_msgpack(json::array({shape, dtype, json::binary(std::vector<uint8_t>(bytes, fill))}));
  return json::binary(payload, ext);
}

std::string write_msgpack(const std::string& dir, const std::string& name, const json& tree) {
  const auto path = dir + "/" + name;
  const auto bytes = json::to_msgpack(tree);
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
  return path;
}

// The fixture was made by score_sde's WideResnet in Flax (jax 0.10, CPU, float32) from perturbed weights.
// scorch computes the same float32 arithmetic through other kernels (oneDNN convolutions against XLA's, other
// reduction orders in GroupNorm and the per-image standardisation), a few ulps per layer over 14 layers;
// 1e-5 of the output scale leaves room for that and nothing else: a transposed kernel, a swapped GroupNorm
// scale or a padding on the wrong side moves the logits by more than 1e-2.
TEST(FlaxCheckpoint, ImportedClassifierGivesFlaxsLogitsAndGradient) {
  const auto path = flax_fixture("checkpoint_7");
  ASSERT_TRUE(io::looks_like_flax_msgpack(path));
  const auto config = small_config();
  torch::NoGradGuard no_grad;
  const auto ck = io::from_flax_params(io::read_flax_msgpack(path), config, path);
  EXPECT_EQ(ck.step, 7);
  EXPECT_EQ(ck.source.at("params_under"), "the top level");
  auto model = models::make_model(config);
  models::load_reference_weights(*model, ck.tensors.model, path);
  model->eval();

  const auto arrays = io::npz::read_npz(flax_fixture("wrn_small.npz"));
  const auto x = arrays.at("input/x"), sigma = arrays.at("input/sigma"), labels = arrays.at("input/labels");
  {
    torch::AutoGradMode grad(true);
    const auto xg = x.clone().requires_grad_(true);  // (B, 3, 16, 16)
    const auto logits = model->forward(xg, sigma);   // (B, 5)
    const double logit_err = test::max_rel(logits, arrays.at("output/logits"));
    EXPECT_LT(logit_err, 1e-5) << logits << arrays.at("output/logits");
    const auto log_prob = torch::log_softmax(logits, -1).gather(1, labels.view({-1, 1})).sum();
    const auto grad_x = torch::autograd::grad({log_prob}, {xg})[0];
    const double grad_err = test::max_rel(grad_x, arrays.at("output/grad"));
    EXPECT_LT(grad_err, 1e-5);
    std::printf("logits max rel err %.3g, gradient %.3g\n", logit_err, grad_err);
  }
  // The EMA is the weights (the file holds one set) and Adam starts afresh.
  for (const auto& [name, t] : ck.tensors.ema) EXPECT_TRUE(torch::equal(t, ck.tensors.model.at(name))) << name;
  EXPECT_EQ(ck.tensors.optimizer_step, 0);
  EXPECT_EQ(ck.tensors.optimizer.size(), 2 * ck.tensors.ema.size());
}

// The released classifier's every parameter (score_sde's module at WRN-28-10, listed by make_fixture.py with
// jax.eval_shape) has its name and Flax shape in configs/ve/cifar10_classifier.yaml's network, and no more.
TEST(FlaxCheckpoint, ReleasedClassifierLayoutIsTheNetworksOfItsConfig) {
  std::ifstream in(flax_fixture("wrn-28-10-params.txt"));
  std::string line;
  std::map<std::string, std::string> reference;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, shape;
    fields >> name >> shape;
    std::replace(name.begin(), name.end(), '/', '.');
    reference[name] = shape;
  }
  ASSERT_EQ(reference.size(), 106u);
  const auto config = Config::resolve(test::source_dir() + "/configs/ve/cifar10_classifier.yaml", {});
  std::map<std::string, std::string> ours;
  for (const auto& p : io::flax_params(config)) ours[p.flax_name] = fmt::format("{}", fmt::join(p.flax_shape, "x"));
  EXPECT_EQ(ours, reference);
}

TEST(FlaxCheckpoint, MismatchesAndOtherNetworksAreRefusedByName) {
  const auto path = flax_fixture("checkpoint_7");
  const auto tree = io::read_flax_msgpack(path);
  test::expect_error_containing([&] { io::from_flax_params(tree, small_config({"model.num_classes=10"}), path); },
                                "Dense_2.kernel is [64, 5] float32, the network has [64, 10] float32");
  test::expect_error_containing([&] { io::from_flax_params(tree, small_config({"model.blocks_per_group=1"}), path); },
                                "not in the network: WideResnetGroup_0.WideResnetBlock_1.Dense_0.bias");
  test::expect_error_containing(
      [&] {
        io::from_flax_params(tree, small_config({"model.name=ncsnpp", "training.task=score"}), path);
      },
      "the Flax params tree does not match the network of the config");

  // flax.linen's variables dict ({"params": tree}) is read too; an extra leaf is named.
  const auto dir = test::temp_dir("flax-variables");
  const auto bytes = read_file(path);
  json inner = json::from_msgpack(bytes);
  const auto nested = write_msgpack(dir, "checkpoint_3", json{{"params", inner}});
  const auto ck = io::from_flax_params(io::read_flax_msgpack(nested), small_config(), nested);
  EXPECT_EQ(ck.source.at("params_under"), "params");
  EXPECT_EQ(ck.step, 3);
  json lacking = inner;
  lacking["Dense_0"].erase("bias");
  const auto lacking_path = write_msgpack(dir, "lacking", json{{"params", lacking}});
  test::expect_error_containing(
      [&] { io::from_flax_params(io::read_flax_msgpack(lacking_path), small_config(), lacking_path); },
      "(1 missing: params.Dense_0.bias)");
  inner["step"] = 12;
  const auto extra = write_msgpack(dir, "with_step", inner);
  test::expect_error_containing([&] { io::from_flax_params(io::read_flax_msgpack(extra), small_config(), extra); },
                                "not in the network: step (a number)");
}

TEST(FlaxMsgpack, MalformedFilesAreRefusedNamingTheKey) {
  const auto dir = test::temp_dir("flax-malformed");
  const std::vector<std::pair<json, std::string>> cases = {
      {json{{"a", {{"b", flax_array({2, 3}, "float32", 20)}}}}, "array 'a.b' of shape [2, 3] float32 needs 24 bytes"},
      {json{{"a", flax_array({2}, "complex64", 16)}}, "'a' has dtype 'complex64', which scorch does not read"},
      {json{{"a", flax_array({0, int64_t{1} << 40, int64_t{1} << 40}, "uint8", 0)}},
       "array 'a' has an impossible shape [0, 1099511627776, 1099511627776]"},
      {json{{"a", json::binary(json::to_msgpack(json::array({1.0, 2.0})), 2)}}, "'a' is a complex number"},
      {json{{"a", flax_array({3}, "bool", 3, 1, 2)}}, "bool array 'a' holds bytes other than 0 and 1"},
      {json{{std::string(300, 'k'), 1}}, "a key of 300 bytes under 'the top level'"},
      {json{{"a", json::binary({1, 2, 3})}}, "'a' holds raw bytes (msgpack bin)"},
      {json{{"a", json::binary({0xc1}, 1)}}, "array 'a' is not valid msgpack"},
      {json{{"a", json::binary(json::to_msgpack(json::array({json::array({2}), "float32"})), 1)}},
       "array 'a' is not [shape, dtype, bytes]"},
      {json{{"a", {1, 2}}}, "'a' is a msgpack list"},
      {json{{"a.b", 1}}, "key 'a.b' under 'the top level' is empty or holds a '.'"},
      {json{{"w", {{"__msgpack_chunked_array__", true}}}}, "'w' is an array flax split into chunks"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto path = write_msgpack(dir, "case" + std::to_string(i), cases[i].first);
    SCOPED_TRACE(cases[i].first.dump());
    test::expect_error_containing([&] { io::read_flax_msgpack(path); }, cases[i].second);
  }

  // Nesting deeper than 64 maps stops at the limit instead of exhausting the stack.
  json deep = 1;
  for (int i = 0; i < 100; ++i) deep = json{{"k", deep}};
  const auto deep_path = write_msgpack(dir, "deep", deep);
  test::expect_error_containing([&] { io::read_flax_msgpack(deep_path); }, "maps nested deeper than 64");

  // Paths are bounded in total: 63 maps of 256-byte keys over 4,200 small leaves would keep 68 MB of paths.
  json leaves;
  for (int i = 0; i < 4200; ++i) leaves[std::to_string(i)] = i;
  json chain = leaves;
  for (int i = 0; i < 63; ++i) chain = json{{std::string(256, static_cast<char>('a' + i % 26)), chain}};
  const auto chain_path = write_msgpack(dir, "chain", chain);
  test::expect_error_containing([&] { io::read_flax_msgpack(chain_path); }, "MiB of key paths: not a checkpoint");

  // A file cut short names the byte where it ends.
  const auto full = read_file(flax_fixture("checkpoint_7"));
  const auto cut = dir + "/cut";
  write_file_atomic(cut, full.substr(0, full.size() / 2));
  test::expect_error_containing([&] { io::read_flax_msgpack(cut); }, "is not a valid msgpack file at byte");
}

// Torch's files (zip, and the legacy pickle that starts 0x80 0x02) are never taken for Flax's, and back.
TEST(FlaxMsgpack, TorchFilesAreNotTakenForFlaxOnes) {
  const auto dir = test::temp_dir("flax-sniff");
  EXPECT_FALSE(
      io::looks_like_flax_msgpack(test::source_dir() + "/tests/fixtures/convert/ve_ncsnpp_small_score_sde.pth"));
  const auto legacy = dir + "/legacy.pth";
  write_file_atomic(legacy, std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 14));
  EXPECT_FALSE(io::looks_like_flax_msgpack(legacy));
  EXPECT_TRUE(io::looks_like_flax_msgpack(write_msgpack(dir, "one", json{{"params", {{"w", 1}}}})));
  json many;
  for (int i = 0; i < 20; ++i) many["k" + std::to_string(i)] = i;  // 20 keys: a map16
  EXPECT_TRUE(io::looks_like_flax_msgpack(write_msgpack(dir, "many", many)));
  // safetensors headers whose length's low bytes read as a map16 (222 = 0xde) or as a fixmap and a string
  // marker (0xa088 = 0x88 0xa0), as scorch's padded headers can be.
  for (const size_t length : {size_t{222}, size_t{0xa088}}) {
    std::string header = R"({"__metadata__":{"pad":")";
    header += std::string(length - header.size() - 3, 'x') + R"("}})";
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xff);
    const auto path = dir + "/header" + std::to_string(length) + ".safetensors";
    write_file_atomic(path, bytes + header);
    EXPECT_FALSE(io::looks_like_flax_msgpack(path)) << length;
  }
}

}  // namespace
}  // namespace scorch
