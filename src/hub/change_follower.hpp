// Follows the store's change log (store.hpp, ConversationStore::changes_after) so that live
// rooms see what another process did to their conversations: `parley import` replacing one,
// `parley cleanup` pruning it, another server's REST PUT, DELETE or retention. Every
// `interval` it asks a reader thread for the changes numbered above the last it saw, and
// invalidates the live room of each changed conversation (Hub::invalidate): the room forgets
// its cached messages, read seqs and last seq, and its next join or history read comes from
// storage. The server's own changes come back too; invalidating their rooms again costs one
// reload each.
//
// Works alike on SQLite and PostgreSQL (the log is a table every writer fills in the changing
// transaction), with any number of processes on the database. Owned by the composition root;
// start() once after the hub exists, stop() before it goes. Thread-safe.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace parley::hub {

class Hub;

class ChangeFollower {
 public:
  ChangeFollower(boost::asio::any_io_executor executor, Hub& hub,
                 std::chrono::milliseconds interval);
  ~ChangeFollower();
  ChangeFollower(const ChangeFollower&) = delete;
  ChangeFollower& operator=(const ChangeFollower&) = delete;

  // Reads the log's current number (changes before start are not news: no room is live),
  // then polls every interval. Idempotent stop().
  void start();
  void stop();

  // Called after each poll with the number of conversations found changed (tests, logs).
  // Set before start().
  void on_poll(std::function<void(std::size_t changed)> fn);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace parley::hub
