// The PostgreSQL schema migrations, embedded into the binary from migrations/NNN_name.sql by
// embed_migrations.cmake. Forward-only: migration N brings a database from version N-1 to N.
// Immutable data; thread-safe.
#pragma once

#include <span>
#include <string_view>

namespace parley::store::postgres {

struct Migration {
  int version;            // 1, 2, 3...: the schema version after this migration
  std::string_view name;  // the file name, "001_init.sql"
  std::string_view sql;   // one or more statements, run in one transaction
};

// Every migration, in version order, versions 1..n without gaps.
std::span<const Migration> migrations() noexcept;

}  // namespace parley::store::postgres
