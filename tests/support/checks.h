// Small helpers the test files share (one definition, so that unity builds can batch the files together).
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <string>

#include "core/dist/mpi_comm.h"
#include "core/error.h"

namespace scorch::test {

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// max |a - b| / max |b| in float64 on the CPU: relative to the scale of the reference, so near-zero entries
// do not dominate; the error measure the parity tests state their tolerances in.
inline double max_rel(const torch::Tensor& a, const torch::Tensor& b) {
  auto x = a.detach().to(torch::kCPU, torch::kFloat64), y = b.detach().to(torch::kCPU, torch::kFloat64);
  return ((x - y).abs().max() / y.abs().max().clamp_min(1e-30)).item<double>();
}

// Element i of the flattened tensor as a double.
inline double at(const torch::Tensor& t, int64_t i = 0) { return t.flatten()[i].to(torch::kFloat64).item<double>(); }

// `f` throws scorch::Error whose message holds `part`.
template <typename F>
void expect_error_containing(F&& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no error thrown (expected one saying '" << part << "')";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), part)) << e.what() << "\n lacks: " << part;
  }
}

// A one-process communicator, for library code that takes one.
inline std::shared_ptr<dist::Communicator> local() { return std::make_shared<dist::LocalCommunicator>(); }

}  // namespace scorch::test
