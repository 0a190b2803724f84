// Bridges callback-style completions (Storage jobs, Hub operations), which run on storage
// or room threads, into C++20 coroutines: the awaiting coroutine resumes on its own
// executor (the connection's strand).
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <functional>
#include <memory>

#include "core/error.hpp"
#include "store/storage.hpp"

namespace parley::api {

// co_await await_result<T>([&](auto done) { something_async(..., done); });
// `start` is called at once with a copyable callback that must be called exactly once.
template <class T>
boost::asio::awaitable<Result<T>> await_result(
    std::function<void(std::function<void(Result<T>)>)> start) {
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>, void(Result<T>)>(
      [start = std::move(start)](auto handler) mutable {
        auto ex = boost::asio::get_associated_executor(handler);
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        start([h, ex](Result<T> r) mutable {
          boost::asio::post(ex, [h, r = std::move(r)]() mutable { std::move(*h)(std::move(r)); });
        });
      },
      boost::asio::use_awaitable);
}

// Runs `fn(Connection&) -> Result<T>` on a storage reader thread.
template <class T, class Fn>
boost::asio::awaitable<Result<T>> on_reader(store::Storage& storage, Fn fn) {
  return await_result<T>([&storage, fn = std::move(fn)](std::function<void(Result<T>)> done) {
    storage.read([fn, done](store::Connection& c) { done(fn(c)); });
  });
}

// Runs `fn(Connection&) -> Result<T>` on the storage writer thread, in order with appends.
template <class T, class Fn>
boost::asio::awaitable<Result<T>> on_writer(store::Storage& storage, Fn fn) {
  return await_result<T>([&storage, fn = std::move(fn)](std::function<void(Result<T>)> done) {
    storage.write([fn, done](store::Connection& c) { done(fn(c)); });
  });
}

}  // namespace parley::api
