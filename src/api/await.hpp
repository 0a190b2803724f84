// Bridges callback-style completions (Storage jobs, Hub operations), which run on storage
// or room threads, into C++20 coroutines: the awaiting coroutine resumes on its own
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
#include "store/storage.hpp"

namespace parley::api {

// Every callable is taken by const reference and copied inside: GCC 12 mishandles
// temporaries with non-trivial members in a co_await full-expression (it relocated a
// lambda's std::string captures bitwise), so call sites pass named locals.

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

template <class T>
using Job = std::function<Result<T>(store::Connection&)>;

// Runs `job` on a storage reader thread.
template <class T>
boost::asio::awaitable<Result<T>> on_reader(store::Storage& storage, const Job<T>& job) {
  std::function<void(std::function<void(Result<T>)>)> start =
      [&storage, job](std::function<void(Result<T>)> done) {
        storage.read([job, done](store::Connection& c) { done(job(c)); });
      };
  return await_result<T>(start);
}

// Runs `job` on a storage reader thread, but resumes after `limit` at the latest: with
// Errc::unavailable if the job has not finished by then (a hung database, or readers busy
// for longer). The job still runs to its end; its result is dropped.
template <class T>
boost::asio::awaitable<Result<T>> on_reader_within(store::Storage& storage, const Job<T>& job,
                                                   std::chrono::milliseconds limit) {
  auto ex = co_await boost::asio::this_coro::executor;
  std::function<void(std::function<void(Result<T>)>)> start =
      [&storage, job, ex, limit](std::function<void(Result<T>)> done) {
        auto answered = std::make_shared<std::atomic<bool>>(false);
        auto timer = std::make_shared<boost::asio::steady_timer>(ex, limit);
        timer->async_wait([timer, answered, done](const boost::system::error_code&) {
          if (!answered->exchange(true)) done(make_error_code(Errc::unavailable));
        });
        storage.read([job, done, answered, timer](store::Connection& c) {
          auto r = job(c);
          if (!answered->exchange(true)) done(std::move(r));
          boost::asio::post(timer->get_executor(), [timer] { timer->cancel(); });
        });
      };
  co_return co_await await_result<T>(start);
}

// Runs `job` on the storage writer thread, in order with appends.
template <class T>
boost::asio::awaitable<Result<T>> on_writer(store::Storage& storage, const Job<T>& job) {
  std::function<void(std::function<void(Result<T>)>)> start =
      [&storage, job](std::function<void(Result<T>)> done) {
        storage.write([job, done](store::Connection& c) { done(job(c)); });
      };
  return await_result<T>(start);
}

}  // namespace parley::api
