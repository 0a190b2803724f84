// chat (and fanout): R rooms x M members, S senders. Every member is its own connection and
// user; sender k is member k / R of room k % R. Max rate keeps `window` sends in flight per
// sender (and lets no room run more than `max_lag` messages ahead of its slowest deliveries,
// so the client's own lag cannot get members closed as slow). Fixed rate sends on a
// schedule and measures every latency from the intended send time, so a stall delays the
// schedule's measurements instead of hiding them (no coordinated omission).
//
// Every message's content carries its sender, number and intended send time: members
// compute delivery latency from it and check that seqs arrive gapless and in order. At the
// end the store is paged over REST and every acknowledged message must be there exactly
// once, with the seq its ack carried.
//
// With `--protocol socketio` the same load goes through /socket.io/ (websocket or polling):
// joins and sends are events with an acknowledgement callback (sio_vocabulary.hpp), the
// room's broadcast event is the delivery, and every packet is parsed with the server's own
// Socket.IO codec (so a malformed packet counts as an error). Latency, order checks and the
// verification over REST are the same.

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <iostream>
#include <mutex>
#include <thread>

#include "client.hpp"
#include "common.hpp"
#include "protocol/socketio/socketio_packet.hpp"
#include "rest.hpp"
#include "scenarios.hpp"
#include "sio_vocabulary.hpp"

namespace parley::bench {
namespace {

struct alignas(64) ThreadStats {
  Histogram ack;
  Histogram delivery;
  std::atomic<std::uint64_t> acks{0};
  std::atomic<std::uint64_t> deliveries{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> order_errors{0};
};

struct RoomState {
  std::string id;
  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::int64_t> max_acked_seq{0};
};

struct Sender;

struct Member {
  std::size_t room = 0;
  std::int64_t last_seq = -1;  // -1 until the join reply came
  Sender* sender = nullptr;
};

struct Sender {
  std::size_t id = 0;
  ConnPtr conn;
  std::size_t room = 0;
  std::uint64_t next = 0;  // number of the next send
  std::atomic<std::uint32_t> inflight{0};
  std::vector<std::int64_t> sent_at;  // intended send time, by number & mask
  std::uint64_t mask = 0;
  std::vector<std::int64_t> seq_of;  // acked seq by number; 0 until acked, -1 failed
  std::int64_t next_due = 0;         // fixed rate: intended time of `next`
  std::int64_t interval = 0;
  std::unique_ptr<asio::steady_timer> timer;
  bool timer_armed = false;
  bool finished = false;
};

// "b <sender> <number> <time>" followed by padding.
struct ContentKey {
  std::size_t sender = 0;
  std::uint64_t number = 0;
  std::int64_t at = 0;
};

std::optional<ContentKey> parse_content(std::string_view c) {
  if (!c.starts_with("b ")) return std::nullopt;
  ContentKey k;
  const char* p = c.data() + 2;
  const char* end = c.data() + c.size();
  auto r1 = std::from_chars(p, end, k.sender);
  if (r1.ec != std::errc() || r1.ptr == end || *r1.ptr != ' ') return std::nullopt;
  auto r2 = std::from_chars(r1.ptr + 1, end, k.number);
  if (r2.ec != std::errc() || r2.ptr == end || *r2.ptr != ' ') return std::nullopt;
  auto r3 = std::from_chars(r2.ptr + 1, end, k.at);
  if (r3.ec != std::errc()) return std::nullopt;
  return k;
}

class ChatScenario final : public Handler {
 public:
  ChatScenario(const Common& common, const ChatOptions& options)
      : common_(common), opt_(options), pool_(common.threads), stats_(pool_.size()) {}

  int run();

  void on_frame(Conn& conn, std::string_view text) override;
  void on_lost(Conn& conn, const boost::system::error_code& ec) override {
    Handler::on_lost(conn, ec);
    lost_.fetch_add(1);
  }

 private:
  void on_sio_packet(Conn& conn, Member& member, std::string_view text);
  void on_message(Conn& conn, Member& member, std::optional<std::int64_t> seq,
                  std::optional<std::string_view> content);
  void on_ack(Conn& conn, Member& member, std::optional<std::int64_t> ref,
              std::optional<std::int64_t> seq);
  void on_failed(Conn& conn, Member& member, std::int64_t ref, std::string_view what);
  void send_join(Conn& conn, const std::string& room);
  bool sio() const noexcept { return common_.mode.protocol == Protocol::socketio; }
  void pump(Sender& s);  // max rate
  void tick(Sender& s);  // fixed rate
  void send_one(Sender& s, std::int64_t intended);
  void arm(Sender& s, std::int64_t at, bool fixed);
  bool verify(std::string& problem, boost::json::object& out);

  const Common& common_;
  const ChatOptions opt_;
  Pool pool_;
  std::vector<ThreadStats> stats_;
  std::vector<std::unique_ptr<RoomState>> rooms_;
  std::vector<Member> members_;
  std::vector<std::unique_ptr<Sender>> senders_;
  std::vector<ConnPtr> conns_;
  std::string pad_;
  std::atomic<std::size_t> joined_{0};
  std::atomic<std::uint64_t> lost_{0};
  std::atomic<bool> stop_{false};
  // The measured window, set before the senders start (atomic: the settle message's ack may
  // still be on its way through a client thread when it is set).
  std::atomic<std::int64_t> w0_{0}, w1_{0};
  std::string run_;
};

void ChatScenario::on_frame(Conn& conn, std::string_view text) {
  auto& member = *static_cast<Member*>(conn.data);
  if (sio()) {
    on_sio_packet(conn, member, text);
    return;
  }
  const auto type = frame_type(text);
  if (type == "message") {
    on_message(conn, member, int_field(text, "\"seq\":"), str_field(text, "\"content\":\""));
  } else if (type == "ack") {
    on_ack(conn, member, int_field(text, "\"ref\":"), int_field(text, "\"seq\":"));
  } else if (type == "history") {
    member.last_seq = int_field(text, "\"last_seq\":").value_or(0);
    joined_.fetch_add(1);
  } else if (type == "error") {
    on_failed(conn, member, int_field(text, "\"ref\":").value_or(-1), text);
  }
  // presence, typing, read: not counted.
}

void ChatScenario::on_sio_packet(Conn& conn, Member& member, std::string_view text) {
  namespace sp = protocol::socketio;
  // The packets a run is made of are read as the native frames are, by field scans
  // without a JSON tree: a broadcast `2["receive-message",{...}]` and a send's successful ack
  // `3<id>[{"ok":true,...}]`. Decoded whole, they cost this client ~14 µs a message more
  // than the native frames (5.5-6.2 s of client CPU against 4.9-5.1 in an 8 s run), on the
  // cores the server shares; now both protocols cost it the same (bench/README.md, run H).
  // Anything else is decoded whole.
  static const std::string broadcast = "2[\"" + std::string(sio::kBroadcast) + "\",";
  if (text.starts_with(broadcast)) {
    on_message(conn, member, int_field(text, "\"seq\":"), str_field(text, "\"content\":\""));
    return;
  }
  // Parley's echo of every send to its sender: nothing to count, so not worth a JSON tree
  // (~10 us of this client's CPU a message, on the cores the server shares).
  static const std::string echo = "2[\"" + std::string(sio::kSenderEcho) + "\",";
  if (text.starts_with(echo)) return;
  if (text.size() > 2 && text[0] == '3' && text[1] >= '0' && text[1] <= '9') {
    std::size_t i = 1;
    std::uint64_t id = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i < 16) {
      id = id * 10 + static_cast<std::uint64_t>(text[i] - '0');
      ++i;
    }
    if (id != sio::kJoinAckId && text.substr(i).starts_with("[{") &&
        text.find("\"ok\":true", i) != std::string_view::npos) {
      on_ack(conn, member, static_cast<std::int64_t>(id - 1), int_field(text, "\"seq\":", i));
      return;
    }
  }
  auto& st = stats_[conn.thread()];
  std::string why;
  auto packet = sp::decode(text, why);
  if (!packet) {
    static std::atomic<int> logged{0};
    if (logged.fetch_add(1) < 5) std::cerr << "bad Socket.IO packet (" << why << "): " << text << "\n";
    st.errors.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto int_of = [](const boost::json::object& o, std::string_view key) -> std::optional<std::int64_t> {
    const auto* v = o.if_contains(key);
    if (!v || !v->is_number()) return std::nullopt;
    boost::system::error_code ec;
    const auto n = v->to_number<std::int64_t>(ec);
    return ec ? std::nullopt : std::optional<std::int64_t>(n);
  };
  if (packet->type == sp::PacketType::event) {
    const auto& args = packet->data.as_array();  // decode checked: [name, ...]
    const auto name = std::string_view(args[0].as_string());
    const auto* obj = args.size() > 1 ? args[1].if_object() : nullptr;
    if (name == sio::kBroadcast) {
      std::optional<std::string_view> content;
      if (obj) {
        if (const auto* c = obj->if_contains(sio::kContentField); c && c->is_string()) {
          content = std::string_view(c->as_string());
        }
      }
      on_message(conn, member, obj ? int_of(*obj, sio::kSeqField) : std::nullopt, content);
    } else if (name == sio::kError) {
      static std::atomic<int> logged{0};
      if (logged.fetch_add(1) < 5) std::cerr << "error event: " << text << "\n";
      st.errors.fetch_add(1, std::memory_order_relaxed);
    }
    // presence, history pushes, typing: not counted.
    return;
  }
  if (packet->type != sp::PacketType::ack || !packet->id) return;
  const auto& args = packet->data.as_array();
  const auto* obj = args.empty() ? nullptr : args[0].if_object();
  const auto* ok = obj ? obj->if_contains(sio::kOkField) : nullptr;
  const bool succeeded = ok && ok->is_bool() && ok->get_bool();
  if (*packet->id == sio::kJoinAckId) {
    if (!succeeded) {
      on_failed(conn, member, -1, text);
      return;
    }
    member.last_seq = int_of(*obj, sio::kLastSeqField).value_or(0);
    joined_.fetch_add(1);
    return;
  }
  const auto ref = static_cast<std::int64_t>(*packet->id - 1);
  if (!succeeded) {
    on_failed(conn, member, ref, text);
    return;
  }
  on_ack(conn, member, ref, int_of(*obj, sio::kSeqField));
}

void ChatScenario::on_failed(Conn& conn, Member& member, std::int64_t ref, std::string_view what) {
  static std::atomic<int> logged{0};
  if (logged.fetch_add(1) < 5) std::cerr << "error reply: " << what << "\n";
  stats_[conn.thread()].errors.fetch_add(1, std::memory_order_relaxed);
  if (member.sender && ref >= 0) {
    // A failed send: it is not in flight any more and will not be stored.
    Sender& s = *member.sender;
    if (static_cast<std::uint64_t>(ref) < s.next) s.seq_of[static_cast<std::size_t>(ref)] = -1;
    s.inflight.fetch_sub(1, std::memory_order_relaxed);
    if (opt_.rate <= 0) pump(s);
  }
}

void ChatScenario::on_message(Conn& conn, Member& member, std::optional<std::int64_t> seq,
                              std::optional<std::string_view> content) {
  auto& st = stats_[conn.thread()];
  const auto key = content ? parse_content(*content) : std::nullopt;
  if (!seq || !key) {
    st.errors.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::int64_t now = now_ns();
  if (member.last_seq >= 0 && *seq != member.last_seq + 1) {
    static std::atomic<int> logged{0};
    if (logged.fetch_add(1) < 5) {
      std::cerr << "connection " << conn.index() << ": seq " << *seq << " after " << member.last_seq
                << "\n";
    }
    st.order_errors.fetch_add(1, std::memory_order_relaxed);
  }
  member.last_seq = *seq;
  rooms_[member.room]->delivered.fetch_add(1, std::memory_order_relaxed);
  st.deliveries.fetch_add(1, std::memory_order_relaxed);
  if (key->at >= w0_ && key->at < w1_) st.delivery.record(now - key->at);
}

void ChatScenario::on_ack(Conn& conn, Member& member, std::optional<std::int64_t> ref,
                          std::optional<std::int64_t> seq) {
  auto& st = stats_[conn.thread()];
  Sender* s = member.sender;
  if (!s || !ref || !seq || *ref < 0 || static_cast<std::uint64_t>(*ref) >= s->next) {
    st.errors.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::int64_t now = now_ns();
  const std::int64_t at = s->sent_at[static_cast<std::uint64_t>(*ref) & s->mask];
  s->seq_of[static_cast<std::size_t>(*ref)] = *seq;
  s->inflight.fetch_sub(1, std::memory_order_relaxed);
  auto& room = *rooms_[s->room];
  room.acked.fetch_add(1, std::memory_order_relaxed);
  std::int64_t prev = room.max_acked_seq.load(std::memory_order_relaxed);
  while (prev < *seq && !room.max_acked_seq.compare_exchange_weak(prev, *seq)) {
  }
  st.acks.fetch_add(1, std::memory_order_relaxed);
  if (at >= w0_ && at < w1_) st.ack.record(now - at);
  if (opt_.rate <= 0) pump(*s);
}

void ChatScenario::send_join(Conn& conn, const std::string& room) {
  if (!sio()) {
    conn.send(R"({"op":"join","conversation":")" + room + R"(","limit":1})");
    return;
  }
  boost::json::object payload;
  payload[sio::kRoomField] = room;
  payload["limit"] = 1;
  conn.send(protocol::socketio::encode_event("/", boost::json::array{sio::kJoin, std::move(payload)},
                                             sio::kJoinAckId));
}

void ChatScenario::send_one(Sender& s, std::int64_t intended) {
  const std::uint64_t n = s.next++;
  s.sent_at[n & s.mask] = intended;
  s.seq_of.push_back(0);
  s.inflight.fetch_add(1, std::memory_order_relaxed);
  std::string content = "b " + std::to_string(s.id) + ' ' + std::to_string(n) + ' ' +
                        std::to_string(intended) + pad_;
  if (sio()) {
    boost::json::object payload;
    payload[sio::kRoomField] = rooms_[s.room]->id;
    payload[sio::kContentField] = std::move(content);
    if (opt_.client_ids) payload[sio::kClientIdField] = std::to_string(s.id) + '-' + std::to_string(n);
    s.conn->send(protocol::socketio::encode_event(
        "/", boost::json::array{sio::kSend, std::move(payload)}, 1 + n));
    return;
  }
  std::string f;
  f.reserve(160 + pad_.size());
  f += R"({"op":"send","conversation":")";
  f += rooms_[s.room]->id;
  f += R"(","content":")";
  f += content;
  f += '"';
  if (opt_.client_ids) {
    f += R"(,"client_id":")";
    f += std::to_string(s.id);
    f += '-';
    f += std::to_string(n);
    f += '"';
  }
  f += R"(,"ref":)";
  f += std::to_string(n);
  f += '}';
  s.conn->send(std::move(f));
}

void ChatScenario::arm(Sender& s, std::int64_t at, bool fixed) {
  if (s.timer_armed) return;
  s.timer_armed = true;
  s.timer->expires_at(to_time_point(at));
  s.timer->async_wait([this, &s, fixed](boost::system::error_code ec) {
    s.timer_armed = false;
    if (ec) return;
    if (fixed) {
      tick(s);
    } else {
      pump(s);
    }
  });
}

void ChatScenario::pump(Sender& s) {
  const std::size_t members = opt_.members;
  auto& room = *rooms_[s.room];
  // Bounded: at most `window` sends per call.
  for (std::size_t k = 0; k < opt_.window; ++k) {
    if (stop_.load(std::memory_order_relaxed) || !s.conn->is_open()) return;
    if (s.inflight.load(std::memory_order_relaxed) >= opt_.window) return;
    const std::int64_t now = now_ns();
    if (now >= w1_) return;
    const std::uint64_t acked = room.acked.load(std::memory_order_relaxed);
    const std::uint64_t delivered = room.delivered.load(std::memory_order_relaxed) / members;
    if (acked > delivered + opt_.max_lag) {
      arm(s, now + 200'000, false);  // members are behind: look again in 200 us
      return;
    }
    send_one(s, now);
  }
}

void ChatScenario::tick(Sender& s) {
  const std::size_t cap = s.mask + 1;
  const std::int64_t now = now_ns();
  for (std::size_t k = 0; k < cap && s.next_due <= now && s.next_due < w1_; ++k) {
    if (stop_.load(std::memory_order_relaxed) || !s.conn->is_open()) return;
    if (s.inflight.load(std::memory_order_relaxed) >= cap) {
      arm(s, now + 100'000, true);  // too many unacknowledged: look again in 100 us
      return;
    }
    send_one(s, s.next_due);
    s.next_due += s.interval;
  }
  if (s.next_due < w1_) arm(s, s.next_due, true);
}

bool ChatScenario::verify(std::string& problem, boost::json::object& out) {
  RestClient rest(parse_server(common_.host, common_.port));
  std::uint64_t stored = 0, missing = 0, duplicates = 0, seq_errors = 0, unacked = 0,
                mismatched = 0, acked = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  for (std::size_t r = 0; r < rooms_.size(); ++r) {
    std::vector<Sender*> room_senders;
    for (auto& s : senders_) {
      if (s->room == r) room_senders.push_back(s.get());
    }
    std::vector<std::vector<bool>> found(senders_.size());
    for (auto* s : room_senders) found[s->id].assign(s->seq_of.size(), false);
    std::int64_t after = 0;
    for (int page = 0; page < 1'000'000; ++page) {
      if (std::chrono::steady_clock::now() > deadline) {
        problem = "verification timed out";
        return false;
      }
      auto res = rest.get("/api/conversations/" + rooms_[r]->id +
                          "/messages?after=" + std::to_string(after) + "&limit=1000");
      if (!res || res->status != 200) {
        problem = "GET messages of " + rooms_[r]->id + " failed" +
                  (res ? " (" + std::to_string(res->status) + ")" : "");
        return false;
      }
      boost::system::error_code ec;
      auto doc = boost::json::parse(res->body, ec);
      if (ec || !doc.is_object()) {
        problem = "GET messages: not JSON";
        return false;
      }
      const auto& msgs = doc.at("messages").as_array();
      for (const auto& mv : msgs) {
        const auto& m = mv.as_object();
        const std::int64_t seq = m.at("seq").to_number<std::int64_t>();
        ++stored;
        if (seq != after + 1) {
          if (seq_errors++ == 0) {
            problem =
                rooms_[r]->id + ": seq " + std::to_string(seq) + " after " + std::to_string(after);
          }
        }
        after = seq;
        const auto key = parse_content(m.at("content").as_string());
        Sender* s = key && key->sender < senders_.size() ? senders_[key->sender].get() : nullptr;
        if (!s || s->room != r || key->number >= s->seq_of.size()) {
          if (mismatched++ == 0 && problem.empty()) problem = "a stored message nobody sent";
          continue;
        }
        const std::int64_t acked_seq = s->seq_of[key->number];
        if (found[s->id][key->number]) {
          if (duplicates++ == 0 && problem.empty()) problem = "a message stored twice";
          continue;
        }
        found[s->id][key->number] = true;
        if (acked_seq <= 0) {
          ++unacked;  // stored, but its ack never came (connection lost): not a loss
        } else if (acked_seq != seq) {
          if (mismatched++ == 0 && problem.empty()) problem = "stored seq differs from the ack's";
        }
      }
      if (!doc.at("has_more").as_bool()) break;
      if (msgs.empty()) {
        problem = "has_more with an empty page";
        return false;
      }
    }
    for (auto* s : room_senders) {
      for (std::size_t n = 0; n < s->seq_of.size(); ++n) {
        if (s->seq_of[n] > 0) {
          ++acked;
          if (!found[s->id][n]) {
            if (missing++ == 0 && problem.empty()) problem = "an acknowledged message is missing";
          }
        }
      }
    }
  }
  out["stored"] = stored;
  out["acked_total"] = acked;
  out["missing"] = missing;
  out["duplicates"] = duplicates;
  out["seq_errors"] = seq_errors;
  out["mismatched"] = mismatched;
  out["stored_unacked"] = unacked;
  return missing == 0 && duplicates == 0 && seq_errors == 0 && mismatched == 0;
}

int ChatScenario::run() {
  if (opt_.rooms == 0 || opt_.members == 0 || opt_.senders == 0 ||
      opt_.senders > opt_.rooms * opt_.members) {
    std::cerr << "chat: need 1 <= senders <= rooms x members\n";
    return 2;
  }
  run_ = run_id();
  const std::size_t n = opt_.rooms * opt_.members;
  if (opt_.content_bytes > 40) pad_ = " " + std::string(opt_.content_bytes - 40, 'x');
  for (std::size_t r = 0; r < opt_.rooms; ++r) {
    rooms_.push_back(std::make_unique<RoomState>());
    rooms_.back()->id = "bench-" + run_ + "-r" + std::to_string(r);
  }
  members_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    conns_.push_back(std::make_shared<Conn>(pool_, i, common_.mode));
    members_[i].room = i / opt_.members;
    conns_[i]->data = &members_[i];
  }
  // Fixed rate: the per-sender schedule. The ring of send times holds every send in flight.
  const std::size_t cap = opt_.rate > 0 ? 4096 : opt_.window;
  std::size_t ring = 1;
  while (ring < cap) ring <<= 1;
  for (std::size_t k = 0; k < opt_.senders; ++k) {
    auto s = std::make_unique<Sender>();
    s->id = k;
    s->room = k % opt_.rooms;
    const std::size_t m = (k / opt_.rooms) % opt_.members;
    const std::size_t ci = s->room * opt_.members + m;
    s->conn = conns_[ci];
    s->sent_at.assign(ring, 0);
    s->mask = ring - 1;
    s->timer = std::make_unique<asio::steady_timer>(s->conn->context());
    members_[ci].sender = s.get();
    senders_.push_back(std::move(s));
  }

  const auto server = parse_server(common_.host, common_.port);
  const auto setup_start = std::chrono::steady_clock::now();
  const std::size_t failed = open_all(
      conns_,
      [&](std::size_t i, std::function<void(bool)> done) {
        conns_[i]->open(server, std::nullopt,
                        "b" + run_ + "-" + std::to_string(members_[i].room) + "-" +
                            std::to_string(i % opt_.members),
                        this, std::move(done));
      },
      256, std::chrono::seconds(120));
  if (failed) {
    std::cerr << "chat: " << failed << " of " << n << " connections failed to open\n";
    pool_.stop();
    return 1;
  }
  for (std::size_t i = 0; i < n; ++i) {
    asio::post(conns_[i]->context(),
               [this, i] { send_join(*conns_[i], rooms_[members_[i].room]->id); });
  }
  if (!wait_until([&] { return joined_.load() >= n; }, std::chrono::seconds(120))) {
    std::cerr << "chat: only " << joined_.load() << " of " << n << " joins answered\n";
    pool_.stop();
    return 1;
  }
  // Settle: the server's writer runs every write in order, and each authentication and first
  // join queued one (user, membership). One message acknowledged now comes after all of them,
  // so the measured load does not start behind the setup's writes.
  {
    Sender* first = senders_.front().get();
    asio::post(first->conn->context(), [this, first] { send_one(*first, now_ns()); });
    if (!wait_until([&] { return rooms_[first->room]->acked.load() >= 1; },
                    std::chrono::seconds(300))) {
      std::cerr << "chat: the server did not acknowledge a first message\n";
      pool_.stop();
      return 1;
    }
  }
  const double setup_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - setup_start).count();

  const std::int64_t t0 = now_ns() + 20 * kMilli;
  w0_ = t0 + static_cast<std::int64_t>(common_.warmup * 1e9);
  w1_ = w0_.load() + static_cast<std::int64_t>(common_.duration * 1e9);
  for (auto& sp : senders_) {
    Sender* s = sp.get();
    if (opt_.rate > 0) {
      const double per_sender = opt_.rate / static_cast<double>(opt_.senders);
      s->interval = static_cast<std::int64_t>(1e9 / per_sender);
      // Spread the senders' phases over one interval.
      s->next_due = t0 + s->interval * static_cast<std::int64_t>(s->id) /
                             static_cast<std::int64_t>(opt_.senders);
      asio::post(s->conn->context(), [this, s] { arm(*s, s->next_due, true); });
    } else {
      asio::post(s->conn->context(), [this, s, t0] { arm(*s, t0, false); });
    }
  }

  auto sum = [&](auto field) {
    std::uint64_t total = 0;
    for (auto& st : stats_) total += (st.*field).load(std::memory_order_relaxed);
    return total;
  };
  CpuWindow cpu(common_.server_pid);
  std::this_thread::sleep_until(to_time_point(w0_));
  const std::uint64_t acks0 = sum(&ThreadStats::acks);
  const std::uint64_t del0 = sum(&ThreadStats::deliveries);
  cpu.start();
  const auto store0 = common_.store_pid > 0 ? process_tree_cpu_seconds(common_.store_pid)
                                            : std::nullopt;
  std::this_thread::sleep_until(to_time_point(w1_));
  const double server_cpu = cpu.seconds();
  const auto store1 = common_.store_pid > 0 ? process_tree_cpu_seconds(common_.store_pid)
                                            : std::nullopt;
  const double store_cpu = store0 && store1 ? *store1 - *store0 : -1;
  const auto server_threads = cpu.by_thread();
  const double client_cpu = cpu.client_seconds();
  const std::uint64_t acks = sum(&ThreadStats::acks) - acks0;
  const std::uint64_t deliveries = sum(&ThreadStats::deliveries) - del0;
  const double window_s = static_cast<double>(w1_ - w0_) / 1e9;

  // Drain: every send answered, every member caught up with its room.
  stop_.store(true);
  const bool drained = wait_until(
      [&] {
        for (auto& s : senders_) {
          if (s->inflight.load() != 0 && s->conn->is_open()) return false;
        }
        return true;
      },
      std::chrono::seconds(60));
  const bool caught_up = wait_until(
      [&] {
        for (auto& r : rooms_) {
          if (r->delivered.load() < r->acked.load() * opt_.members) return false;
        }
        return true;
      },
      std::chrono::seconds(60));
  for (std::size_t t = 0; t < pool_.size(); ++t) pool_.run_on(t, [] {});  // a barrier

  std::string problem;
  if (!drained) problem = "some sends were never answered";
  if (!caught_up && problem.empty()) problem = "some members never received every message";
  boost::json::object verify_out;
  bool verified = false;
  if (opt_.verify) {
    std::string vproblem;
    verified = verify(vproblem, verify_out);
    if (!vproblem.empty() && problem.empty()) problem = vproblem;
  }
  for (auto& c : conns_) c->close();
  pool_.run_on(0, [] {});
  pool_.stop();

  Histogram ack, delivery;
  std::uint64_t errors = 0, order_errors = 0;
  for (auto& st : stats_) {
    ack.merge(st.ack);
    delivery.merge(st.delivery);
    errors += st.errors.load();
    order_errors += st.order_errors.load();
  }
  errors += lost_.load();
  const bool ok = errors == 0 && order_errors == 0 && drained && caught_up &&
                  (!opt_.verify || verified) && acks > 0;
  if (order_errors && problem.empty()) problem = "deliveries out of seq order";
  if (acks == 0 && problem.empty()) problem = "no message was acknowledged in the window";

  const std::string label =
      common_.label.empty() ? (opt_.rate > 0 ? "chat-rate" : "chat") : common_.label;
  boost::json::object o;
  o["scenario"] = label;
  o["protocol"] = mode_name(common_.mode);
  o["rooms"] = opt_.rooms;
  o["members"] = opt_.members;
  o["senders"] = opt_.senders;
  o["mode"] = opt_.rate > 0 ? "rate" : "max";
  if (opt_.rate > 0) o["rate"] = opt_.rate;
  o["window"] = opt_.window;
  o["window_s"] = window_s;
  o["setup_s"] = setup_s;
  o["acked_per_s"] = std::llround(static_cast<double>(acks) / window_s);
  o["deliveries_per_s"] = std::llround(static_cast<double>(deliveries) / window_s);
  o["ack"] = latency_json(ack);
  o["delivery"] = latency_json(delivery);
  o["errors"] = errors;
  o["order_errors"] = order_errors;
  o["connections_lost"] = lost_.load();
  o["server_cpu_s"] = server_cpu;
  if (store_cpu >= 0) {
    // The store's CPU (PostgreSQL's cluster) over the same window, and the sum per delivery:
    // the figure to compare between servers that keep their data in different places.
    o["store_cpu_s"] = store_cpu;
    if (server_cpu >= 0 && deliveries > 0) {
      o["total_cpu_us_per_delivery"] = std::round((server_cpu + store_cpu) * 1e6 /
                                                  static_cast<double>(deliveries) * 1000) /
                                       1000;
    }
  }
  if (server_cpu >= 0 && deliveries > 0) {
    o["server_cpu_us_per_delivery"] =
        std::round(server_cpu * 1e6 / static_cast<double>(deliveries) * 1000) / 1000;
    o["server_cpu_us_per_msg"] =
        std::round(server_cpu * 1e6 / static_cast<double>(acks) * 100) / 100;
  }
  // Where the server's CPU went: the I/O threads ("parley" is the main one) per delivery,
  // the storage writer per message.
  boost::json::object by_thread;
  double io_cpu = 0;
  for (const auto& [name, sec] : server_threads) {
    by_thread[name] = std::round(sec * 1000) / 1000;
    if (name == "parley" || name == "parley-io") io_cpu += sec;
  }
  double writer_cpu = 0;
  if (auto it = server_threads.find("parley-writer"); it != server_threads.end()) {
    writer_cpu = it->second;
  }
  if (!server_threads.empty()) o["server_cpu_by_thread_s"] = by_thread;
  if (!server_threads.empty() && deliveries > 0 && acks > 0) {
    o["io_cpu_us_per_delivery"] =
        std::round(io_cpu * 1e6 / static_cast<double>(deliveries) * 1000) / 1000;
    o["writer_cpu_us_per_msg"] = std::round(writer_cpu * 1e6 / static_cast<double>(acks) * 100) / 100;
  }
  o["client_cpu_s"] = client_cpu;
  o["verified"] = opt_.verify ? boost::json::value(verified) : boost::json::value(nullptr);
  for (auto& [k, v] : verify_out) o[k] = v;
  o["ok"] = ok;
  if (!problem.empty()) o["problem"] = problem;

  char line[512];
  std::snprintf(
      line, sizeof line,
      "%s (%s): %zu rooms x %zu members, %zu senders, %s\n"
      "  acked %.0f msgs/s, delivered %.0f /s over %.1f s\n",
      label.c_str(), mode_name(common_.mode).c_str(), opt_.rooms, opt_.members, opt_.senders,
      opt_.rate > 0 ? ("fixed rate " + std::to_string(std::llround(opt_.rate)) + "/s").c_str()
                    : ("max rate, window " + std::to_string(opt_.window)).c_str(),
      static_cast<double>(acks) / window_s, static_cast<double>(deliveries) / window_s, window_s);
  std::cout << line << "  ack      " << latency_text(ack) << "\n  delivery "
            << latency_text(delivery) << "\n";
  std::snprintf(line, sizeof line,
                "  server CPU %.2f s = %.2f us/delivery, %.1f us/msg; client CPU %.2f s\n",
                server_cpu, deliveries ? server_cpu * 1e6 / static_cast<double>(deliveries) : 0.0,
                acks ? server_cpu * 1e6 / static_cast<double>(acks) : 0.0, client_cpu);
  std::cout << line;
  if (store_cpu >= 0) {
    std::printf("  store (PostgreSQL) CPU %.2f s; server + store %.2f us/delivery\n", store_cpu,
                deliveries ? (server_cpu + store_cpu) * 1e6 / static_cast<double>(deliveries)
                           : 0.0);
    std::cout.flush();
  }
  if (!server_threads.empty()) {
    std::cout << "  server CPU by thread:";
    for (const auto& [name, sec] : server_threads) std::printf(" %s %.2f s;", name.c_str(), sec);
    std::printf("\n  I/O threads %.2f us/delivery, storage writer %.1f us/msg\n",
                deliveries ? io_cpu * 1e6 / static_cast<double>(deliveries) : 0.0,
                acks ? writer_cpu * 1e6 / static_cast<double>(acks) : 0.0);
    std::cout.flush();
  }
  std::cout << "  errors " << errors << ", order errors " << order_errors << ", verified "
            << (opt_.verify ? (verified ? "yes" : "NO") : "skipped")
            << (problem.empty() ? "" : " (" + problem + ")") << "\n";
  print_result(o);
  return ok ? 0 : 1;
}

}  // namespace

int run_chat(const Common& common, const ChatOptions& options) {
  ChatScenario scenario(common, options);
  return scenario.run();
}

}  // namespace parley::bench
