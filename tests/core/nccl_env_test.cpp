// scorch's NCCL defaults: set where the environment is silent, never over a user's own setting.
#include "core/dist/nccl_env.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace scorch::dist {
namespace {

// Puts the variable back as the test found it.
class SavedVariable {
 public:
  explicit SavedVariable(const char* name) : name_(name) {
    if (const char* v = std::getenv(name)) value_ = v;
  }
  ~SavedVariable() {
    if (value_)
      setenv(name_, value_->c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> value_;
};

TEST(NcclDefaults, GraphRegistrationIsOffUnlessTheUserChose) {
  SavedVariable saved("NCCL_GRAPH_REGISTER");
  unsetenv("NCCL_GRAPH_REGISTER");
  EXPECT_EQ(set_nccl_defaults(), std::vector<std::string>{"NCCL_GRAPH_REGISTER=0"});
  ASSERT_NE(std::getenv("NCCL_GRAPH_REGISTER"), nullptr);
  EXPECT_STREQ(std::getenv("NCCL_GRAPH_REGISTER"), "0");

  setenv("NCCL_GRAPH_REGISTER", "1", 1);
  EXPECT_TRUE(set_nccl_defaults().empty()) << "a user's export wins and is not reported as scorch's";
  EXPECT_STREQ(std::getenv("NCCL_GRAPH_REGISTER"), "1");
}

}  // namespace
}  // namespace scorch::dist
