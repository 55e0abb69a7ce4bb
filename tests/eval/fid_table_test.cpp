// The FID table's reader: rows a later step relies on (an integer step, settings, a numeric fid) are checked when
// fid.json is read, and a damaged row is an error naming the file and the row; a sound table reads and grows.
#include "eval/fid_table.h"

#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "support/checks.h"
#include "support/run.h"

namespace scorch {
namespace fid_table {

using nlohmann::json;

json row(const json& step, double fid) {
  return {{"step", step}, {"checkpoint", "ckpt"}, {"settings", {{"num", 8}}}, {"fid", fid}};
}

void write_table(const std::string& dir, const json& rows) {
  write_file_atomic(dir + "/fid.json", json{{"format", "scorch-fid-table"}, {"version", 1}, {"rows", rows}}.dump());
}

TEST(FidTable, ASoundTableIsReadAndKeepsItsRowsInStepOrder) {
  const auto dir = test::temp_dir("fid_table_sound");
  write_table(dir, json::array({row(20, 3.5)}));
  eval::FidTable table(dir);
  table.add(row(10, 4.5));
  EXPECT_EQ(table.find(10, {{"num", 8}}).at("fid"), 4.5);
  EXPECT_EQ(table.find(20, {{"num", 8}}).at("fid"), 3.5);
  EXPECT_TRUE(table.find(30, {{"num", 8}}).is_null());
}

TEST(FidTable, ADamagedRowIsAnErrorNamingTheFileAndTheRow) {
  const std::vector<std::pair<json, std::string>> cases = {
      {row(2.5, 1.0), "rows[1].step"},
      {row(1e300, 1.0), "rows[1].step"},
      {row("30", 1.0), "rows[1].step"},
      {json{{"step", 30}, {"fid", 1.0}}, "rows[1]"},
      {json{{"step", 30}, {"settings", json::object()}, {"fid", "low"}}, "rows[1]"},
      {json(7), "rows[1]"},
  };
  for (const auto& [bad, where] : cases) {
    const auto dir = test::temp_dir("fid_table_damaged");
    write_table(dir, json::array({row(10, 4.5), bad}));
    eval::FidTable table(dir);
    test::expect_error_containing([&] { table.find(10, {{"num", 8}}); }, "fid.json: " + where);
    test::expect_error_containing([&] { table.add(row(40, 2.0)); }, "fid.json: " + where);
  }
}

}  // namespace fid_table
}  // namespace scorch
