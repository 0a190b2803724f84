// Where the hub's messages go to be stored: the outage spool in front of Storage (with
// PostgreSQL), which keeps accepting while the database is away. The hub is handed one and
// never learns which: a message is either committed (with its seq) or pending (durable in the
// spool, seq 0) and stored later, in order. Thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>

#include "core/error.hpp"
#include "core/model.hpp"

namespace parley::store {

class Appender {
 public:
  // pending: the message is durable but not in the database yet (seq 0); its final seq
  // comes later through the `stored` callback.
  using Done = std::function<void(Result<Appended>, bool pending)>;
  using Stored = std::function<void(const Appended&)>;
  struct Backlog {
    bool healthy = false;    // it can take messages (no sticky write failure)
    std::size_t queued = 0;  // messages waiting for the database
  };

  virtual ~Appender() = default;
  // Appends `msg`; `done` runs once, on a storage or spool thread. A repeated (conversation,
  // sender, client_id) yields the original message with duplicate set.
  virtual void append(NewMessage msg, Done done) = 0;
  // `fn` gets each pending message once it is stored, with its final seq, in the order the
  // pending messages were accepted (duplicate set when another message under the same client
  // id was stored first). Any thread. Set before serving.
  virtual void set_on_stored(Stored fn) = 0;
  // What waits for the database now.
  virtual Backlog backlog() const = 0;
};

}  // namespace parley::store
