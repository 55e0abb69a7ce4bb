// The option table's scopes: a key scorch never reads must be marked informational (so --help says so), and
// one marked otherwise must have a reader, or `--model.conv_size 5` would again be accepted and ignored.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/config.h"
#include "support/run.h"

namespace scorch {
namespace {

namespace fs = std::filesystem;

// Every library source file (not the table itself), concatenated: a key is read where its quoted name appears.
std::string library_sources() {
  std::ostringstream all;
  for (const char* part : {"core", "data", "sampler", "trainer", "eval", "apps"})
    for (const auto& e : fs::recursive_directory_iterator(test::source_dir() + "/" + part)) {
      const auto ext = e.path().extension();
      if ((ext == ".cpp" || ext == ".h") && e.path().filename() != "config_options.cpp")
        all << std::ifstream(e.path()).rdbuf();
    }
  return all.str();
}

TEST(ConfigOptions, InformationalKeysAreExactlyTheUnreadOnes) {
  const std::string sources = library_sources();
  ASSERT_GT(sources.size(), 100000u);
  for (const auto& o : option_table()) {
    const bool read = sources.find("\"" + o.key + "\"") != std::string::npos;
    if (o.scope == Scope::Informational)
      EXPECT_FALSE(read) << o.key << " is read by scorch but marked informational";
    else
      EXPECT_TRUE(read) << o.key << " (" << scope_name(o.scope) << ") is never read: use it, refuse values scorch "
                        << "does not implement, or mark it informational";
  }
}

TEST(ConfigOptions, ScoreSdeEvaluationAndDatasetNamingKeysAreInformational) {
  for (const char* key :
       {"eval.begin_ckpt", "eval.end_ckpt", "eval.enable_sampling", "eval.enable_loss", "eval.enable_bpd",
        "eval.bpd_dataset", "data.dataset", "data.category", "data.tfrecords_path"})
    EXPECT_EQ(find_option(key)->scope, Scope::Informational) << key;
  EXPECT_EQ(find_option("model.grad_checkpointing")->scope, Scope::Runtime);
  EXPECT_EQ(find_option("model.dropout")->scope, Scope::Training);
  EXPECT_EQ(find_option("model.num_scales")->scope, Scope::Objective);
  EXPECT_EQ(find_option("model.conv_size")->scope, Scope::Network);
}

}  // namespace
}  // namespace scorch
