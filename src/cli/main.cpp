// parley: the command-line front door. One subcommand per file (serve.cpp, ...).
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "core/log.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Parley: a real-time chat server that never loses a conversation"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", PARLEY_VERSION);
  parley::cli::Registry registry;
  parley::cli::add_serve(app, registry);
  parley::cli::add_extra_commands(app, registry);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (app.get_subcommands().empty()) return registry.run_default();
  return registry.result;
}
