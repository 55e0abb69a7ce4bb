// `scorch convert inception SRC [--out FILE]`: one safetensors file of the FID Inception under pytorch-fid's
// names, whichever of the published formats SRC is.
#include "apps/convert_inception.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/safetensors.h"
#include "eval/inception_weights.h"

namespace scorch::apps {

int run_convert_inception(const std::string& src, const std::string& out_arg, bool force) {
  const std::string out = out_arg.empty() ? eval::converted_weights_path() : out_arg;
  SCORCH_CHECK_HINT(std::filesystem::weakly_canonical(src) != std::filesystem::weakly_canonical(out),
                    "pass another --out", "convert inception: --out '{}' is the source file", out);
  SCORCH_CHECK_HINT(!std::filesystem::is_directory(out), "pass --out FILE",
                    "convert inception: --out '{}' is a directory", out);
  // Statistics already computed name the weights they were made with, so replacing them is the user's call.
  SCORCH_CHECK_HINT(force || !std::filesystem::exists(out),
                    "pass --force to replace it (scorch fid warns about statistics made with other weights)",
                    "convert inception: '{}' already exists", out);
  eval::InceptionV3 model;
  const auto info = eval::load_weights(model, src);
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& p : model->named_parameters())
    if (info.has_logits || p.key().rfind("fc.", 0) != 0) tensors[p.key()] = p.value();
  for (const auto& b : model->named_buffers())
    if (b.key().find("num_batches_tracked") == std::string::npos) tensors[b.key()] = b.value();
  const auto target = std::filesystem::absolute(out);
  std::filesystem::create_directories(target.parent_path());
  // Checked under a temporary name and only then renamed over `out`: a file that failed the check must not
  // replace the weights it was meant to replace. The name keeps the extension that load_weights reads.
  const auto unchecked =
      (target.parent_path() / fmt::format(".tmp-{}-{}", ::getpid(), target.filename().string())).string();
  try {
    io::write_safetensors(unchecked, tensors,
                          {{"format", "pytorch-fid InceptionV3 state_dict"}, {"source", info.identity}});
    // The written file must give the source's features exactly: same float32 values, same network.
    eval::InceptionV3 check;
    eval::load_weights(check, unchecked);
    torch::manual_seed(0);
    const auto x = torch::rand({2, 3, 80, 80}) * 2 - 1;  // (B, C, H, W), the smallest input the network takes
    torch::InferenceMode guard;
    model->eval();
    check->eval();
    SCORCH_CHECK(torch::equal(model->features(x), check->features(x)),
                 "convert inception: the file written for {} does not reproduce the features of {}", out, src);
    std::filesystem::rename(unchecked, target);
    fsync_path(target.parent_path().string());
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(unchecked, ec);
    throw;
  }
  std::printf("%s (%s, %zu tensors%s)\n -> %s\n", info.identity.c_str(), info.format.c_str(), tensors.size(),
              info.has_logits ? ", with the 1008-class layer for --is" : ", features only: no --is", out.c_str());
  if (out_arg.empty()) std::printf("scorch fid now uses it by default (lookup order: docs/fid.md)\n");
  return 0;
}

}  // namespace scorch::apps
