// Precompiled header: the heavy, stable third-party headers every part includes.
#pragma once
#include <torch/torch.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>
