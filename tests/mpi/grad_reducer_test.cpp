// GradReducer under mpirun -np 2: bucketed, overlapped all-reduce equals averaging each gradient directly.
#include "trainer/grad_reducer.h"

#include <gtest/gtest.h>

#include "core/dist/communicator.h"

namespace scorch {
namespace {

struct Net : torch::nn::Module {
  Net() {
    a = register_module("a", torch::nn::Linear(8, 16));
    b = register_module("b", torch::nn::Linear(16, 16));
    unused = register_module("unused", torch::nn::Linear(4, 4));
    c = register_module("c", torch::nn::Linear(16, 2));
  }
  torch::Tensor forward(torch::Tensor x) { return c(torch::tanh(b(torch::tanh(a(x))))); }
  torch::nn::Linear a{nullptr}, b{nullptr}, unused{nullptr}, c{nullptr};
};

// Reference: per-rank gradient sums, all-gathered and averaged by hand.
std::vector<torch::Tensor> reference_grads(Net& net, dist::Communicator& comm, const std::vector<torch::Tensor>& xs) {
  net.zero_grad();
  for (const auto& x : xs) net.forward(x).pow(2).sum().backward();
  std::vector<torch::Tensor> out;
  for (auto& p : net.parameters()) {
    auto g = p.grad().defined() ? p.grad().contiguous() : torch::zeros_like(p);
    out.push_back(comm.all_gather(g).mean(0));
  }
  return out;
}

// The reducer sums the same float32 gradients as the reference, in buckets and in another order: round-off
// of a few ulps (relative 1e-6, absolute 1e-7 for entries near zero), nothing a wrong bucket could stay within.
void expect_close(const std::vector<torch::Tensor>& got, const std::vector<torch::Tensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_TRUE(torch::allclose(got[i], want[i], 1e-6, 1e-7)) << "parameter " << i;
}

class GradReducerTest : public ::testing::TestWithParam<double> {};

TEST_P(GradReducerTest, MatchesDirectAveragingWithMicroBatches) {
  auto comm = dist::make_communicator("mpi", torch::Device(torch::kCPU));
  torch::manual_seed(0);  // same weights on every rank
  Net net;
  torch::manual_seed(100 + comm->rank());  // different data per rank
  std::vector<torch::Tensor> xs = {torch::randn({5, 8}), torch::randn({5, 8}), torch::randn({5, 8})};
  auto want = reference_grads(net, *comm, xs);

  trainer::GradReducer reducer(comm, net.parameters(), GetParam());
  EXPECT_GE(reducer.num_buckets(), 1);
  for (int step = 0; step < 2; ++step) {  // the reducer is reusable across steps
    net.zero_grad();
    for (size_t m = 0; m < xs.size(); ++m) {
      reducer.arm(m + 1 == xs.size());
      net.forward(xs[m]).pow(2).sum().backward();
    }
    reducer.finish();
    std::vector<torch::Tensor> got;
    for (auto& p : net.parameters()) got.push_back(p.grad());
    expect_close(got, want);
  }
}

// 1e-9 MiB: one parameter per bucket; 1 MiB: everything in one bucket.
INSTANTIATE_TEST_SUITE_P(BucketSizes, GradReducerTest, ::testing::Values(1e-9, 0.0005, 1.0));

}  // namespace
}  // namespace scorch
