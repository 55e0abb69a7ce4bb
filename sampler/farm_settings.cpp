// A sample farm's settings: its farm.json identity, and the checks that a resume is of the same farm (farm_settings.h).
#include "sampler/farm_settings.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/atomic_file.h"
#include "core/error.h"

namespace scorch::sampler {

using nlohmann::json;

namespace {

Config from_yaml(const std::string& text, const std::string& source) {
  auto c = Config::defaults();
  c.merge_yaml(YAML::Load(text), source);
  return c;
}

// A weights digest (the model's, a classifier's) that one side lacks is compared on neither: farms started before
// digests were recorded resume as they did, on source, step and weights, and a dry run computes none.
void drop_digests_not_on_both(json& before, json& now) {
  const auto drop = [](json& a, json& b) {
    if (!a.is_object() || !b.is_object() || (a.contains("sha256") && b.contains("sha256"))) return;
    a.erase("sha256");
    b.erase("sha256");
  };
  if (!before.contains("model") || !now.contains("model")) return;
  drop(before["model"], now["model"]);
  if (before["model"].is_object() && before["model"].contains("classifier") && now["model"].is_object() &&
      now["model"].contains("classifier"))
    drop(before["model"]["classifier"], now["model"]["classifier"]);
}

// The first top-level key whose value differs, for the refusal message.
std::string first_difference(const json& a, const json& b) {
  for (const auto& [key, value] : a.items())
    if (!b.contains(key) || b.at(key) != value) return key;
  for (const auto& [key, value] : b.items())
    if (!a.contains(key)) return key;
  return "";
}

}  // namespace

bool decides_samples(const OptionSpec& option) {
  if (option.key == "sampling.cuda_graph" || option.key == "sampling.channels_last") return false;
  return option.scope == Scope::Network || option.scope == Scope::Objective || option.scope == Scope::Sampling;
}

ConfigDifference first_sample_difference(const std::string& before_yaml, const std::string& before_source,
                                         const std::string& now_yaml) {
  const auto before = from_yaml(before_yaml, before_source), now = from_yaml(now_yaml, "this run's config");
  for (const auto& o : option_table()) {
    if (!decides_samples(o)) continue;
    if (before.value_text(o.key) != now.value_text(o.key))
      return {o.key, before.value_text(o.key), now.value_text(o.key)};
  }
  return {};
}

json farm_identity(const std::vector<int64_t>& s, const Config& config, const FarmOptions& o) {
  json id = {{"format", "scorch-sample-farm"},
             {"version", 1},
             {"num", o.num},
             {"batch", o.batch},
             {"seed", o.seed},
             {"image_shape", {s[1], s[2], s[0]}},
             {"model", o.model},
             {"config", config.to_yaml()}};
  // Only when on, so that farms written before the flags existed still resume.
  if (o.float_samples) id["float"] = true;
  if (o.points) id["points"] = true;
  if (!o.classes.empty()) id["classes"] = o.classes;
  if (!o.task.is_null()) id["task"] = o.task;
  return id;
}

json read_farm_file(const std::string& path, const FarmOptions& o) {
  json j;
  std::string problem;
  try {
    j = json::parse(read_file(path));
    if (!j.is_object()) problem = fmt::format("a JSON {}, not an object", j.type_name());
  } catch (const json::exception& e) {
    problem = e.what();
  }
  SCORCH_CHECK_HINT(problem.empty(), "use another --out, or " + o.start_over,
                    "{} is not a sample farm's settings file scorch can read ({}), so what {} holds cannot be "
                    "resumed",
                    path, problem, o.out);
  return j;
}

void check_same_farm(json before, json now, const std::string& farm_file, const FarmOptions& o) {
  drop_digests_not_on_both(before, now);
  const std::string before_config = before.value("config", ""), now_config = now.value("config", "");
  before.erase("config");
  now.erase("config");
  const std::string key = first_difference(before, now);
  SCORCH_CHECK_HINT(key.empty(), "use another --out, or " + o.start_over,
                    "{} holds samples made with different settings ('{}' differs: was {}, now {}); resuming would "
                    "mix two sample sets",
                    o.out, key, before.value(key, json()).dump(), now.value(key, json()).dump());
  const auto d = first_sample_difference(before_config, farm_file, now_config);
  SCORCH_CHECK_HINT(d.key.empty(), "use another --out, or " + o.start_over,
                    "{} holds samples made with different settings (config key {} differs: was {}, now {}); "
                    "resuming would mix two sample sets",
                    o.out, d.key, d.before, d.now);
}

}  // namespace scorch::sampler
