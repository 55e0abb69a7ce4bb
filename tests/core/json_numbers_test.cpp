// Integers read from JSON files: only integers within the type's range pass, and a refusal names the value.
#include "core/json_numbers.h"

#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "support/checks.h"

namespace scorch {
namespace {

using nlohmann::json;
using test::expect_error_containing;

TEST(JsonNumbers, IntegersInRangePassThroughParsedOrBuilt) {
  EXPECT_EQ(json_int64(json::parse("-9223372036854775808"), "x"), INT64_MIN);
  EXPECT_EQ(json_int64(json::parse("9223372036854775807"), "x"), INT64_MAX);
  EXPECT_EQ(json_uint64(json::parse("18446744073709551615"), "x"), UINT64_MAX);
  // Built from a signed C++ value a non-negative number is not "unsigned" to nlohmann: still accepted.
  EXPECT_EQ(json_uint64(json(int64_t{7}), "x"), 7u);
  EXPECT_EQ(json_int64_list(json::parse("[4, 5, 3]"), "x"), (std::vector<int64_t>{4, 5, 3}));
  EXPECT_EQ(json_uint64_list(json::parse("[0, 16]"), "x"), (std::vector<uint64_t>{0, 16}));
}

// What nlohmann's get<int64_t>() would cast without a word: floats (1e300 is undefined behaviour), numbers past
// INT64_MAX, and strings or negatives where an unsigned size is meant.
TEST(JsonNumbers, AnythingElseIsRefusedNamingTheValue) {
  for (const char* text : {"3.5", "1e300", "9223372036854775808", "\"7\"", "true", "null", "[1]"}) {
    SCOPED_TRACE(text);
    const auto f = [&] { json_int64(json::parse(text), "data/manifest.json: count"); };
    expect_error_containing(f, "data/manifest.json: count");
    expect_error_containing(f, "expected an integer");
  }
  expect_error_containing([] { json_uint64(json::parse("-1"), "offsets"); }, "from 0 to");
  expect_error_containing([] { json_uint64(json(int64_t{-1}), "offsets"); }, "from 0 to");
  expect_error_containing([] { json_int64_list(json::parse("[4, 1e300, 3]"), "shape"); }, "shape is 1e+300");
  expect_error_containing([] { json_int64_list(json::parse("4"), "shape"); }, "expected a list");
  // A forged value thousands of characters long is shown cut short.
  try {
    json_int64(json(std::string(3000, '8')), "shape");
    ADD_FAILURE() << "a string was taken for an integer";
  } catch (const Error& e) {
    EXPECT_LT(std::string(e.what()).size(), 400u) << e.what();
  }
}

}  // namespace
}  // namespace scorch
