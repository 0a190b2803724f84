#include "hub/session.hpp"

namespace parley::hub {

std::atomic<std::uint64_t> Session::next_id_{1};
thread_local DeliveryScope* DeliveryScope::current_ = nullptr;

Session::Session() : id_(next_id_.fetch_add(1, std::memory_order_relaxed)) {}

}  // namespace parley::hub
