// Periodic retention inside the server: every `interval`, each conversation's policy (the
// global default, RETENTION_KEEP_LAST / RETENTION_MAX_AGE, with the conversation's own
// settings.keep_last / settings.max_age replacing the default's rule of the same name) is
// applied with Connection::prune on the storage writer, one conversation per write job so
// that appends interleave. Live rooms then drop the removed messages from their caches
// (Hub::pruned). A pass still running when the next one is due makes that one skip.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <memory>

#include "store/retention.hpp"

namespace parley::hub {
class Hub;
}

namespace parley::app {

class Retention {
 public:
  struct Options {
    store::RetentionPolicy defaults;
    std::chrono::milliseconds interval{std::chrono::hours(1)};
  };

  Retention(boost::asio::any_io_executor executor, hub::Hub& hub, Options options);
  ~Retention();
  Retention(const Retention&) = delete;
  Retention& operator=(const Retention&) = delete;

  // Runs a pass every interval, the first one interval after start(). Idempotent stop().
  void start();
  void stop();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace parley::app
