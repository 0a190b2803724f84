// Subcommand registration. Each subcommand file adds itself to the CLI11 app and sets
// `Registry::result` from its callback.
#pragma once

#include <CLI/App.hpp>
#include <functional>

namespace parley::cli {

struct Registry {
  int result = 0;
  std::function<int()> run_default;  // `parley` with no subcommand: serve
};

void add_serve(CLI::App& app, Registry& registry);
// Subcommands contributed by other files (protocol-test-server, import, export, ...).
void add_extra_commands(CLI::App& app, Registry& registry);

// Data commands (export.cpp, import.cpp, ...), registered by add_extra_commands.
void add_export_command(CLI::App& app, Registry& registry);
void add_import_command(CLI::App& app, Registry& registry);
void add_cleanup_command(CLI::App& app, Registry& registry);
void add_migrate_command(CLI::App& app, Registry& registry);
void add_backup_commands(CLI::App& app, Registry& registry);  // backup, restore

}  // namespace parley::cli
