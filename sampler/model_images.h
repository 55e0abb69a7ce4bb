// Dataset images as a sampler's model takes them: the shape check, and contiguous batches.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "data/dataset.h"

namespace scorch::sampler {

// Throws, naming the directory, unless `ds` holds images (at least one) of the model's (C, H, W) `image_shape`.
void check_model_images(const data::Dataset& ds, const std::vector<int64_t>& image_shape);

// Throws, naming the flag and the directory, when a given --num (`num` > 0) exceeds the images `ds` holds: it was
// clamped to them without a word. 0 (not given) passes.
void check_num_within(int64_t num, const data::Dataset& ds);

// Items [first, first + n) as uint8 (n, H, W, C), as stored.
torch::Tensor read_pixels(const data::Dataset& ds, int64_t first, int64_t n);

// The same as float32 (n, C, H, W) in [0, 1] on `device` (the trainer's data scaler before centering).
torch::Tensor read_unit_images(const data::Dataset& ds, int64_t first, int64_t n, const torch::Device& device);

// The rows a batch from `first` is solved with: the whole `batch` as far as the `available` rows go (the dataset's,
// a file's), of which the caller keeps those --num asks for. A batch's results then do not depend on where --num
// cuts it (its rows share an adaptive solver's steps, and its noise is drawn for the whole batch), and no more
// rows are solved than the data holds.
int64_t whole_batch_rows(int64_t first, int64_t batch, int64_t available);

}  // namespace scorch::sampler
