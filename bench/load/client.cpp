#include "client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/websocket.hpp>
#include <future>
#include <iostream>
#include <mutex>

#include "common.hpp"

namespace parley::bench {

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

Conn::Conn(Pool& pool, std::size_t index)
    : ctx_(pool.context(index)),
      thread_(index % pool.size()),
      index_(index),
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
    self->host_ = server.address().to_string() + ":" + std::to_string(server.port());
    self->deadline_.expires_after(timeout);
    self->deadline_.async_wait([self](boost::system::error_code ec) {
      if (!ec && !self->authed_) self->fail(asio::error::timed_out, "open");
    });
    auto& sock = beast::get_lowest_layer(self->ws_);
    boost::system::error_code ec;
    sock.open(server.protocol(), ec);
    if (!ec && source) sock.bind(tcp::endpoint(*source, 0), ec);
    if (ec) {
      self->fail(ec, "bind");
      return;
    }
    sock.async_connect(server, [self, user = std::move(user)](boost::system::error_code cec) {
      if (cec) {
        self->fail(cec, "connect");
        return;
      }
      boost::system::error_code ignored;
      beast::get_lowest_layer(self->ws_).set_option(tcp::no_delay(true), ignored);
      self->ws_.secure_prng(false);  // the mask need not be unpredictable on loopback
      self->ws_.auto_fragment(false);
      self->ws_.read_message_max(64 * 1024 * 1024);
      self->ws_.async_handshake(self->host_, "/ws", [self, user](boost::system::error_code hec) {
        if (hec) {
          self->fail(hec, "handshake");
          return;
        }
        self->open_ = true;
        self->read();
        std::string auth = R"({"op":"auth","user":")" + user + R"(","name":")" + user + "\"}";
        self->send(std::move(auth));
      });
    });
  });
}

void Conn::fail(const boost::system::error_code& ec, const char* what) {
  const bool was_open = open_;
  open_ = false;
  writing_ = false;
  queue_.clear();
  boost::system::error_code ignored;
  beast::get_lowest_layer(ws_).close(ignored);
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

void Conn::read() {
  ws_.async_read(buffer_, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
    if (ec) {
      self->fail(ec, "read");
      return;
    }
    const auto bytes = self->buffer_.cdata();
    const std::string_view text(static_cast<const char*>(bytes.data()), bytes.size());
    if (!self->authed_) {
      const bool ok = frame_type(text) == "ok";
      if (!ok) {
        self->fail(asio::error::access_denied, "auth");
        return;
      }
      self->authed_ = true;
      self->deadline_.cancel();
      auto done = std::move(self->done_);
      self->done_ = nullptr;
      self->buffer_.consume(self->buffer_.size());
      self->read();
      if (done) done(true);
      return;
    }
    self->handler_->on_frame(*self, text);
    self->buffer_.consume(self->buffer_.size());
    if (self->open_) self->read();
  });
}

void Conn::send(std::string text) {
  if (!open_) return;
  queue_.push_back(std::move(text));
  if (!writing_) write();
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

void Conn::close() {
  asio::post(ctx_, [self = shared_from_this()] {
    self->closed_by_us_ = true;
    self->open_ = false;
    self->deadline_.cancel();
    boost::system::error_code ignored;
    beast::get_lowest_layer(self->ws_).close(ignored);
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
