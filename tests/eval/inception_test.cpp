// FID Inception: architecture, strict weight import, and features against pytorch-fid / TorchScript ports.
#include <gtest/gtest.h>
#include <torch/script.h>

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "core/io/npz.h"
#include "eval/inception_weights.h"
#include "eval/preprocess.h"
#include "support/prerequisite.h"
#include "support/run.h"

namespace scorch::eval {
namespace {

TensorMap state_of(InceptionV3& m) {
  TensorMap s;
  for (auto& p : m->named_parameters()) s[p.key()] = p.value().detach().clone();
  for (auto& b : m->named_buffers()) s[b.key()] = b.value().detach().clone();
  return s;
}

TEST(Inception, SmallInputGivesPoolFeaturesAndFoldedBatchNormAgrees) {
  torch::manual_seed(0);
  InceptionV3 m;
  torch::NoGradGuard g;
  for (auto& b : m->named_buffers())
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
  auto x = torch::randn({2, 3, 75, 75});  // the smallest input the valid-padded stem accepts
  auto plain = m->features(x);
  EXPECT_EQ(plain.sizes(), (std::vector<int64_t>{2, 2048}));
  EXPECT_EQ(m->logits(plain).sizes(), (std::vector<int64_t>{2, 1008}));
  m->fuse();
  auto fused = m->features(x);
  // Folding only reassociates float32 products: relative 1e-5 of the feature scale.
  EXPECT_LE((fused - plain).abs().max().item<double>(), 1e-5 * plain.abs().max().item<double>() + 1e-12);
  // NHWC (the CPU production layout): other kernels, other summation order, the same bound.
  m->fuse(c10::MemoryFormat::ChannelsLast);
  auto nhwc = m->features(x);
  EXPECT_LE((nhwc - plain).abs().max().item<double>(), 1e-5 * plain.abs().max().item<double>() + 1e-12);
  m->unfuse();
  EXPECT_TRUE(torch::equal(m->features(x), plain));
  EXPECT_THROW(m->features(torch::zeros({1, 3, 64, 64})), Error);
}

// The 94 conv + batch-norm units (5 tensors each, num_batches_tracked aside) and fc: pytorch-fid's file
// has exactly these 472 keys (plus num_batches_tracked in some versions).
TEST(Inception, ImportConsumesEveryKeyExactlyOnce) {
  InceptionV3 a, b;
  auto state = state_of(a);
  int convs = 0;
  for (const auto& [k, v] : state) convs += k.find(".conv.weight") != std::string::npos;
  EXPECT_EQ(convs, 94);
  state.erase("Conv2d_1a_3x3.bn.num_batches_tracked");
  EXPECT_TRUE(load_state(b, state, "test", false));
  auto extra = state;
  extra["Mixed_5b.branch_extra.conv.weight"] = torch::zeros({1});
  EXPECT_THROW(load_state(b, extra, "test", false), Error);
  auto missing = state;
  missing.erase("Mixed_7c.branch_pool.bn.running_var");
  EXPECT_THROW(load_state(b, missing, "test", false), Error);
  auto wrong = state;
  wrong["fc.weight"] = torch::zeros({1000, 2048});
  EXPECT_THROW(load_state(b, wrong, "test", false), Error);
  auto no_fc = state;
  no_fc.erase("fc.weight");
  no_fc.erase("fc.bias");
  EXPECT_THROW(load_state(b, no_fc, "test", false), Error);
  EXPECT_FALSE(load_state(b, no_fc, "test", true));  // feature-only detector files
}

// A Python (SCORCH_PYTHON) that imports pytorch_fid and torchvision, pip-installing both into the
// cache when they are missing (never into the source tree); "" when that is impossible.
std::string pytorch_fid_python() {
  const std::string py = test::python();
  if (py.empty()) return "";
  const char* home = std::getenv("HOME");
  const std::string target = std::string(home ? home : "/tmp") + "/.cache/scorch/pytorch-fid-py";
  const std::string env = "PYTHONPATH=" + target + " ";
  if (test::run(env + py + " -c 'import pytorch_fid.inception, torchvision'").code == 0) return env + py;
  const std::string tv = "torchvision==$(" + py +
                         " -c 'import torch; v = torch.__version__.split(\"+\")[0].split(\".\"); "
                         "print(\"0.%d.%s\" % (int(v[1]) + 15, v[2]))')";
  auto r = test::run(py + " -m pip install -q --disable-pip-version-check --no-deps --target " + target +
                         " pytorch-fid==0.3.0 pillow " + tv,
                     600);
  if (r.code != 0) return "";
  return test::run(env + py + " -c 'import pytorch_fid.inception, torchvision'").code == 0 ? env + py : "";
}

TEST(Inception, FeaturesMatchPytorchFidOnTheSameRandomWeights) {
  const std::string py = pytorch_fid_python();
  SCORCH_REQUIRE_PREREQUISITE(!py.empty(), "pytorch-fid + torchvision not importable or installable");
  auto dir = test::temp_dir("inception");
  auto r = test::run(py + " " + test::source_dir() + "/tests/eval/make_pytorch_fid_reference.py " + dir, 600);
  ASSERT_EQ(r.code, 0) << r.output;
  InceptionV3 m;
  auto info = load_weights(m, dir + "/weights.pth");
  EXPECT_EQ(info.format, "pth");
  EXPECT_TRUE(info.has_logits);
  auto ref = io::npz::read_npz(dir + "/reference.npz");
  torch::NoGradGuard g;
  auto ours = m->features(preprocess(ref.at("images"), Preprocessing::PytorchFid)).to(torch::kDouble);
  const auto& theirs = ref.at("features");
  // Same float32 network, but BN folded into the convs and other conv algorithms: agreement to 1e-4 of
  // the feature scale (the bar for "identical features").
  const double scale = theirs.abs().max().item<double>();
  EXPECT_LE((ours - theirs).abs().max().item<double>(), 1e-4 * scale) << "feature scale " << scale;
  if (std::filesystem::exists(dir + "/weights.safetensors")) {  // same tensors through safetensors
    InceptionV3 s;
    EXPECT_EQ(load_weights(s, dir + "/weights.safetensors").format, "safetensors");
    EXPECT_TRUE(
        torch::equal(s->features(preprocess(ref.at("images"), Preprocessing::PytorchFid)), ours.to(torch::kFloat)));
  }
  const auto& their_logits = ref.at("logits");
  EXPECT_LE((m->logits(ours.to(torch::kFloat)).to(torch::kDouble) - their_logits).abs().max().item<double>(),
            1e-4 * their_logits.abs().max().item<double>());
}

// With real TF-ported weights installed (launch/setup), our network with the mapped tensors must
// reproduce the TorchScript module itself on the same preprocessed input (one 299x299 image).
TEST(Inception, MappedTorchScriptWeightsReproduceTheScriptedNetwork) {
  std::string path;
  try {
    path = default_weights_path();
  } catch (const Error&) {
    SCORCH_REQUIRE_PREREQUISITE(false, "no real FID weights installed");
  }
  torch::jit::Module scripted;
  try {
    scripted = torch::jit::load(path, torch::kCPU);
  } catch (const c10::Error&) {
    SCORCH_REQUIRE_PREREQUISITE(false, path << " is not TorchScript");
  }
  SCORCH_REQUIRE_PREREQUISITE(scripted.find_method("forward") && path.find("default_1") != std::string::npos,
                              "only the feature-only fid-helper file takes preprocessed input directly");
  InceptionV3 m;
  auto info = load_weights(m, path);
  EXPECT_EQ(info.format, "torchscript");
  torch::manual_seed(1);
  auto x = preprocess(torch::randint(0, 256, {1, 32, 32, 3}).to(torch::kByte), Preprocessing::Tf);
  torch::NoGradGuard g;
  auto theirs = scripted.forward({x}).toTensor().reshape({1, 2048});
  auto ours = m->features(x);
  const double scale = theirs.abs().max().item<double>();
  EXPECT_GT(scale, 0.1);
  EXPECT_LE((ours - theirs).abs().max().item<double>(), 1e-4 * scale);
}

}  // namespace
}  // namespace scorch::eval
