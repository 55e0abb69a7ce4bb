// GradReducer in one process, with a stand-in for the second rank: which of backward's gradient events fill
// the buckets when a block is checkpointed (its parameters' gradients then come from a recompute).
#include "trainer/grad_reducer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/models/grad_checkpoint.h"

namespace scorch {
namespace {

// Rank 0 of two whose partner holds the same gradients: each all-reduce doubles the bucket, so the
// reducer's average must give back this process's own gradient sums, exactly (x2 and /2 are exact).
// It also records which threads reduced, and says whether a second thread may (MPI below THREAD_SERIALIZED may not).
class MirrorCommunicator : public dist::Communicator {
 public:
  explicit MirrorCommunicator(bool any_thread = true) : Communicator(0, 2), any_thread_(any_thread) {}
  std::string backend() const override { return "mirror"; }
  bool collectives_on_any_thread() const override { return any_thread_; }
  void all_reduce_sum(torch::Tensor& t) override {
    t.mul_(2);
    std::lock_guard<std::mutex> lock(mu_);
    threads_.insert(std::this_thread::get_id());
  }
  void broadcast(torch::Tensor&, int) override {}
  torch::Tensor all_gather(const torch::Tensor& t) override { return torch::stack({t, t}); }
  using Communicator::all_gather;
  using Communicator::all_reduce_sum;
  using Communicator::broadcast;
  std::set<std::thread::id> threads() {
    std::lock_guard<std::mutex> lock(mu_);
    return threads_;
  }

 private:
  bool any_thread_;
  std::mutex mu_;
  std::set<std::thread::id> threads_;
};

// Identity whose backward takes a while: time for the communication thread to reduce a bucket that was
// launched before all of its gradients were there, as it would be on the wire between two ranks.
struct SlowBackward : torch::autograd::Function<SlowBackward> {
  static torch::Tensor forward(torch::autograd::AutogradContext*, const torch::Tensor& x) { return x.clone(); }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list grad) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return grad;
  }
};

// `b` runs as a checkpointed block, so in backward its parameters' gradients are computed by the recompute.
// Its weight is read once more outside the block: its full gradient is the sum of both uses. `a`'s
// gradients come last, after a pause.
struct Net : torch::nn::Module {
  Net() {
    a = register_module("a", torch::nn::Linear(4, 8));
    b = register_module("b", torch::nn::Linear(8, 8));
    c = register_module("c", torch::nn::Linear(8, 2));
  }
  torch::Tensor loss(const torch::Tensor& x) {
    auto h = SlowBackward::apply(torch::tanh(a(x)));  // (N, 8)
    models::BlockFn block = [this](const std::vector<torch::Tensor>& in) { return torch::tanh(b(in[0])); };
    h = models::checkpoint(block, {h}, b->parameters());  // (N, 8)
    return c(h).pow(2).sum() + b->weight.square().sum();
  }
  torch::nn::Linear a{nullptr}, b{nullptr}, c{nullptr};
};

std::vector<torch::Tensor> grads(Net& net) {
  std::vector<torch::Tensor> out;
  for (auto& p : net.parameters()) out.push_back(p.grad().clone());
  return out;
}

// One armed backward of x through the reducer; the averages must give back `want`, the gradients of the same
// backward without it (the stand-in's x2 / 2 is exact; float32 round-off of another summation order would pass).
void reduce_and_expect(Net& net, trainer::GradReducer& reducer, const torch::Tensor& x,
                       const std::vector<torch::Tensor>& want) {
  net.zero_grad();
  reducer.arm(true);
  net.loss(x).backward();
  reducer.finish();
  const auto got = grads(net);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_LE((got[i] - want[i]).abs().max().item<double>(), 1e-6 * want[i].abs().max().item<double>()) << i;
}

class GradReducerCheckpointTest : public ::testing::TestWithParam<double> {};

TEST_P(GradReducerCheckpointTest, BucketsGetTheFullSumOfACheckpointedBlocksGradients) {
  torch::manual_seed(0);
  Net net;
  const std::vector<torch::Tensor> xs = {torch::randn({5, 4}), torch::randn({5, 4})};  // two micro-batches
  for (const auto& x : xs) net.loss(x).backward();
  const auto want = grads(net);

  trainer::GradReducer reducer(std::make_shared<MirrorCommunicator>(), net.parameters(), GetParam());
  for (int step = 0; step < 2; ++step) {  // the second step starts from buckets holding the first one's sums
    net.zero_grad();
    for (size_t m = 0; m < xs.size(); ++m) {
      reducer.arm(m + 1 == xs.size());
      net.loss(xs[m]).backward();
    }
    reducer.finish();
    const auto got = grads(net);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      // Same backward on the same inputs, and the stand-in's x2 / 2 is exact: the sums must come back as
      // they are; float32 round-off of a different summation order would still pass.
      const double err = (got[i] - want[i]).abs().max().item<double>();
      EXPECT_LE(err, 1e-6 * want[i].abs().max().item<double>()) << "step " << step << " parameter " << i;
    }
  }
}

// 1e-9 MiB: one parameter per bucket; 1 MiB: every parameter in one bucket.
INSTANTIATE_TEST_SUITE_P(BucketSizes, GradReducerCheckpointTest, ::testing::Values(1e-9, 1.0));

// Buckets are reduced while backward goes on, on the reducer's own thread, when the communicator allows it;
// otherwise all of them by finish(), on the caller's thread.
TEST(GradReducer, ReducesOnItsOwnThreadOnlyWhenTheCommunicatorAllowsIt) {
  for (bool any_thread : {true, false}) {
    torch::manual_seed(0);
    Net net;
    const auto x = torch::randn({5, 4});
    net.loss(x).backward();
    const auto want = grads(net);
    auto comm = std::make_shared<MirrorCommunicator>(any_thread);
    trainer::GradReducer reducer(comm, net.parameters(), 1e-9);
    reduce_and_expect(net, reducer, x, want);
    const std::set<std::thread::id> caller = {std::this_thread::get_id()};
    if (any_thread) {
      ASSERT_EQ(comm->threads().size(), 1u);
      EXPECT_NE(comm->threads(), caller) << "the reducer reduced on the caller's thread although it could overlap";
    } else {
      EXPECT_EQ(comm->threads(), caller) << "a second thread ran collectives the communicator does not allow there";
    }
  }
}

// A function whose backward runs a backward of its own into the weight (what a reentrant checkpoint does)
// makes the weight's accumulator run twice in one pass; by then its bucket may be on the wire.
struct NestedBackward : torch::autograd::Function<NestedBackward> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, torch::Tensor x,
                                                torch::Tensor w) {
    ctx->saved_data["w"] = w;
    return {x.clone()};
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    auto w = ctx->saved_data["w"].toTensor();
    torch::AutoGradMode grad_on(true);
    torch::autograd::backward({w.square().sum()});
    return {grad[0], torch::Tensor()};
  }
};

TEST(GradReducer, RefusesAParameterThatGetsItsGradientTwiceInOneBackward) {
  auto w = torch::randn({3}, torch::requires_grad());
  auto x = torch::randn({3}, torch::requires_grad());
  trainer::GradReducer reducer(std::make_shared<MirrorCommunicator>(), {w}, 1.0);
  reducer.arm(true);
  auto y = NestedBackward::apply(x * w, w)[0];
  EXPECT_THROW(y.sum().backward(), Error);
}

// Before a CUDA-graph capture the reducer makes the parameters' accumulators anew (on the capture's stream):
// the old ones are let go of (only then does autograd make new ones), each new one carries the reducer's one
// hook, and the buckets average as before.
TEST(GradReducer, ReattachedAccumulatorsCarryTheHooksAndStillAverage) {
  torch::manual_seed(0);
  Net net;
  const auto x = torch::randn({5, 4});
  net.loss(x).backward();
  const auto want = grads(net);
  auto params = net.parameters();
  trainer::GradReducer reducer(std::make_shared<MirrorCommunicator>(), params, 1e-9);
  std::vector<std::weak_ptr<torch::autograd::Node>> before;
  for (const auto& p : params) before.push_back(torch::autograd::impl::grad_accumulator(p));
  reducer.reattach_on_current_stream();
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(before[i].expired()) << "parameter " << i << " kept its accumulator";
    EXPECT_EQ(torch::autograd::impl::grad_accumulator(params[i])->post_hooks().size(), 1u) << "parameter " << i;
  }
  reduce_and_expect(net, reducer, x, want);
}

}  // namespace
}  // namespace scorch
