// Precompiled header: the heavy, stable third-party headers every part includes.
#pragma once
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
