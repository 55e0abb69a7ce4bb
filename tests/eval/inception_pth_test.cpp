// pytorch-fid's weights file is torch.save of an OrderedDict state_dict: read_pth takes it (and plain dicts),
// through the shared torch.save reader, and loads it into the FID Inception.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/io/torch_file.h"
#include "eval/inception_weights.h"
#include "support/run.h"

namespace scorch::eval {
namespace {

TEST(InceptionPth, OrderedDictStateDictLoadsIntoTheNetwork) {
  torch::manual_seed(3);
  InceptionV3 source;
  auto state = io::py::dict(/*ordered=*/true);
  for (auto& p : source->named_parameters()) state->set(io::py::str(p.key()), io::py::tensor(p.value().detach()));
  for (auto& b : source->named_buffers()) state->set(io::py::str(b.key()), io::py::tensor(b.value().detach()));
  const auto path = test::temp_dir("inception_pth") + "/weights.pth";
  io::write_torch_file(path, state);

  const auto read = read_pth(path);
  ASSERT_EQ(read.size(), state->entries.size());
  for (auto& p : source->named_parameters()) EXPECT_TRUE(torch::equal(read.at(p.key()), p.value())) << p.key();
  InceptionV3 target;
  const auto info = load_weights(target, path);
  EXPECT_EQ(info.format, "pth");
  EXPECT_TRUE(info.has_logits);

  auto not_tensors = io::py::dict();
  not_tensors->set(io::py::str("epoch"), io::py::integer(3));
  io::write_torch_file(path, not_tensors);
  EXPECT_THROW(read_pth(path), Error);
}

}  // namespace
}  // namespace scorch::eval
