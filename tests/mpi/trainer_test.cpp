// The trainer under mpirun -np 2: data parallelism equals one rank with the whole batch, gradient
// checkpointing leaves the averaged gradients alone, exact resume with two ranks, resuming a one-rank run
// with two ranks, and the EMA starting from rank 0's weights.
#include <gtest/gtest.h>

#include <functional>

#include "core/dist/communicator.h"
#include "core/dist/mpi_comm.h"
#include "core/error.h"
#include "data/synth.h"
#include "support/checks.h"
#include "support/run.h"
#include "trainer/trainer_test_util.h"

namespace scorch {
namespace {

using test::local;

using test::expect_same_state;
using test::tiny_train_config;

std::shared_ptr<dist::Communicator> world() { return dist::make_communicator("mpi", torch::kCPU); }

// A directory every rank sees (rank 0 makes it and its data with `prepare`).
std::string shared_root(dist::Communicator& comm, const std::string& tag,
                        const std::function<void(const std::string&)>& prepare) {
  std::string root;
  if (comm.rank() == 0) {
    root = test::temp_dir(tag);
    prepare(root);
  }
  comm.broadcast(root, 0);
  return root;
}

std::string shared_root(dist::Communicator& comm, const std::string& tag) {
  return shared_root(comm, tag, [](const std::string& root) { test::gaussian_dataset(root + "/data", 64); });
}

// Trains `config` on both ranks, then on rank 0 alone with the whole batch, and compares the states.
void expect_two_ranks_match_one(const std::shared_ptr<dist::Communicator>& comm, const std::string& root,
                                const Config& config) {
  trainer::Trainer two(config, root + "/two", comm, torch::kCPU);
  two.run();
  if (comm->rank() == 0) {
    trainer::Trainer one(config, root + "/one", local(), torch::kCPU);
    one.run();
    // Same examples and per-example noise; the gradient mean is summed in another order (two halves
    // averaged vs one mean): float32 round-off, amplified by Adam's normalisation to ~1e-6 of the weights.
    expect_same_state(one, two, 1e-5);
  }
  comm->barrier();
}

void expect_two_ranks_match_one(const std::string& tag, const std::vector<std::string>& settings) {
  auto comm = world();
  ASSERT_EQ(comm->world(), 2);
  const auto root = shared_root(*comm, tag);
  expect_two_ranks_match_one(comm, root, tiny_train_config(root + "/data", settings));
}

TEST(TrainerMpi, TwoRanksMatchOneRankWithTheWholeBatch) { expect_two_ranks_match_one("dp", {"training.n_iters=4"}); }

// Sliced score matching backpropagates through a graph built by autograd::grad with create_graph; the
// parameters' gradient hooks of the bucketed all-reduce must still see each parameter once.
TEST(TrainerMpi, SlicedScoreMatchingTwoRanksMatchOneRank) {
  expect_two_ranks_match_one("ssm", {"training.n_iters=3", "training.loss=ssm_vr"});
}

// The classifier task is data-parallel as the score model is: labels travel with their images to each rank,
// and two ranks' averaged cross-entropy gradients equal one rank's over the whole batch.
TEST(TrainerMpi, ClassifierTaskTwoRanksMatchOneRank) {
  auto comm = world();
  ASSERT_EQ(comm->world(), 2);
  const auto root = shared_root(*comm, "classifier", [](const std::string& r) {
    dist::LocalCommunicator one;
    data::synth_shapes(64, 16, 1, 0, "test", {r + "/shapes", 0, true}, one);
  });
  expect_two_ranks_match_one(
      comm, root,
      Config::resolve(test::source_dir() + "/configs/small/shapes_classifier.yaml",
                      {"data.path=" + root + "/shapes", "training.n_iters=3", "training.batch_size=8",
                       "training.eval_freq=0", "data.reader_threads=1"}));
}

// The recompute of a checkpointed block differentiates with respect to the block's parameters, and LibTorch
// hands those gradients to the parameters' tensor hooks as well; the bucketed all-reduce must count each
// parameter once, with its full gradient, or it reduces buckets before they are filled.
TEST(TrainerMpi, GradCheckpointingGivesTheSameAveragedGradients) {
  auto comm = world();
  const auto root = shared_root(*comm, "gradckpt");
  std::vector<std::vector<torch::Tensor>> grads;
  for (const std::string on : {"false", "true"}) {
    // Two micro-batches per rank: the buckets must get each rank's sum over both.
    trainer::Trainer t(tiny_train_config(root + "/data", {"training.n_iters=1", "training.micro_batch=2",
                                                          "model.grad_checkpointing=" + on}),
                       root + "/ckpt-" + on, comm, torch::kCPU);
    t.run();
    grads.emplace_back();
    for (const auto& p : t.model().parameters())
      if (p.requires_grad()) grads.back().push_back(p.grad().clone());
  }
  ASSERT_EQ(grads[0].size(), grads[1].size());
  double scale = 0;
  for (const auto& g : grads[0]) scale = std::max(scale, g.abs().max().item<double>());
  for (size_t i = 0; i < grads[0].size(); ++i) {
    // The recompute repeats the forward bit for bit; what remains is the order in which backward sums
    // contributions (the time embedding feeds every block): float32 round-off, far below 1e-6.
    const double err = (grads[1][i] - grads[0][i]).abs().max().item<double>();
    EXPECT_LE(err, 1e-6 * scale) << "parameter " << i << " on rank " << comm->rank();
  }
}

TEST(TrainerMpi, ResumeWithTwoRanksIsBitwiseIdentical) {
  auto comm = world();
  const auto root = shared_root(*comm, "resume2");
  auto config = tiny_train_config(root + "/data", {"model.dropout=0.1", "training.n_iters=6"});
  trainer::Trainer straight(config, root + "/straight", comm, torch::kCPU);
  straight.run();
  trainer::Trainer(tiny_train_config(root + "/data", {"model.dropout=0.1", "training.n_iters=3"}), root + "/split",
                   comm, torch::kCPU)
      .run();
  trainer::Trainer resumed(config, root + "/split", comm, torch::kCPU);
  EXPECT_EQ(resumed.resumed_from(), 3);
  resumed.run();
  expect_same_state(straight, resumed, 0.0);
}

TEST(TrainerMpi, OneRankRunResumesWithTwoRanks) {
  auto comm = world();
  const auto root = shared_root(*comm, "resumews");
  auto config = tiny_train_config(root + "/data", {"training.n_iters=6"});
  if (comm->rank() == 0)
    trainer::Trainer(tiny_train_config(root + "/data", {"training.n_iters=3"}), root + "/run", local(), torch::kCPU)
        .run();
  comm->barrier();
  trainer::Trainer resumed(config, root + "/run", comm, torch::kCPU);
  EXPECT_EQ(resumed.resumed_from(), 3);
  resumed.run();
  if (comm->rank() == 0) {
    trainer::Trainer straight(config, root + "/straight", local(), torch::kCPU);
    straight.run();
    // The data stream and every example's noise follow the global image count, so only the gradient's
    // summation order differs from the uninterrupted one-rank run (tolerance as above).
    expect_same_state(straight, resumed, 1e-5);
  }
  comm->barrier();
}

// Ranks that built different initial weights (here from different seeds) all start from rank 0's, and so
// must their EMAs: an average that began from a rank's own weights would differ between ranks forever.
// Ranks started with different configs (an MPMD launch with a --set on one side): rank 1's wider network broadcast
// and all-reduced tensors of other sizes, which corrupted its heap (malloc's abort). `scorch train` now checks
// first: both ranks throw before any tensor moves, the differing rank naming the key and both values; equal
// configs pass.
TEST(TrainerMpi, RanksWithDifferentConfigsBothRefuseNamingTheKey) {
  auto comm = world();
  ASSERT_EQ(comm->world(), 2);
  const auto root = shared_root(*comm, "differ");
  std::vector<std::string> sets = {"training.n_iters=2"};
  if (comm->rank() == 1) sets.push_back("model.nf=16");
  const auto config = tiny_train_config(root + "/data", sets);
  std::string message;
  try {
    trainer::check_ranks_agree(config, *comm);
  } catch (const Error& e) {
    message = e.message();
  }
  EXPECT_FALSE(message.empty()) << "rank " << comm->rank() << " passed";
  const char* expected = comm->rank() == 1 ? "model.nf = 16 (rank 0: 8)" : "another rank's config differs";
  EXPECT_TRUE(test::contains(message, expected)) << message;
  EXPECT_NO_THROW(trainer::check_ranks_agree(tiny_train_config(root + "/data", {"training.n_iters=2"}), *comm));
  comm->barrier();
}

TEST(TrainerMpi, EmaStartsFromTheBroadcastWeights) {
  auto comm = world();
  const auto root = shared_root(*comm, "emastart");
  const auto config = tiny_train_config(root + "/data", {"training.n_iters=0", "seed=" + std::to_string(comm->rank())});
  trainer::Trainer t(config, root + "/run", comm, torch::kCPU);
  auto params = t.model().named_parameters();
  for (const auto& [name, shadow] : t.ema().shadow()) EXPECT_TRUE(torch::equal(shadow, params[name])) << name;
}

}  // namespace
}  // namespace scorch
