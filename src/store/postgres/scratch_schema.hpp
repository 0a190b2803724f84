// Scratch schemas: a database of its own for each test or benchmark run, on one shared
// PostgreSQL server. A scratch schema is an empty schema; the URL returned for it sets
// search_path to it, so PgDatabase::open creates and migrates its tables there. Thread-safe
// (each call uses its own short-lived connection).
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace parley::store::postgres {

// A fresh schema name, unique across processes: "<prefix>_<pid>_<counter>_<random>".
std::string scratch_schema_name(std::string_view prefix);

// Creates schema `name` (dropping any schema of that name first) on the server at `url` and
// returns `url` with search_path set to it. unavailable if the server cannot be reached.
[[nodiscard]] Result<std::string> create_scratch_schema(const std::string& url,
                                                        const std::string& name);

// Drops schema `name` and everything in it.
[[nodiscard]] Result<void> drop_scratch_schema(const std::string& url, const std::string& name);

}  // namespace parley::store::postgres
