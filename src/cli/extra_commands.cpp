#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/protocol_test_server.hpp"

namespace parley::cli {

void add_extra_commands(CLI::App& app, Registry& registry) {
  add_export_command(app, registry);
  add_import_command(app, registry);
  add_cleanup_command(app, registry);
  add_migrate_command(app, registry);
  add_backup_commands(app, registry);
  auto port = std::make_shared<int>(3000);
  auto* cmd = app.add_subcommand(
      "protocol-test-server",
      "Run the reference server the Engine.IO/Socket.IO compliance suites expect");
  cmd->add_option("--port", *port, "Port")->capture_default_str();
  cmd->callback([port, &registry] { registry.result = run_protocol_test_server(*port); });
}

}  // namespace parley::cli
