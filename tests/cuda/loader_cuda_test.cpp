// The loader's CUDA path (pinned host batches, asynchronous copies) delivers exactly the CPU batches.
#include "cuda/cuda_test_util.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "trainer/trainer_test_util.h"

namespace scorch {
namespace {

TEST(LoaderCuda, PinnedPathEqualsCpuBatchesOverTwoEpochs) {
  SCORCH_REQUIRE_CUDA();
  const auto root = test::temp_dir("loader-cuda");
  auto dataset = std::make_shared<data::Dataset>(test::gaussian_dataset(root + "/data", 40));
  data::LoaderOptions o;
  o.global_batch = 8;
  o.transform.random_flip = true;  // the flips must come out the same as well
  data::Loader cpu(dataset, o);
  o.device = test::kCuda;
  data::Loader gpu(dataset, o);
  const int64_t batches = 2 * cpu.batches_per_epoch();
  ASSERT_GE(batches, 10);
  for (int64_t b = 0; b < batches; ++b) {
    auto want = cpu.next();
    auto got = gpu.next();
    ASSERT_TRUE(got.images.is_cuda()) << "batch " << b;
    EXPECT_TRUE(torch::equal(got.images.cpu(), want.images)) << "batch " << b;
    EXPECT_TRUE(torch::equal(got.indices.cpu(), want.indices.cpu())) << "batch " << b;
  }
}

}  // namespace
}  // namespace scorch
