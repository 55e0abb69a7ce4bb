// Registration of the subcommands: each adds itself to the CLI and sets the action main() runs.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace scorch::apps {

using Action = std::function<int()>;

void add_info_command(CLI::App& app, Action& action);
void add_train_command(CLI::App& app, Action& action);
void add_sample_command(CLI::App& app, Action& action);
void add_fid_command(CLI::App& app, Action& action);
void add_data_command(CLI::App& app, Action& action);
void add_convert_command(CLI::App& app, Action& action);
void add_model_command(CLI::App& app, Action& action);
void add_lab_command(CLI::App& app, Action& action);

// Builds the whole CLI, parses argv and runs the chosen subcommand; returns its exit code.
int run_cli(int argc, char** argv);

}  // namespace scorch::apps
