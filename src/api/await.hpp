// Bridges callback-style completions (the hub's and its archive's operations), which run on
// storage or room threads, into C++20 coroutines: the awaiting coroutine resumes on its own
// executor (the connection's strand).
#pragma once

#include <atomic>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>

#include "core/error.hpp"
#include "hub/archive.hpp"

namespace parley::api {

// Every callable is taken by const reference and copied inside: GCC 12 mishandles
// temporaries with non-trivial members in a co_await full-expression (it relocated a
// lambda's std::string captures bitwise), so call sites pass named locals.

template <class T>
using Done = std::function<void(Result<T>)>;
// Starts an operation that reports to the callback it is given (exactly once).
template <class T>
using Start = std::function<void(Done<T>)>;

// co_await await_result<T>(start): `start` is called at once with a copyable callback that
// must be called exactly once.
template <class T>
boost::asio::awaitable<Result<T>> await_result(
    const std::function<void(std::function<void(Result<T>)>)>& start) {
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>, void(Result<T>)>(
      [start](auto handler) mutable {
        auto ex = boost::asio::get_associated_executor(handler);
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        start([h, ex](Result<T> r) mutable {
          boost::asio::post(ex, [h, r = std::move(r)]() mutable { std::move (*h)(std::move(r)); });
        });
      },
      boost::asio::use_awaitable);
}

// co_await await_within<T>(start, limit): as await_result, but resumes after `limit` at the
// latest, with Errc::unavailable if `start`'s callback has not run by then (a hung database,
// or readers busy for longer). The operation still runs to its end; its result is dropped.
template <class T>
boost::asio::awaitable<Result<T>> await_within(
    const std::function<void(std::function<void(Result<T>)>)>& start,
    std::chrono::milliseconds limit) {
  auto ex = co_await boost::asio::this_coro::executor;
  std::function<void(std::function<void(Result<T>)>)> bounded =
      [start, ex, limit](std::function<void(Result<T>)> done) {
        auto answered = std::make_shared<std::atomic<bool>>(false);
        auto timer = std::make_shared<boost::asio::steady_timer>(ex, limit);
        timer->async_wait([timer, answered, done](const boost::system::error_code&) {
          if (!answered->exchange(true)) done(make_error_code(Errc::unavailable));
        });
        start([done, answered, timer](Result<T> r) {
          if (!answered->exchange(true)) done(std::move(r));
          boost::asio::post(timer->get_executor(), [timer] { timer->cancel(); });
        });
      };
  co_return co_await await_result<T>(bounded);
}

// Runs one of the archive's composite jobs (Archive::read / write) and resumes with its result.
template <class T>
boost::asio::awaitable<Result<T>> archive_read(hub::Archive& archive,
                                               const hub::Archive::Job<T>& job) {
  const Start<T> start = [&archive, job](Done<T> done) { archive.read<T>(job, std::move(done)); };
  co_return co_await await_result<T>(start);
}
template <class T>
boost::asio::awaitable<Result<T>> archive_write(hub::Archive& archive,
                                                const hub::Archive::Job<T>& job) {
  const Start<T> start = [&archive, job](Done<T> done) { archive.write<T>(job, std::move(done)); };
  co_return co_await await_result<T>(start);
}

}  // namespace parley::api
