// A message bus between Parley servers (PROTOCOL.md "Several servers"). The hub publishes
// each committed or ephemeral event it fans out locally; every other server's hub receives
// it and delivers it to its own rooms. Payloads are opaque strings (bus/event_codec.hpp encodes
// them). Implementations: redis/ (REDIS_URL) and memory_broker.hpp (one process: the
// reference, for tests). Without a broker nothing is published.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace parley::bus {

class Broker {
 public:
  struct Handlers {
    // A payload published by any server (this one included: callers filter by origin).
    // Runs on the broker's subscriber thread: post to your own executor.
    std::function<void(std::string_view payload)> on_message;
    // The subscription was (re)established after a loss: events published meanwhile were
    // missed, so committed state must be caught up from the store (rooms fill gaps by seq).
    std::function<void()> on_resubscribed;
  };

  virtual ~Broker() = default;
  // Starts delivering to `handlers` (from a dedicated thread).
  virtual void start(Handlers handlers) = 0;
  // Queues `payload` for publication; never blocks on the network. Payloads published while
  // the broker is unreachable are dropped (receivers catch up from the store).
  virtual void publish(std::string payload) = 0;
  // Whether both connections are up, for /health.
  virtual bool connected() const = 0;
  // Stops the threads. Idempotent.
  virtual void stop() = 0;
};

}  // namespace parley::bus
