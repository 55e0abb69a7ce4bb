// Config values as the option table types them: numbers yaml-cpp can convert, booleans, switches, and lists
// written in YAML or Python's tuple style.
#pragma once
#include <yaml-cpp/yaml.h>

#include <string>

#include "core/config.h"

namespace scorch {

// The value normalised to the option's type (a Python-style "(1, 2)" list becomes a sequence, a null string
// ""), or throws naming the key, its source, the value and what was expected, with the key's help as hint.
YAML::Node typed_value(const OptionSpec& spec, const YAML::Node& n, const std::string& source);

}  // namespace scorch
