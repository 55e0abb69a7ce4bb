// FidExtractor: the device, precision and weights of a `scorch fid` run, then extract() over its communicators.
#include "eval/fid_extractor.h"

#include <spdlog/spdlog.h>

#include "core/dist/device.h"
#include "core/dist/process.h"
#include "core/error.h"

namespace scorch::eval {

FidExtractor::FidExtractor(const ExtractorSettings& s) : precision_(s.precision) {
  options_.mode = parse_preprocessing(s.preprocessing);
  options_.batch_size = s.batch_size;
  options_.input_size = s.input_size;
  options_.device = dist::select_device(s.device, dist::info().local_rank);
  SCORCH_CHECK(s.precision == "fp32" || s.precision == "tf32", "--precision must be fp32 or tf32, got '{}'",
               s.precision);
  apply_runtime();
  weights_ = load_weights(model_, s.inception.empty() ? default_weights_path() : s.inception);
  spdlog::info("FID Inception weights: {} [{}], preprocessing {}, {} on {}", weights_.identity, weights_.format,
               s.preprocessing, s.precision, options_.device.str());
  comm_ = dist::make_communicator("auto", options_.device);
  cpu_comm_ = options_.device.is_cpu() ? comm_ : dist::make_communicator("auto", torch::Device(torch::kCPU));
}

Extracted FidExtractor::run(const std::string& path, bool logits, bool features) {
  auto source = open_image_source(path);
  spdlog::info("FID: extracting features of {} on {} rank(s)", source->describe(), comm_->world());
  apply_runtime();
  auto o = options_;
  o.logits = logits;
  o.keep_features = features;
  return extract(*source, model_, o, *comm_, *cpu_comm_);
}

// Again before each run: `fid --ckpts` samples between runs under the sampling config's own switches, which are
// process-wide (sampling.tf32, sampling.deterministic with its sampling.threads).
void FidExtractor::apply_runtime() const {
  if (options_.device.is_cpu()) dist::configure_cpu_threads(dist::info().local_world);
  dist::clear_deterministic();
  // FID moves by more than its run-to-run noise under TF32 convolutions: off unless asked for.
  dist::set_tf32(precision_ == "tf32");
}

nlohmann::json FidExtractor::identity() const {
  return {{"feature_extractor", {{"weights", weights_.identity}, {"path", weights_.path}, {"format", weights_.format}}},
          {"preprocessing", to_string(options_.mode)},
          {"precision", precision_},
          {"device", options_.device.str()},
          {"ranks", comm_->world()}};
}

void FidExtractor::check_can_score_is() const {
  SCORCH_CHECK_HINT(
      weights_.has_logits, "use pytorch-fid's pt_inception-2015-12-05-6726825d.pth or NVIDIA's inception-2015-12-05.pt",
      "--is needs the 1008-class output layer, which {} does not contain (feature-only weights)", weights_.path);
}

}  // namespace scorch::eval
