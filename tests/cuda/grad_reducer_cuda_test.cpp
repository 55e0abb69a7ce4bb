// The GradReducer's CUDA path (side stream, events) on one GPU, through a fake two-rank communicator.
#include "core/dist/communicator.h"
#include "core/models/grad_checkpoint.h"
#include "cuda/cuda_test_util.h"
#include "trainer/grad_reducer.h"

namespace scorch {
namespace {

using test::kCuda;

// Pretends to be rank 0 of 2 whose peer holds the same gradients: the sum doubles them. Each reduction
// first keeps the stream busy with a large matmul, so a reducer that read the buckets before waiting for
// the reduction stream would see the undoubled values (half the expected average).
class DoublingCudaComm : public dist::Communicator {
 public:
  DoublingCudaComm() : Communicator(0, 2) {}
  std::string backend() const override { return "fake-cuda-x2"; }
  torch::Device device() const override { return kCuda; }
  void all_reduce_sum(torch::Tensor& t) override {
    auto busy = torch::randn({2048, 2048}, t.options());
    for (int i = 0; i < 8; ++i) busy = torch::mm(busy, busy) / 2048.0;
    t.mul_(2.0);
    ++reductions;
  }
  void broadcast(torch::Tensor&, int) override {}
  torch::Tensor all_gather(const torch::Tensor& t) override { return torch::stack({t, t}); }
  using Communicator::all_gather;
  using Communicator::all_reduce_sum;
  using Communicator::broadcast;
  int reductions = 0;
};

struct Net : torch::nn::Module {
  explicit Net(bool checkpointing) : checkpointing(checkpointing) {
    a = register_module("a", torch::nn::Linear(64, 256));
    b = register_module("b", torch::nn::Linear(256, 256));
    unused = register_module("unused", torch::nn::Linear(4, 4));
    c = register_module("c", torch::nn::Linear(256, 8));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = torch::tanh(a(x));
    if (checkpointing) {
      auto fn = [this](const std::vector<torch::Tensor>& in) { return torch::tanh(b(in[0])); };
      h = models::checkpoint(fn, {h}, b->parameters());
    } else {
      h = torch::tanh(b(h));
    }
    return c(h);
  }
  bool checkpointing;
  torch::nn::Linear a{nullptr}, b{nullptr}, unused{nullptr}, c{nullptr};
};

// (checkpointing, bucket MiB): 1e-9 puts every parameter in a bucket of its own (many events and launches),
// 1 all of them in one bucket (whose count must not run out before the last gradient arrives).
class GradReducerCuda : public ::testing::TestWithParam<std::tuple<bool, double>> {};

TEST_P(GradReducerCuda, AveragesAfterTheReductionStreamWithMicroBatches) {
  SCORCH_REQUIRE_CUDA();
  test::NoTf32 fp32;
  torch::manual_seed(0);
  const auto [checkpointing, bucket_mb] = GetParam();
  Net net(checkpointing);
  net.to(kCuda);
  std::vector<torch::Tensor> xs;
  for (int i = 0; i < 3; ++i) xs.push_back(torch::randn({16, 64}, kCuda));
  // Reference: the plain sum of the micro-batch gradients (what the average over two equal ranks is).
  net.zero_grad();
  for (const auto& x : xs) net.forward(x).pow(2).sum().backward();
  std::vector<torch::Tensor> want;
  for (auto& p : net.parameters()) want.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));

  auto comm = std::make_shared<DoublingCudaComm>();
  trainer::GradReducer reducer(comm, net.parameters(), bucket_mb);
  for (int step = 0; step < 3; ++step) {
    net.zero_grad();
    for (size_t m = 0; m < xs.size(); ++m) {
      reducer.arm(m + 1 == xs.size());
      net.forward(xs[m]).pow(2).sum().backward();
    }
    reducer.finish();
    auto params = net.parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      ASSERT_TRUE(params[i].grad().defined()) << "parameter " << i;
      EXPECT_LE(test::max_rel(params[i].grad(), want[i]), 1e-6) << "step " << step << " parameter " << i;
    }
  }
  EXPECT_EQ(comm->reductions, 3 * reducer.num_buckets());
}

INSTANTIATE_TEST_SUITE_P(CheckpointingAndBuckets, GradReducerCuda,
                         ::testing::Combine(::testing::Bool(), ::testing::Values(1e-9, 1.0)), [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "checkpointed" : "plain") +
                                  (std::get<1>(info.param) < 1e-3 ? "_bucket_per_parameter" : "_one_bucket");
                         });

}  // namespace
}  // namespace scorch
