// FID benchmark: Inception feature extraction (vs pytorch-fid in the same run) and the 2048-d Fréchet distance.
// Usage: fid_bench [images=16] [batch=8]. Validates before timing; pytorch-fid is run through
// $SCORCH_PYTHON with PYTHONPATH=$SCORCH_PYTORCH_FID_PATH (default ~/.cache/scorch/pytorch-fid-py).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/io/npz.h"
#include "eval/frechet.h"
#include "eval/inception_weights.h"
#include "eval/preprocess.h"

namespace {

using namespace scorch;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  if (p && pclose(p) != 0) return "";
  return out;
}

void bench_frechet() {
  torch::manual_seed(0);
  const int64_t d = 2048, n = 2600;
  auto make = [&](double shift) {
    auto a = torch::randn({d, n}, torch::kDouble) / std::sqrt(static_cast<double>(n));
    return eval::GaussianStats{torch::full({d}, shift, torch::kDouble), a.matmul(a.t()), n};
  };
  auto s1 = make(0.0), s2 = make(0.01);
  // Validate: FID(S, S) = 0 to round-off and symmetry FID(a, b) = FID(b, a).
  const double self = eval::frechet_distance(s1, s1).fid;
  const double ab = eval::frechet_distance(s1, s2).fid, ba = eval::frechet_distance(s2, s1).fid;
  std::printf("frechet validate: FID(S,S) = %.3e, FID(a,b) = %.9f, FID(b,a) = %.9f\n", self, ab, ba);
  double best = 1e9;
  for (int i = 0; i < 3; ++i) {
    auto t = Clock::now();
    eval::frechet_distance(s1, s2);
    best = std::min(best, seconds_since(t));
  }
  std::printf("frechet 2048-d float64 (cholesky + eigvalsh): %.3f s (best of 3, %d threads)\n", best,
              torch::get_num_threads());
}

void bench_features(int64_t n, int64_t batch) {
  const std::string py = std::getenv("SCORCH_PYTHON") ? std::getenv("SCORCH_PYTHON") : "";
  const std::string home = std::getenv("HOME") ? std::getenv("HOME") : "/tmp";
  const std::string fid_path = std::getenv("SCORCH_PYTORCH_FID_PATH") ? std::getenv("SCORCH_PYTORCH_FID_PATH")
                                                                       : home + "/.cache/scorch/pytorch-fid-py";
  const std::string src = std::filesystem::path(__FILE__).parent_path().parent_path().string();
  const std::string dir = std::filesystem::temp_directory_path() / "scorch-fid-bench";
  std::filesystem::create_directories(dir);
  const std::string env = "PYTHONPATH=" + fid_path + " " + py + " ";
  eval::InceptionV3 model;
  std::string ref;
  if (!py.empty()) ref = run(env + src + "/tests/eval/make_pytorch_fid_reference.py " + dir);
  const bool have_ref = !ref.empty();
  torch::NoGradGuard g;
  if (have_ref) {  // validate on pytorch-fid's own random-weight features first
    eval::load_weights(model, dir + "/weights.pth");
    auto r = npz::read_npz(dir + "/reference.npz");
    auto ours = model->features(eval::preprocess(r.at("images"), eval::Preprocessing::PytorchFid)).to(torch::kDouble);
    const double rel = (ours - r.at("features")).abs().max().item<double>() / r.at("features").abs().max().item<double>();
    std::printf("features validate vs pytorch-fid: max |diff| / max |feature| = %.2e (bar 1e-4)\n", rel);
  } else {
    model->fuse();
    std::printf("pytorch-fid not available (set SCORCH_PYTHON, SCORCH_PYTORCH_FID_PATH): timing scorch only\n");
  }
  torch::manual_seed(1);
  auto images = torch::randint(0, 256, {n, 32, 32, 3}).to(torch::kByte);
  npz::write_npz(dir + "/images.npz", {{"images", images}});
  model->features(eval::preprocess(images.slice(0, 0, batch), eval::Preprocessing::PytorchFid));  // warm-up
  double best = 1e9;
  for (int rep = 0; rep < 2; ++rep) {
    auto t = Clock::now();
    for (int64_t i = 0; i < n; i += batch)
      model->features(eval::preprocess(images.slice(0, i, std::min(n, i + batch)), eval::Preprocessing::PytorchFid));
    best = std::min(best, seconds_since(t));
  }
  const double ours = n / best;
  std::printf("scorch features (fp32, BN folded, 32x32 -> 299, batch %lld): %.2f images/s\n",
              static_cast<long long>(batch), ours);
  if (!have_ref) return;
  const std::string out = run(env + src + "/bench/pytorch_fid_speed.py " + dir + "/weights.pth " + dir +
                              "/images.npz " + std::to_string(batch) + " 2");
  const auto at = out.find("images_per_s");
  if (at == std::string::npos) return (void)std::printf("pytorch-fid timing failed:\n%s\n", out.c_str());
  const double theirs = std::stod(out.substr(at + 13));
  std::printf("pytorch-fid features (same images, same weights): %.2f images/s; ratio scorch / pytorch-fid = %.2f\n",
              theirs, ours / theirs);
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 16, batch = argc > 2 ? std::atoll(argv[2]) : 8;
  std::printf("threads: %d\n", torch::get_num_threads());
  bench_frechet();
  bench_features(n, batch);
  return 0;
}
