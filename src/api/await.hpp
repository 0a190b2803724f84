// Bridges callback-style completions (Storage jobs, Hub operations), which run on storage
// or room threads, into C++20 coroutines: the awaiting coroutine resumes on its own
// executor (the connection's strand).
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
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
