// FID benchmark: Inception feature extraction (vs pytorch-fid in the same run) and the 2048-d Fréchet distance.
// Usage: fid_bench [images=16] [batch=8]. Validates before timing; pytorch-fid is run through
// $SCORCH_PYTHON with PYTHONPATH=$SCORCH_PYTORCH_FID_PATH (default ~/.cache/scorch/pytorch-fid-py).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "core/host_memory.h"
#include "core/io/image_io.h"
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

// The machine's fp32 ceiling, measured: a 2048^3 sgemm (MKL) is the best multiply-add rate LibTorch reaches
// on this CPU, so images/s x the network's FLOPs cannot go much above it.
double sgemm_gflops() {
  torch::InferenceMode guard;
  auto a = torch::randn({2048, 2048}), b = torch::randn({2048, 2048});
  a.mm(b);
  double best = 1e9;
  for (int rep = 0; rep < 5; ++rep) {
    auto t = Clock::now();
    a.mm(b);
    best = std::min(best, seconds_since(t));
  }
  return 2.0 * 2048 * 2048 * 2048 / best / 1e9;
}

// Inception-v3 at 299x299: 5.71 G multiply-adds (torchvision's model table; the FID variant has the same
// convolution shapes), i.e. 11.4 GFLOP per image.
constexpr double kInceptionGflop = 2 * 5.71;

// One way of running the network: the layout and the autograd guard are what the variants differ in.
struct Variant {
  const char* name;
  bool fused;
  c10::MemoryFormat format;
  bool inference_mode;
};

void prepare(eval::InceptionV3& model, const Variant& v) {
  model->unfuse();
  if (v.fused) model->fuse(v.format);
}

torch::Tensor features(eval::InceptionV3& model, const Variant& v, const torch::Tensor& images) {
  if (v.inference_mode) {
    torch::InferenceMode guard;
    return model->features(eval::preprocess(images, eval::Preprocessing::PytorchFid));
  }
  torch::NoGradGuard guard;
  return model->features(eval::preprocess(images, eval::Preprocessing::PytorchFid));
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
  const std::vector<Variant> variants = {
      {"unfused, NoGradGuard, NCHW (timed before 2026-11-22 evening)", false, c10::MemoryFormat::Contiguous, false},
      {"BN folded + oneDNN conv-ReLU, InferenceMode, NCHW", true, c10::MemoryFormat::Contiguous, true},
      {"BN folded + oneDNN conv-ReLU, InferenceMode, channels_last (eval/extract.cpp)", true,
       c10::MemoryFormat::ChannelsLast, true}};
  eval::InceptionV3 model;
  std::string ref;
  if (!py.empty()) ref = run(env + src + "/tests/eval/make_pytorch_fid_reference.py " + dir);
  const bool have_ref = !ref.empty();
  if (have_ref) {  // every variant validated on pytorch-fid's own random-weight features first
    eval::load_weights(model, dir + "/weights.pth");
    auto r = io::npz::read_npz(dir + "/reference.npz");
    const double scale = r.at("features").abs().max().item<double>();
    for (const auto& v : variants) {
      prepare(model, v);
      auto ours = features(model, v, r.at("images")).to(torch::kDouble);
      std::printf("features validate vs pytorch-fid [%s]: max |diff| / max |feature| = %.2e (bar 1e-4)\n", v.name,
                  (ours - r.at("features")).abs().max().item<double>() / scale);
    }
  } else {
    std::printf("pytorch-fid not available (set SCORCH_PYTHON, SCORCH_PYTORCH_FID_PATH): timing scorch only\n");
  }
  torch::manual_seed(1);
  auto images = torch::randint(0, 256, {n, 32, 32, 3}).to(torch::kByte);
  io::npz::write_npz(dir + "/images.npz", {{"images", images}});
  {
    torch::InferenceMode guard;
    double best = 1e9;
    for (int rep = 0; rep < 3; ++rep) {
      auto t = Clock::now();
      for (int64_t i = 0; i < n; i += batch)
        eval::preprocess(images.slice(0, i, std::min(n, i + batch)), eval::Preprocessing::PytorchFid);
      best = std::min(best, seconds_since(t));
    }
    std::printf("preprocessing alone (uint8 32x32 -> float 299, pytorch-fid mode): %.1f images/s\n", n / best);
  }
  std::vector<double> ours;
  for (const auto& v : variants) {
    prepare(model, v);
    features(model, v, images.slice(0, 0, batch));  // warm-up (oneDNN primitive creation)
    double best = 1e9;
    for (int rep = 0; rep < 2; ++rep) {
      auto t = Clock::now();
      for (int64_t i = 0; i < n; i += batch) features(model, v, images.slice(0, i, std::min(n, i + batch)));
      best = std::min(best, seconds_since(t));
    }
    ours.push_back(n / best);
    std::printf("scorch features [%s], fp32, 32x32 -> 299, batch %lld: %.2f images/s\n", v.name,
                static_cast<long long>(batch), ours.back());
  }
  const double ceiling = sgemm_gflops();
  std::printf("machine ceiling: sgemm 2048^3 = %.1f GFLOP/s = %.2f Inception images/s at 11.4 GFLOP each\n", ceiling,
              ceiling / kInceptionGflop);
  for (size_t k = 0; k < variants.size(); ++k)
    std::printf("scorch [%s]: %.1f GFLOP/s, %.0f%% of the sgemm rate\n", variants[k].name, ours[k] * kInceptionGflop,
                100 * ours[k] * kInceptionGflop / ceiling);
  if (!have_ref) return;
  // pytorch_fid_speed.py on the same weights and images; `prefix` goes before the interpreter (environment),
  // `tail` after the arguments. Returns its images/s, or -1 with its output printed.
  const std::string speed_script =
      env + src + "/bench/pytorch_fid_speed.py " + dir + "/weights.pth " + dir + "/images.npz " + std::to_string(batch);
  auto python_rate = [&](const std::string& prefix, const std::string& tail) {
    const std::string out = run(prefix + speed_script + tail);
    const auto at = out.find("images_per_s");
    if (at == std::string::npos) return std::printf("pytorch-fid timing failed:\n%s\n", out.c_str()), -1.0;
    return std::stod(out.substr(at + 13));
  };
  const double theirs = python_rate("", " 2");
  if (theirs < 0) return;
  std::printf(
      "pytorch-fid features (same images, same weights, torch.no_grad, NCHW): %.2f images/s = %.1f GFLOP/s; "
      "2x of it would need %.0f%% of the sgemm rate\n",
      theirs, theirs * kInceptionGflop, 200 * theirs * kInceptionGflop / ceiling);
  for (size_t k = 0; k < variants.size(); ++k)
    std::printf("ratio scorch / pytorch-fid [%s] = %.2f\n", variants[k].name, ours[k] / theirs);
  if (const double cl = python_rate("", " 2 channels_last"); cl > 0)
    std::printf("for comparison, pytorch-fid's model moved to channels_last in Python: %.2f images/s\n", cl);
  // The allocator policy scorch applies in-process (core/host_memory.h), given to Python from outside.
  const std::string tunables =
      fmt::format("GLIBC_TUNABLES=glibc.malloc.mmap_threshold={}:glibc.malloc.trim_threshold={} ", kKeptMmapThreshold,
                  kKeptTrimThreshold);
  if (const double tuned = python_rate(tunables, " 2"); tuned > 0)
    std::printf(
        "for comparison, pytorch-fid with scorch's malloc thresholds set through GLIBC_TUNABLES: %.2f "
        "images/s\n",
        tuned);

  // End to end, as users run both tools: whole commands from a folder of PNGs to an .npz of statistics
  // (process start, weights, decode, preprocessing, network, moments), alternated so both see the same load.
  const std::string png_dir = dir + "/png";
  std::filesystem::remove_all(png_dir);
  std::filesystem::create_directories(png_dir);
  for (int64_t i = 0; i < n; ++i) {
    io::Image im{32, 32, 3, {}};
    auto px = images[i].contiguous();
    im.pixels.assign(px.data_ptr<uint8_t>(), px.data_ptr<uint8_t>() + px.numel());
    io::write_png(fmt::format("{}/{:06d}.png", png_dir, i), im);
  }
  const std::string scorch = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "scorch";
  const std::string stats = scorch + " fid stats --data " + png_dir + " --inception " + dir +
                            "/weights.pth --preprocessing pytorch-fid --batch-size " + std::to_string(batch) +
                            " --out ";
  const std::string mpirun =
      std::string(geteuid() == 0 ? "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " : "") + "mpirun -np 2 ";
  const std::string python_cli = speed_script + " 1 cli " + png_dir + " ";
  // Both tools refuse or skip an existing output file: each run starts without one.
  auto timed = [&](const std::string& cmd, const std::string& out) {
    std::filesystem::remove(out);
    std::filesystem::remove(out + ".json");
    const auto t = Clock::now();
    return std::system((cmd + out + " > /dev/null 2>&1").c_str()) == 0 ? seconds_since(t) : -1.0;
  };
  double one = 1e9, two = 1e9, py_cli = 1e9;
  for (int rep = 0; rep < 2; ++rep) {
    const double t1 = timed(stats, dir + "/scorch1.npz"), t2 = timed(mpirun + stats, dir + "/scorch2.npz"),
                 tp = timed(python_cli, dir + "/pytorch_fid.npz");
    if (t1 < 0 || tp < 0)
      return (void)std::printf("end-to-end commands failed: %s | %s\n", stats.c_str(), python_cli.c_str());
    one = std::min(one, t1), py_cli = std::min(py_cli, tp);
    if (t2 > 0) two = std::min(two, t2);
  }
  auto a = io::npz::read_npz(dir + "/scorch1.npz"), b = io::npz::read_npz(dir + "/pytorch_fid.npz");
  const auto rel = [](const torch::Tensor& x, const torch::Tensor& y) {
    return (x - y).abs().max().item<double>() / y.abs().max().item<double>();
  };
  std::printf(
      "end-to-end validate: scorch fid stats vs pytorch-fid --save-stats, same PNGs: max |d mu| / max |mu| = "
      "%.2e, max |d sigma| / max |sigma| = %.2e (bar 1e-4)\n",
      rel(a.at("mu"), b.at("mu")), rel(a.at("sigma"), b.at("sigma")));
  std::printf("end to end, %lld PNGs -> .npz, batch %lld, whole commands (best of 2, alternated):\n",
              static_cast<long long>(n), static_cast<long long>(batch));
  std::printf("  python -m pytorch_fid --save-stats (2 threads, its default workers): %.1f s = %.2f images/s\n", py_cli,
              n / py_cli);
  std::printf("  scorch fid stats, 1 rank x 2 threads: %.1f s = %.2f images/s, ratio %.2f\n", one, n / one,
              py_cli / one);
  if (two < 1e9)
    std::printf("  mpirun -np 2 scorch fid stats, 2 ranks x 1 thread: %.1f s = %.2f images/s, ratio %.2f\n", two,
                n / two, py_cli / two);
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 16, batch = argc > 2 ? std::atoll(argv[2]) : 8;
  // As in the scorch binary (apps/main.cpp): freed activations stay in the heap.
  keep_freed_host_memory();
  std::printf("threads: %d, host memory: %s\n", torch::get_num_threads(), host_memory_policy());
  bench_frechet();
  bench_features(n, batch);
  return 0;
}
