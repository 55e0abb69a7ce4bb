// FID reference statistics on disk: reading the .npz files of pytorch-fid, TTUR, clean-fid, EDM and
// score_sde, and writing them (pytorch-fid's format plus a scorch sidecar) from a folder of images.
#pragma once
#include <cstdint>
#include <string>

#include "eval/extract.h"
#include "eval/fid_extractor.h"

namespace scorch::eval {

// Reference statistics from an .npz: keys mu + sigma (pytorch-fid, TTUR, clean-fid, EDM), or score_sde's raw
// activations under pool_3 (then the per-image features are kept, so KID can use them too). `preprocessing`
// is this run's: a scorch sidecar (PATH.json) that names another is refused, as the FID would mix two
// pipelines; the sidecar also gives the image count, which the .npz does not hold (0 without one).
Extracted read_reference_stats(const std::string& path, const std::string& preprocessing);

struct WrittenStats {
  std::string path;  // the .npz; its sidecar is path + ".json"
  int64_t images = 0;
};

// `scorch fid stats`: mu and sigma of the images at `data` (a folder or a dataset dir) as `out`, a
// pytorch-fid .npz, with the sidecar out.json (images, source, extractor identity). `out` empty:
// <folder name>-fid-stats-<preprocessing>.npz. Collective over the ranks; rank 0 writes.
WrittenStats write_reference_stats(const std::string& data, const std::string& out, const ExtractorSettings& settings);

}  // namespace scorch::eval
