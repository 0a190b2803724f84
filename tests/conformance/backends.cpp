#include "backends.hpp"

#include <cstdlib>

namespace parley::store::conformance {

std::vector<Backend> all_backends() {
  std::vector<Backend> backends;
  // Both go through open_database(), so the configuration paths are exercised too.
  backends.push_back({"memory", [](const std::filesystem::path&) {
                        StoreConfig config;
                        config.sqlite_path = "memory:";
                        return open_database(config);
                      }});
  backends.push_back({"sqlite", [](const std::filesystem::path& scratch) {
                        StoreConfig config;
                        // A folder that does not exist yet: open_database creates it.
                        config.sqlite_path = (scratch / "data" / "parley.db").string();
                        return open_database(config);
                      }});
#ifdef PARLEY_TEST_PG_BACKEND
  if (const char* url = std::getenv("PARLEY_TEST_PG_URL"); url != nullptr && *url != '\0') {
    backends.push_back(postgres_backend(url));
  }
#endif
  return backends;
}

}  // namespace parley::store::conformance
