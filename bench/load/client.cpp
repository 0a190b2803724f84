#include "client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <future>
#include <iostream>
#include <mutex>

#include "common.hpp"
#include "protocol/socketio/engineio_packet.hpp"
#include "protocol/socketio/socketio_packet.hpp"

namespace parley::bench {

namespace http = beast::http;

Pool::Pool(std::size_t threads) {
  threads = std::max<std::size_t>(1, threads);
  for (std::size_t i = 0; i < threads; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    guards_.push_back(asio::make_work_guard(*contexts_.back()));
  }
  for (std::size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([ctx = contexts_[i].get()] { ctx->run(); });
  }
}

Pool::~Pool() { stop(); }

bool Pool::run_on(std::size_t i, std::function<void()> fn, std::chrono::milliseconds timeout) {
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  asio::post(context(i), [fn = std::move(fn), done] {
    fn();
    done->set_value();
  });
  return future.wait_for(timeout) == std::future_status::ready;
}

void Pool::stop() {
  guards_.clear();
  for (auto& c : contexts_) c->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void Handler::on_lost(Conn& conn, const boost::system::error_code& ec) {
  static std::atomic<int> logged{0};
  if (logged.fetch_add(1) < 5) {
    std::cerr << "connection " << conn.index() << " lost: " << ec.message() << "\n";
  }
}

std::string mode_name(const Mode& mode) {
  if (mode.protocol == Protocol::native) return "native";
  return mode.transport == Transport::polling ? "socketio-polling" : "socketio-websocket";
}

// The two keep-alive HTTP connections of a long-polling session and their messages. Each is
// used by one request at a time: the GET waits for packets, the POST carries what is queued.
struct Conn::Polling {
  explicit Polling(asio::io_context& ctx) : get_stream(ctx), post_stream(ctx) {}
  beast::tcp_stream get_stream;
  beast::tcp_stream post_stream;
  std::string target;  // /socket.io/?EIO=4&transport=polling&sid=...
  beast::flat_buffer get_buffer, post_buffer;
  http::request<http::string_body> get_req, post_req;
  http::response<http::string_body> get_res, post_res;
  bool posting = false;
};

Conn::Conn(Pool& pool, std::size_t index, Mode mode)
    : ctx_(pool.context(index)),
      thread_(index % pool.size()),
      index_(index),
      mode_(mode),
      ws_(ctx_),
      deadline_(ctx_) {}

Conn::~Conn() = default;

void Conn::open(const tcp::endpoint& server, std::optional<asio::ip::address> source,
                std::string user, Handler* handler, std::function<void(bool)> done,
                std::chrono::milliseconds timeout) {
  asio::post(ctx_, [self = shared_from_this(), server, source, user = std::move(user), handler,
                    done = std::move(done), timeout]() mutable {
    self->handler_ = handler;
    self->done_ = std::move(done);
    self->user_ = std::move(user);
    self->host_ = server.address().to_string() + ":" + std::to_string(server.port());
    self->deadline_.expires_after(timeout);
    self->deadline_.async_wait([self](boost::system::error_code ec) {
      if (!ec && !self->authed_) self->fail(asio::error::timed_out, "open");
    });
    const bool polling =
        self->mode_.protocol == Protocol::socketio && self->mode_.transport == Transport::polling;
    if (polling) self->polling_ = std::make_unique<Polling>(self->ctx_);
    // Polling opens both HTTP connections first (the POST one need not be ready at once, but
    // a failure is simpler to report here).
    std::vector<tcp::socket*> socks;
    if (polling) {
      socks = {&self->polling_->get_stream.socket(), &self->polling_->post_stream.socket()};
    } else {
      socks = {&beast::get_lowest_layer(self->ws_)};
    }
    boost::system::error_code ec;
    for (auto* sock : socks) {
      sock->open(server.protocol(), ec);
      if (!ec && source) sock->bind(tcp::endpoint(*source, 0), ec);
      if (ec) {
        self->fail(ec, "bind");
        return;
      }
    }
    auto pending = std::make_shared<std::size_t>(socks.size());
    for (auto* sock : socks) {
      sock->async_connect(server, [self, sock, pending, polling](boost::system::error_code cec) {
        if (cec) {
          self->fail(cec, "connect");
          return;
        }
        boost::system::error_code ignored;
        sock->set_option(tcp::no_delay(true), ignored);
        if (--*pending != 0) return;
        if (polling) {
          self->poll_handshake();
          return;
        }
        self->ws_.secure_prng(false);  // the mask need not be unpredictable on loopback
        self->ws_.auto_fragment(false);
        self->ws_.read_message_max(64 * 1024 * 1024);
        const bool sio = self->mode_.protocol == Protocol::socketio;
        const char* target = sio ? "/socket.io/?EIO=4&transport=websocket" : "/ws";
        self->ws_.async_handshake(self->host_, target, [self, sio](boost::system::error_code hec) {
          if (hec) {
            self->fail(hec, "handshake");
            return;
          }
          self->open_ = true;
          self->read();
          // Socket.IO: the server speaks first (the Engine.IO open packet).
          if (!sio) {
            self->send(R"({"op":"auth","user":")" + self->user_ + R"(","name":")" + self->user_ +
                       "\"}");
          }
        });
      });
    }
  });
}

void Conn::fail(const boost::system::error_code& ec, const char* what) {
  const bool was_open = open_;
  open_ = false;
  writing_ = false;
  queue_.clear();
  boost::system::error_code ignored;
  if (polling_) {
    polling_->get_stream.socket().close(ignored);
    polling_->post_stream.socket().close(ignored);
  } else {
    beast::get_lowest_layer(ws_).close(ignored);
  }
  deadline_.cancel();
  if (!authed_) {
    if (done_) {
      static std::atomic<int> logged{0};
      if (logged.fetch_add(1) < 5) {
        std::cerr << "connection " << index_ << ": " << what << ": " << ec.message() << "\n";
      }
      auto done = std::move(done_);
      done_ = nullptr;
      done(false);
    }
    return;
  }
  if (was_open && !closed_by_us_ && handler_) handler_->on_lost(*this, ec);
}

void Conn::authenticated() {
  authed_ = true;
  deadline_.cancel();
  auto done = std::move(done_);
  done_ = nullptr;
  if (done) done(true);
}

void Conn::read() {
  ws_.async_read(buffer_, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
    if (ec) {
      self->fail(ec, "read");
      return;
    }
    const auto bytes = self->buffer_.cdata();
    const std::string_view text(static_cast<const char*>(bytes.data()), bytes.size());
    if (self->mode_.protocol == Protocol::socketio) {
      self->on_engineio(text, false);
    } else if (!self->authed_) {
      if (frame_type(text) != "ok") {
        self->fail(asio::error::access_denied, "auth");
        return;
      }
      self->authenticated();
    } else {
      self->handler_->on_frame(*self, text);
    }
    self->buffer_.consume(self->buffer_.size());
    if (self->open_) self->read();
  });
}

void Conn::on_engineio(std::string_view text, bool polling_record) {
  namespace eio = protocol::engineio;
  auto packet = eio::decode_packet(text, polling_record);
  if (!packet) {
    fail(asio::error::invalid_argument, "engine.io packet");
    return;
  }
  switch (packet->type) {
    case eio::PacketType::open: {
      // {"sid", "upgrades", "pingInterval", ...}: polling needs the sid (read by
      // poll_handshake); both then connect to namespace "/" with the auth payload.
      protocol::socketio::Packet connect;
      connect.type = protocol::socketio::PacketType::connect;
      if (!mode_.anonymous) {
        boost::json::object auth;
        auth["userId"] = user_;
        auth["name"] = user_;
        connect.has_data = true;
        connect.data = std::move(auth);
      }
      send(protocol::socketio::encode(connect));
      return;
    }
    case eio::PacketType::ping:
      send_raw(eio::encode_text_frame(eio::make_packet(eio::PacketType::pong)));
      return;
    case eio::PacketType::close:
      fail(asio::error::connection_reset, "engine.io close");
      return;
    case eio::PacketType::message:
      break;
    default:
      return;  // noop, pong, upgrade
  }
  const std::string_view sio = packet->data;
  if (!authed_) {
    // The reply to CONNECT: "0{sid}" or CONNECT_ERROR "4{message}".
    std::string why;
    auto reply = protocol::socketio::decode(sio, why);
    if (!reply || reply->type != protocol::socketio::PacketType::connect) {
      fail(asio::error::access_denied, "auth");
      return;
    }
    authenticated();
    return;
  }
  handler_->on_frame(*this, sio);
}

void Conn::send(std::string text) {
  if (mode_.protocol == Protocol::socketio) {
    namespace eio = protocol::engineio;
    text = eio::encode_text_frame(eio::make_packet(eio::PacketType::message, std::move(text)));
  }
  send_raw(std::move(text));
}

void Conn::send_raw(std::string packet) {
  if (!open_) return;
  queue_.push_back(std::move(packet));
  if (polling_) {
    if (!polling_->posting) post();
  } else if (!writing_) {
    write();
  }
}

void Conn::write() {
  writing_ = true;
  ws_.text(true);
  ws_.async_write(asio::buffer(queue_.front()),
                  [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                    if (ec) {
                      self->fail(ec, "write");
                      return;
                    }
                    self->queue_.pop_front();
                    if (!self->queue_.empty() && self->open_) {
                      self->write();
                    } else {
                      self->writing_ = false;
                    }
                  });
}

void Conn::poll_handshake() {
  auto& p = *polling_;
  p.get_req = {http::verb::get, "/socket.io/?EIO=4&transport=polling", 11};
  p.get_req.set(http::field::host, host_);
  p.get_req.keep_alive(true);
  auto self = shared_from_this();
  http::async_write(p.get_stream, p.get_req, [self](boost::system::error_code ec, std::size_t) {
    if (ec) {
      self->fail(ec, "handshake");
      return;
    }
    auto& q = *self->polling_;
    q.get_res = {};
    http::async_read(q.get_stream, q.get_buffer, q.get_res,
                     [self](boost::system::error_code rec, std::size_t) {
                       auto& r = *self->polling_;
                       if (rec || r.get_res.result() != http::status::ok) {
                         self->fail(rec ? rec : asio::error::access_denied, "handshake");
                         return;
                       }
                       // The body is one open packet: 0{"sid":"...",...}.
                       const std::string& body = r.get_res.body();
                       boost::system::error_code jec;
                       auto open = body.size() > 1 && body[0] == '0'
                                       ? boost::json::parse(std::string_view(body).substr(1), jec)
                                       : boost::json::value();
                       const auto* sid = open.is_object() ? open.as_object().if_contains("sid")
                                                          : nullptr;
                       if (jec || !sid || !sid->is_string()) {
                         self->fail(asio::error::invalid_argument, "handshake");
                         return;
                       }
                       r.target = "/socket.io/?EIO=4&transport=polling&sid=" +
                                  std::string(sid->as_string());
                       self->open_ = true;
                       self->on_engineio(body, true);  // sends the CONNECT
                       self->poll();
                     });
  });
}

void Conn::poll() {
  auto& p = *polling_;
  p.get_req = {http::verb::get, p.target, 11};
  p.get_req.set(http::field::host, host_);
  p.get_req.keep_alive(true);
  auto self = shared_from_this();
  http::async_write(p.get_stream, p.get_req, [self](boost::system::error_code ec, std::size_t) {
    if (ec) {
      self->fail(ec, "poll");
      return;
    }
    auto& q = *self->polling_;
    q.get_res = {};
    http::async_read(q.get_stream, q.get_buffer, q.get_res,
                     [self](boost::system::error_code rec, std::size_t) {
                       if (!self->open_) return;
                       auto& r = *self->polling_;
                       if (rec || r.get_res.result() != http::status::ok) {
                         self->fail(rec ? rec : asio::error::connection_reset, "poll");
                         return;
                       }
                       // Every record of the body, in order (each one packet).
                       const std::string body = std::move(r.get_res.body());
                       std::string_view rest = body;
                       while (self->open_ && !rest.empty()) {
                         const auto sep = rest.find(protocol::engineio::kRecordSeparator);
                         self->on_engineio(rest.substr(0, sep), true);
                         if (sep == std::string_view::npos) break;
                         rest.remove_prefix(sep + 1);
                       }
                       if (self->open_) self->poll();
                     });
  });
}

void Conn::post() {
  auto& p = *polling_;
  if (queue_.empty() || !open_) return;
  p.posting = true;
  // Everything queued in one body, record-separated, as socket.io-client does.
  std::string body;
  for (auto& packet : queue_) {
    if (!body.empty()) body += protocol::engineio::kRecordSeparator;
    body += packet;
  }
  queue_.clear();
  p.post_req = {http::verb::post, p.target, 11};
  p.post_req.set(http::field::host, host_);
  p.post_req.set(http::field::content_type, "text/plain;charset=UTF-8");
  p.post_req.keep_alive(true);
  p.post_req.body() = std::move(body);
  p.post_req.prepare_payload();
  auto self = shared_from_this();
  http::async_write(p.post_stream, p.post_req, [self](boost::system::error_code ec, std::size_t) {
    if (ec) {
      self->fail(ec, "post");
      return;
    }
    auto& q = *self->polling_;
    q.post_res = {};
    http::async_read(q.post_stream, q.post_buffer, q.post_res,
                     [self](boost::system::error_code rec, std::size_t) {
                       auto& r = *self->polling_;
                       r.posting = false;
                       if (!self->open_) return;
                       if (rec || r.post_res.result() != http::status::ok) {
                         self->fail(rec ? rec : asio::error::connection_reset, "post");
                         return;
                       }
                       self->post();
                     });
  });
}

void Conn::close() {
  asio::post(ctx_, [self = shared_from_this()] {
    self->closed_by_us_ = true;
    self->open_ = false;
    self->deadline_.cancel();
    boost::system::error_code ignored;
    if (self->polling_) {
      self->polling_->get_stream.socket().close(ignored);
      self->polling_->post_stream.socket().close(ignored);
    } else {
      beast::get_lowest_layer(self->ws_).close(ignored);
    }
  });
}

std::size_t open_all(const std::vector<ConnPtr>& conns,
                     const std::function<void(std::size_t, std::function<void(bool)>)>& open,
                     std::size_t parallel, std::chrono::milliseconds timeout) {
  struct State {
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> finished{0};
    std::atomic<std::size_t> failed{0};
    std::function<void(std::size_t, std::function<void(bool)>)> open;
    std::function<void()> start_one;
  };
  auto st = std::make_shared<State>();
  st->open = open;
  const std::size_t n = conns.size();
  std::weak_ptr<State> weak = st;
  st->start_one = [weak, n] {
    auto s = weak.lock();
    if (!s) return;
    const std::size_t i = s->next.fetch_add(1);
    if (i >= n) return;
    s->open(i, [weak](bool ok) {
      auto s2 = weak.lock();
      if (!s2) return;
      if (!ok) s2->failed.fetch_add(1);
      s2->finished.fetch_add(1);
      s2->start_one();
    });
  };
  for (std::size_t k = 0; k < std::min(parallel, n); ++k) st->start_one();
  const bool all = wait_until([&] { return st->finished.load() >= n; }, timeout);
  const std::size_t failed = st->failed.load() + (all ? 0 : n - st->finished.load());
  // Stragglers may still complete; once `st` is released they find the state gone and stop.
  return failed;
}

tcp::endpoint parse_server(const std::string& host, unsigned short port) {
  return tcp::endpoint(asio::ip::make_address(host), port);
}

}  // namespace parley::bench
