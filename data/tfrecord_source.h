// TFRecord image sets as `scorch data pack` reads them: score_sde's CelebA-HQ/FFHQ files written by the
// progressive-GAN dataset tool, and the plain `image/encoded` layout of other TensorFlow pipelines.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/sources.h"

namespace scorch::data {

struct TfrecordOptions {
  // Picks the level of a progressive-GAN set (NAME-rNN.tfrecords holds 2^NN x 2^NN images); 0 takes the
  // only level given. Images that are not this size are an error, never resized.
  int resolution = 0;
  bool grayscale = false;  // image/encoded layout: decode to one channel (default RGB)
};

// `inputs` are .tfrecords files or folders of them. Every record is read once here (both CRCs checked,
// the Example parsed) so that sizes and labels are known before anything is written. Two layouts:
//   progressive GAN: features `shape` int64 [C, H, W] and `data` bytes, uint8 C x H x W; labels, when the
//     dataset tool wrote them, in NAME-rxx.labels (a .npy of N class ids or N x K one-hot rows).
//   image/encoded: PNG/JPEG bytes in `image/encoded`, the label in `image/class/label` when present.
std::unique_ptr<Source> open_tfrecords(const std::vector<std::string>& inputs, const TfrecordOptions& options);

// The .tfrecords files named by `inputs` (folders listed), narrowed to one progressive-GAN level.
std::vector<std::string> tfrecord_files(const std::vector<std::string>& inputs, int resolution);

}  // namespace scorch::data
