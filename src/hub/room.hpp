// A room: the hub's live fan-out group of one conversation. It holds the members (sessions
// that joined), the most recent messages (filled from the commit path, never ahead of it),
// the read seqs it has learned and per-user connection counts for presence.
// Owned by its strand: every member function Requires: running on strand().
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/error.hpp"
#include "hub/session.hpp"
#include "protocol/command.hpp"

namespace parley::hub {

class Hub;

class Room : public std::enable_shared_from_this<Room> {
 public:
  using Strand = boost::asio::strand<boost::asio::any_io_executor>;

  Room(Hub& hub, ConversationId id, Strand strand);

  const ConversationId& id() const noexcept { return id_; }
  Strand& strand() noexcept { return strand_; }

  // Runs `fn` once the recent messages are loaded (at once if they are).
  void when_ready(std::function<void()> fn);
  bool is_ready() const noexcept { return state_ == State::ready; }

  // Membership. add_member returns false if the session was already a member. `user` is the
  // session's user as it was when the join was decided (the session's own field belongs to
  // its strand).
  bool add_member(const SessionPtr& session, const User& user, protocol::WireFormat format);
  void remove_member(const SessionPtr& session, bool disconnected);
  bool empty() const noexcept { return members_.empty(); }
  std::vector<UserId> online_users() const;
  bool idle_longer_than(std::chrono::steady_clock::duration d) const;

  // A committed message: cache it and fan it out (unless it is a duplicate). Messages
  // arrive in seq order.
  void on_commit(const protocol::MessagePtr& m);
  // A message this server committed: `ack` (the sender's reply) runs first, with the batch
  // of commits it belongs to, so a sender gets its ack and the fan-out in one write.
  void on_local_commit(const protocol::MessagePtr& m, std::function<void()> ack);
  // A message accepted into the outage spool (seq 0): fanned out, not cached.
  void on_pending(const protocol::MessagePtr& m);
  // Several servers (hub has a bus): a user became a member on another server (online) or
  // left every other server (offline); the hub counts servers.
  void on_remote_presence(const User& user, bool online, std::optional<TimeMs> last_seen);
  // Reads from storage the messages after last_seq() and delivers them in order (a gap
  // behind a held message, or a catch-up after the bus was lost).
  void fill_gap();
  // An edited or deleted message: replace the cached copy and fan out.
  void on_update(const protocol::MessagePtr& m, protocol::EventType type);
  void on_read(const User& user, Seq seq);
  void on_typing(const User& user, bool on);

  // Serves a page from the cache: nullopt when the cache does not cover it.
  //   since set: seq > since (first `limit`); before set: seq < before (last `limit`);
  //   neither: the last `limit` messages.
  std::optional<protocol::Reply> page(std::optional<Seq> after, std::optional<Seq> before,
                                      std::size_t limit) const;
  Seq last_seq() const noexcept { return last_seq_; }
  std::optional<Seq> known_read_seq(const UserId& user) const;
  void learn_read_seq(const UserId& user, Seq seq);
  // True the first time this user is seen here (the hub then records membership).
  bool note_member_user(const UserId& user) { return known_members_.insert(user).second; }

  // Access (Hub::Options::enforce_access): empty code when `user` is admitted, else
  // Errc::permission_denied, or Errc::unavailable when the participants never loaded.
  boost::system::error_code access(const User& user) const;

  // Cache control. `invalidate` forgets the cache (conversation replaced or deleted).
  void invalidate();
  // Retention removed every message before seq `first_kept`: drops them from the cache.
  void drop_before(Seq first_kept);
  void mark_dropped() noexcept { dropped_ = true; }
  bool dropped() const noexcept { return dropped_; }

 private:
  enum class State { cold, loading, ready };
  struct Member {
    SessionPtr session;
    User user;
    protocol::WireFormat format;
  };

  void start_load();
  void on_loaded(bool ok, std::vector<StoredMessage> messages, Seq last_seq,
                 std::vector<UserId> participants, std::uint64_t generation);
  void cache_append(const protocol::MessagePtr& m);
  void emit_commit(const protocol::MessagePtr& m);  // cache + fan out
  void drain_held();
  void on_gap_filled(bool ok, std::vector<StoredMessage> messages);
  // Fans `event` out to members (except those of `skip_user`), encoding once per format,
  // after any committed messages still waiting in commits_.
  void fanout(const protocol::Event& event, const UserId* skip_user = nullptr);
  // Committed messages are fanned out in batches: every commit that reached the strand
  // before the batch ran goes to each member in one delivery (one write per socket).
  // Anything else fanned out, and any change of members, first sends what is waiting, so
  // the order of events and the history/event boundary of a join stay exact.
  // A batch fans out at most this many messages (a burst, such as a replayed outage
  // spool, goes out in several, each member's writes in between).
  static constexpr std::size_t kMaxCommitsPerBatch = 256;
  void queue_commit(const protocol::MessagePtr& m);
  void post_commits();
  void flush_commits(std::size_t max);
  void touch() { last_active_ = std::chrono::steady_clock::now(); }

  Hub& hub_;
  const ConversationId id_;
  Strand strand_;
  State state_ = State::cold;
  std::uint64_t generation_ = 0;  // bumped by invalidate(): stale loads are ignored
  std::vector<std::function<void()>> waiting_;
  std::vector<protocol::MessagePtr> early_;   // commits seen while loading
  std::map<Seq, protocol::MessagePtr> held_;  // past a gap, waiting for it (bus only)
  bool filling_ = false;                      // a gap read is under way

  std::deque<protocol::MessagePtr> cache_;  // consecutive seqs, oldest first
  bool cache_from_start_ = false;           // nothing older than cache_.front() exists
  Seq last_seq_ = 0;

  std::vector<UserId> participants_;  // of the conversation, as last loaded
  bool participants_known_ = false;

  std::vector<Member> members_;
  std::vector<protocol::MessagePtr> commits_;  // committed, not yet fanned out
  std::vector<std::function<void()>> acks_;     // of local commits, run before the fan-out
  bool commits_posted_ = false;
  std::unordered_map<UserId, int> connections_;  // members' connections per user
  std::unordered_map<UserId, Seq> read_seqs_;
  std::unordered_set<UserId> known_members_;
  std::chrono::steady_clock::time_point last_active_ = std::chrono::steady_clock::now();
  bool dropped_ = false;
};

}  // namespace parley::hub
