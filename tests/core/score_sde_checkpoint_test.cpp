// score_sde checkpoint mapping: the reference's parameter order (which names the EMA list and the Adam
// state) equals scorch's, export/import are inverse, and every kind of mismatch is refused by name.
#include "core/io/score_sde_checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/safetensors.h"
#include "support/checks.h"
#include "support/run.h"

namespace scorch {
namespace {

using test::contains;

std::string fixture(const std::string& path) { return test::source_dir() + "/tests/fixtures/" + path; }
Config parity_config(const std::string& name) { return Config::resolve(fixture("parity/" + name + ".yaml"), {}); }

// Orders written by building score_sde_pytorch's own models (tests/fixtures/convert/README.md).
TEST(ScoreSdeCheckpoint, ScorchParameterOrderIsTheReferenceOrder) {
  for (const std::string name : {"ve_ncsnpp_small", "vp_ddpmpp_small"}) {
    SCOPED_TRACE(name);
    const auto order = nlohmann::json::parse(read_file(fixture("convert/" + name + "_order.json")));
    auto model = models::make_model(parity_config(name));
    const auto params = model->named_parameters();
    ASSERT_EQ(params.size(), order["parameters"].size());
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_EQ(params[i].key(), order["parameters"][i][0].get<std::string>()) << i;
      EXPECT_EQ(params[i].value().requires_grad(), order["parameters"][i][1].get<bool>()) << params[i].key();
    }
    std::set<std::string> ours, theirs;
    for (const auto& p : params) ours.insert(p.key());
    for (const auto& b : model->named_buffers()) ours.insert(b.key());
    for (const auto& n : order["state_dict"]) theirs.insert(n.get<std::string>());
    EXPECT_EQ(ours, theirs);
  }
}

// A checkpoint with distinct values everywhere: model = parity weights, EMA = half of them, Adam moments random.
io::CheckpointTensors sample_tensors(const Config& config) {
  io::CheckpointTensors t;
  auto weights = io::read_safetensors(fixture("parity/ve_ncsnpp_small.safetensors")).tensors;
  auto model = models::make_model(config);
  torch::manual_seed(1);
  for (const auto& p : model->named_parameters()) {
    t.model[p.key()] = weights.at("param/" + p.key());
    if (!p.value().requires_grad()) continue;
    t.ema[p.key()] = weights.at("param/" + p.key()) * 0.5;
    t.optimizer["exp_avg." + p.key()] = torch::randn_like(p.value());
    t.optimizer["exp_avg_sq." + p.key()] = torch::rand_like(p.value());
  }
  t.model["sigmas"] = weights.at("param/sigmas");
  t.ema_num_updates = 41;
  t.ema_rate = 0.9999;
  t.optimizer_step = 40;
  return t;
}

void expect_same(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [k, v] : a) {
    ASSERT_TRUE(b.count(k)) << k;
    EXPECT_EQ(v.scalar_type(), b.at(k).scalar_type()) << k;
    EXPECT_TRUE(torch::equal(v, b.at(k))) << k;
  }
}

TEST(ScoreSdeCheckpoint, ExportThenImportIsTheIdentity) {
  const auto config = parity_config("ve_ncsnpp_small");
  const auto t = sample_tensors(config);
  const auto root = io::to_score_sde(t, config, 42, "sample");
  const auto back = io::from_score_sde(root, config, "sample.pth");
  expect_same(back.tensors.model, t.model);
  expect_same(back.tensors.ema, t.ema);
  expect_same(back.tensors.optimizer, t.optimizer);
  EXPECT_EQ(back.step, 42);
  EXPECT_EQ(back.tensors.ema_num_updates, 41);
  EXPECT_EQ(back.tensors.ema_rate, 0.9999);
  EXPECT_EQ(back.tensors.optimizer_step, 40);
  EXPECT_EQ(back.tensors.model.at("sigmas").scalar_type(), torch::kFloat64);
  EXPECT_TRUE(back.source["dataparallel_prefix"].get<bool>());
  // score_sde layout: Adam over all parameters (the frozen W at index 0 included, without state).
  const auto opt = root->get("optimizer");
  EXPECT_EQ(opt->get("param_groups")->items[0]->get("params")->items.size(), 157u);
  EXPECT_EQ(opt->get("state")->entries.size(), 156u);
  EXPECT_FALSE(opt->get("state")->get(int64_t{0}));
  EXPECT_EQ(root->get("ema")->get("shadow_params")->items.size(), 156u);
}

std::string import_error(const io::py::Ref& root, const Config& config) {
  try {
    io::from_score_sde(root, config, "bad.pth");
  } catch (const Error& e) {
    return e.message();
  }
  return "(imported without error)";
}

TEST(ScoreSdeCheckpoint, EveryMismatchIsNamed) {
  const auto config = parity_config("ve_ncsnpp_small");
  const auto t = sample_tensors(config);
  auto fresh = [&] { return io::to_score_sde(t, config, 42, "sample"); };
  auto erase = [](const io::py::Ref& d, const std::string& key) {
    auto& e = d->entries;
    e.erase(std::remove_if(e.begin(), e.end(),
                           [&](const auto& kv) { return kv.first->kind == io::py::Kind::Str && kv.first->s == key; }),
            e.end());
  };

  auto r = fresh();
  erase(r->get("model"), "module.all_modules.3.bias");
  r->get("model")->set(io::py::str("module.extra.weight"), io::py::tensor(torch::ones(2)));
  auto msg = import_error(r, config);
  EXPECT_TRUE(contains(msg, "bad.pth")) << msg;
  EXPECT_TRUE(contains(msg, "1 missing: all_modules.3.bias")) << msg;
  EXPECT_TRUE(contains(msg, "1 not in the network: module.extra.weight")) << msg;

  r = fresh();
  r->get("model")->set(io::py::str("module.all_modules.3.weight"), io::py::tensor(torch::ones({1})));
  r->get("model")->set(io::py::str("module.sigmas"), io::py::tensor(torch::ones({1000})));
  msg = import_error(r, config);
  EXPECT_TRUE(contains(msg, "2 mismatched")) << msg;
  EXPECT_TRUE(contains(msg, "module.all_modules.3.weight is [1] float32, the network has [16, 3, 3, 3] float32"))
      << msg;
  EXPECT_TRUE(contains(msg, "module.sigmas is [1000] float32, the network has [1000] float64")) << msg;

  r = fresh();
  r->get("ema")->get("shadow_params")->items.pop_back();
  EXPECT_TRUE(contains(import_error(r, config), "has 155 tensors, the network has 156 trainable"))
      << import_error(r, config);

  r = fresh();
  r->get("ema")->get("shadow_params")->items[1] = io::py::tensor(torch::ones({3}));
  msg = import_error(r, config);
  EXPECT_TRUE(contains(msg, "ema.shadow_params[1] (all_modules.1.bias) is [3] float32")) << msg;

  r = fresh();
  r->get("optimizer")->get("state")->set(io::py::integer(0), r->get("optimizer")->get("state")->get(int64_t{1}));
  EXPECT_TRUE(contains(import_error(r, config), "optimizer.state[0] (all_modules.0.W) is frozen"))
      << import_error(r, config);

  r = fresh();
  auto& state = r->get("optimizer")->get("state")->entries;
  state.erase(state.begin() + 6);  // index 7
  msg = import_error(r, config);
  EXPECT_TRUE(contains(msg, "1 missing: optimizer.state[7] (all_modules.4.GroupNorm_0.weight)")) << msg;

  r = fresh();
  r->get("optimizer")->get("state")->get(int64_t{2})->set(io::py::str("step"), io::py::integer(39));
  EXPECT_TRUE(contains(import_error(r, config), "(all_modules.1.bias) has step 39, other parameters have 40"))
      << import_error(r, config);

  r = fresh();
  r->get("optimizer")->get("param_groups")->items[0]->set(io::py::str("amsgrad"), io::py::boolean(true));
  msg = import_error(r, config);
  EXPECT_TRUE(contains(msg, "optimizer.state[1] (all_modules.1.weight)['max_exp_avg_sq']")) << msg;

  r = fresh();
  r->get("model")->set(io::py::str("sigmas"), io::py::tensor(torch::ones(2)));
  EXPECT_TRUE(contains(import_error(r, config), "only 158 of 159 'model' keys carry")) << import_error(r, config);

  r = fresh();
  erase(r, "ema");
  r->set(io::py::str("epoch"), io::py::integer(3));
  EXPECT_TRUE(contains(import_error(r, config), "unexpected keys in the top level: epoch")) << import_error(r, config);
  erase(r, "epoch");
  EXPECT_TRUE(contains(import_error(r, config), "has no 'ema'")) << import_error(r, config);

  r = fresh();
  r->get("ema")->set(io::py::str("collected_params"), io::py::list({io::py::tensor(torch::ones(2))}));
  EXPECT_TRUE(contains(import_error(r, config), "unexpected keys in 'ema': collected_params"))
      << import_error(r, config);

  const auto wider = Config::resolve(fixture("parity/ve_ncsnpp_small.yaml"), {"model.nf=32"});
  msg = import_error(fresh(), wider);
  EXPECT_TRUE(contains(msg, "does not match the network of the config")) << msg;
  EXPECT_TRUE(contains(msg, "mismatched")) << msg;

  EXPECT_TRUE(contains(import_error(io::py::list({}), config), "holds a list of 0, not a score_sde checkpoint"));
}

}  // namespace
}  // namespace scorch
