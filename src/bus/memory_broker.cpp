#include "bus/memory_broker.hpp"

#include <algorithm>

namespace parley::bus {

void MemoryBus::publish(const std::string& payload) {
  std::lock_guard lock(mu_);
  for (auto* b : brokers_) b->enqueue(payload);
}

MemoryBroker::MemoryBroker(std::shared_ptr<MemoryBus> bus) : bus_(std::move(bus)) {}

MemoryBroker::~MemoryBroker() { stop(); }

void MemoryBroker::start(Handlers handlers) {
  handlers_ = std::move(handlers);
  {
    std::lock_guard lock(bus_->mu_);
    bus_->brokers_.push_back(this);
  }
  thread_ = std::thread([this] { run(); });
}

void MemoryBroker::publish(std::string payload) { bus_->publish(payload); }

bool MemoryBroker::connected() const {
  std::lock_guard lock(mu_);
  return !cut_ && !stop_;
}

void MemoryBroker::stop() {
  {
    std::lock_guard lock(bus_->mu_);
    std::erase(bus_->brokers_, this);
  }
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MemoryBroker::cut() {
  std::lock_guard lock(mu_);
  cut_ = true;
}

void MemoryBroker::restore() {
  {
    std::lock_guard lock(mu_);
    cut_ = false;
    resubscribed_ = true;
  }
  cv_.notify_all();
}

void MemoryBroker::drop_next(std::size_t n) {
  std::lock_guard lock(mu_);
  drop_ = n;
}

void MemoryBroker::enqueue(const std::string& payload) {
  {
    std::lock_guard lock(mu_);
    if (cut_ || stop_) return;
    if (drop_ > 0) {
      --drop_;
      return;
    }
    queue_.push_back(payload);
  }
  cv_.notify_all();
}

void MemoryBroker::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || resubscribed_ || !queue_.empty(); });
    if (stop_) return;
    if (resubscribed_) {
      resubscribed_ = false;
      lock.unlock();
      if (handlers_.on_resubscribed) handlers_.on_resubscribed();
      lock.lock();
      continue;
    }
    std::string payload = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    if (handlers_.on_message) handlers_.on_message(payload);
    lock.lock();
  }
}

}  // namespace parley::bus
