// The storage backends the conformance suite runs against, each as a factory of fresh, empty
// databases. Adding a backend takes a factory and one line in all_backends() (backends.cpp);
// every test of store_conformance_test.cpp then runs on it too.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace parley::store::conformance {

struct Backend {
  std::string name;  // the test-name suffix: letters, digits and '_' only
  // A fresh, empty database for one test. `scratch` is an empty directory that the test
  // owns and removes afterwards (files, sockets...). Called once per test.
  std::function<Result<std::shared_ptr<Database>>(const std::filesystem::path& scratch)> make;
};

// GoogleTest prints a test's parameter by its name (not as bytes).
inline void PrintTo(const Backend& backend, std::ostream* os) { *os << backend.name; }

// Memory and SQLite always; PostgreSQL when built and PARLEY_TEST_PG_URL names a server.
std::vector<Backend> all_backends();

#ifdef PARLEY_TEST_PG_BACKEND
// Defined in backends_pg.cpp: fresh databases on the server at `url` (for example one
// scratch schema per test).
Backend postgres_backend(std::string url);
#endif

}  // namespace parley::store::conformance
