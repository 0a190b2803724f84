// PostgreSQL for the conformance suite: each test gets a scratch schema of its own on the
// server at PARLEY_TEST_PG_URL (tests may run in parallel), opened through open_database()
// like a configured server, and dropped when the test lets go of its Database.
#include <memory>
#include <utility>

#include "backends.hpp"
#include "store/postgres/scratch_schema.hpp"

namespace parley::store::conformance {
namespace {

class ScratchPgDatabase final : public Database {
 public:
  ScratchPgDatabase(std::shared_ptr<Database> db, std::string server, std::string schema)
      : db_(std::move(db)), server_(std::move(server)), schema_(std::move(schema)) {}
  ~ScratchPgDatabase() override {
    db_.reset();
    (void)postgres::drop_scratch_schema(server_, schema_);
  }
  std::string_view kind() const noexcept override { return db_->kind(); }
  bool persistent() const noexcept override { return db_->persistent(); }
  [[nodiscard]] Result<std::unique_ptr<Connection>> connect() override { return db_->connect(); }

 private:
  std::shared_ptr<Database> db_;
  std::string server_, schema_;
};

}  // namespace

Backend postgres_backend(std::string url) {
  return {"postgresql", [url](const std::filesystem::path&) -> Result<std::shared_ptr<Database>> {
            const std::string schema = postgres::scratch_schema_name("conformance");
            auto scratch_url = postgres::create_scratch_schema(url, schema);
            if (!scratch_url) return scratch_url.error();
            StoreConfig config;
            config.database_url = *scratch_url;
            auto db = open_database(config);
            if (!db) return db.error();
            return std::shared_ptr<Database>(
                std::make_shared<ScratchPgDatabase>(std::move(*db), url, schema));
          }};
}

}  // namespace parley::store::conformance
