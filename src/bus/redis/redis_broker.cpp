#include "bus/redis/redis_broker.hpp"

#include <hiredis/hiredis.h>
#include <sys/socket.h>

#include <charconv>

#include "core/log.hpp"
#include "core/process.hpp"

namespace parley::bus::redis {

namespace {

constexpr auto kMinBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::milliseconds(5000);

struct ReplyDeleter {
  void operator()(redisReply* r) const noexcept {
    if (r) freeReplyObject(r);
  }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

}  // namespace

struct RedisBroker::Context {
  redisContext* c = nullptr;
  ~Context() {
    if (c) redisFree(c);
  }
};

Result<RedisConfig> parse_redis_url(std::string_view url) {
  RedisConfig cfg;
  constexpr std::string_view scheme = "redis://";
  if (!url.starts_with(scheme)) return make_error_code(Errc::invalid_argument);
  url.remove_prefix(scheme.size());
  if (auto at = url.rfind('@'); at != std::string_view::npos) {
    auto userinfo = url.substr(0, at);
    url.remove_prefix(at + 1);
    if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
      cfg.username = std::string(userinfo.substr(0, colon));
      cfg.password = std::string(userinfo.substr(colon + 1));
    } else {
      cfg.password = std::string(userinfo);
    }
  }
  std::string_view hostport = url;
  if (auto slash = url.find('/'); slash != std::string_view::npos) {
    hostport = url.substr(0, slash);
    auto db = url.substr(slash + 1);
    if (!db.empty()) {
      auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), cfg.db);
      if (ec != std::errc() || p != db.data() + db.size()) {
        return make_error_code(Errc::invalid_argument);
      }
    }
  }
  if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    auto port = hostport.substr(colon + 1);
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), cfg.port);
    if (ec != std::errc() || p != port.data() + port.size()) {
      return make_error_code(Errc::invalid_argument);
    }
    hostport = hostport.substr(0, colon);
  }
  if (!hostport.empty()) cfg.host = std::string(hostport);
  return cfg;
}

RedisBroker::RedisBroker(RedisConfig config, std::size_t max_queue)
    : config_(std::move(config)), max_queue_(max_queue) {}

RedisBroker::~RedisBroker() { stop(); }

void RedisBroker::start(Handlers handlers) {
  handlers_ = std::move(handlers);
  subscriber_ = std::thread([this] {
    name_this_thread("parley-redis-s");
    run_subscriber();
  });
  publisher_ = std::thread([this] {
    name_this_thread("parley-redis-p");
    run_publisher();
  });
}

void RedisBroker::stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_ && !subscriber_.joinable()) return;
    stop_ = true;
    if (sub_fd_ >= 0) ::shutdown(sub_fd_, SHUT_RDWR);  // unblocks redisGetReply
  }
  cv_.notify_all();
  if (subscriber_.joinable()) subscriber_.join();
  if (publisher_.joinable()) publisher_.join();
}

void RedisBroker::publish(std::string payload) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    if (queue_.size() >= max_queue_) {
      // Redis is too slow or away: drop the oldest; receivers catch up from the store.
      queue_.pop_front();
      dropped_.fetch_add(1, std::memory_order_relaxed);
    }
    queue_.push_back(std::move(payload));
  }
  cv_.notify_all();
}

std::unique_ptr<RedisBroker::Context> RedisBroker::connect(bool quiet) {
  auto ctx = std::make_unique<Context>();
  timeval tv{2, 0};
  ctx->c = redisConnectWithTimeout(config_.host.c_str(), config_.port, tv);
  if (!ctx->c || ctx->c->err) {
    if (!quiet) {
      spdlog::warn("bus: cannot connect to redis {}:{}: {}", config_.host, config_.port,
                   ctx->c ? ctx->c->errstr : "out of memory");
    }
    return nullptr;
  }
  if (!config_.password.empty()) {
    ReplyPtr r(static_cast<redisReply*>(
        config_.username.empty()
            ? redisCommand(ctx->c, "AUTH %s", config_.password.c_str())
            : redisCommand(ctx->c, "AUTH %s %s", config_.username.c_str(),
                           config_.password.c_str())));
    if (!r || r->type == REDIS_REPLY_ERROR) {
      spdlog::error("bus: redis AUTH failed: {}", r ? r->str : ctx->c->errstr);
      return nullptr;
    }
  }
  return ctx;
}

bool RedisBroker::sleep_backoff(std::chrono::milliseconds& delay) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, delay, [&] { return stop_; });
  delay = std::min(delay * 2, kMaxBackoff);
  return !stop_;
}

void RedisBroker::run_subscriber() {
  auto delay = kMinBackoff;
  bool ever = false;
  bool warned = false;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    auto ctx = connect(warned);
    if (!ctx) {
      warned = true;
      if (!sleep_backoff(delay)) return;
      continue;
    }
    ReplyPtr sub(static_cast<redisReply*>(
        redisCommand(ctx->c, "SUBSCRIBE %b", config_.channel.data(), config_.channel.size())));
    if (!sub || sub->type == REDIS_REPLY_ERROR) {
      if (!sleep_backoff(delay)) return;
      continue;
    }
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      sub_fd_ = ctx->c->fd;
    }
    sub_up_ = true;
    delay = kMinBackoff;
    warned = false;
    spdlog::info("bus: subscribed to redis {}:{} channel {}", config_.host, config_.port,
                 config_.channel);
    if (ever && handlers_.on_resubscribed) handlers_.on_resubscribed();
    ever = true;
    for (;;) {
      void* raw = nullptr;
      if (redisGetReply(ctx->c, &raw) != REDIS_OK) break;
      ReplyPtr r(static_cast<redisReply*>(raw));
      // ["message", channel, payload]
      if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
          r->element[2]->type == REDIS_REPLY_STRING && handlers_.on_message) {
        handlers_.on_message(std::string_view(r->element[2]->str, r->element[2]->len));
      }
    }
    sub_up_ = false;
    {
      std::lock_guard lock(mu_);
      sub_fd_ = -1;
      if (stop_) return;
    }
    spdlog::warn("bus: lost the redis subscription ({}); reconnecting", ctx->c->errstr);
    if (!sleep_backoff(delay)) return;
  }
}

void RedisBroker::run_publisher() {
  auto delay = kMinBackoff;
  std::unique_ptr<Context> ctx;
  bool warned = false;
  std::deque<std::string> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      batch.swap(queue_);
    }
    if (!ctx) {
      ctx = connect(warned);
      if (!ctx) {
        // Published while Redis is away: dropped (receivers catch up by seq on resubscribe).
        warned = true;
        pub_up_ = false;
        dropped_.fetch_add(batch.size(), std::memory_order_relaxed);
        batch.clear();
        if (!sleep_backoff(delay)) return;
        continue;
      }
      pub_up_ = true;
      warned = false;
      delay = kMinBackoff;
    }
    // Pipelined: append every PUBLISH, then read every reply.
    for (const auto& p : batch) {
      redisAppendCommand(ctx->c, "PUBLISH %b %b", config_.channel.data(), config_.channel.size(),
                         p.data(), p.size());
    }
    bool ok = true;
    for (std::size_t i = 0; i < batch.size() && ok; ++i) {
      void* raw = nullptr;
      ok = redisGetReply(ctx->c, &raw) == REDIS_OK;
      ReplyPtr r(static_cast<redisReply*>(raw));
    }
    batch.clear();
    if (!ok) {
      spdlog::warn("bus: redis publish failed ({}); reconnecting", ctx->c->errstr);
      ctx.reset();
      pub_up_ = false;
    }
  }
}

}  // namespace parley::bus::redis
