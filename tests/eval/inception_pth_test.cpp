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
  auto state = py::dict(/*ordered=*/true);
  for (auto& p : source->named_parameters()) state->set(py::str(p.key()), py::tensor(p.value().detach()));
  for (auto& b : source->named_buffers()) state->set(py::str(b.key()), py::tensor(b.value().detach()));
  const auto path = test::temp_dir("inception_pth") + "/weights.pth";
  write_torch_file(path, state);

  const auto read = read_pth(path);
  ASSERT_EQ(read.size(), state->entries.size());
  for (auto& p : source->named_parameters()) EXPECT_TRUE(torch::equal(read.at(p.key()), p.value())) << p.key();
  InceptionV3 target;
  const auto info = load_weights(target, path);
  EXPECT_EQ(info.format, "pth");
  EXPECT_TRUE(info.has_logits);

  auto not_tensors = py::dict();
  not_tensors->set(py::str("epoch"), py::integer(3));
  write_torch_file(path, not_tensors);
  EXPECT_THROW(read_pth(path), Error);
}

}  // namespace
}  // namespace scorch::eval
