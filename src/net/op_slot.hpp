// Memory for the one pending operation of a chain (a socket's readiness wait and the
// completion it posts, a timer's wait), held inline by the object that waits.
//
// Why: Asio's per-thread recycling cache hands an operation any cached block at least as big
// as it needs, and the blocks an idle WebSocket connection's two waits got were the HTTP
// read's, about 310 bytes each where the waits need 144 and 128: over 5,000 idle /ws
// connections 3.10 MB (620 bytes a connection) sat in such blocks (heaptrack, issue 13).
// Bound to a wait with asio::bind_allocator(OpAllocator(slot), handler), the operation lives
// in the slot at its own size; what does not fit, or arrives while the slot is taken (the
// strand's invoker behind the completion), goes to Asio's recycling allocator as before.
//
// Threads: an operation may be allocated on its owner's strand and freed on whichever I/O
// thread completes it (a cancelled wait), so the slot's flag is atomic (acquire/release: the
// bytes are handed over with it).
#pragma once

#include <atomic>
#include <boost/asio/recycling_allocator.hpp>
#include <cstddef>
#include <new>

namespace parley::net {

template <std::size_t N>
class OpSlot {
 public:
  OpSlot() = default;
  OpSlot(const OpSlot&) = delete;
  OpSlot& operator=(const OpSlot&) = delete;

  void* allocate(std::size_t size, std::size_t align) {
    if (size <= N && align <= alignof(std::max_align_t) &&
        !used_.exchange(true, std::memory_order_acquire)) {
      return buf_;
    }
    return boost::asio::recycling_allocator<Block>().allocate(blocks(size, align));
  }
  void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
    if (p == buf_) {
      used_.store(false, std::memory_order_release);
      return;
    }
    boost::asio::recycling_allocator<Block>().deallocate(static_cast<Block*>(p),
                                                         blocks(size, align));
  }
  // True while an operation lives in the slot.
  bool in_use() const noexcept { return used_.load(std::memory_order_acquire); }

 private:
  struct alignas(std::max_align_t) Block {
    std::byte bytes[alignof(std::max_align_t)];
  };
  static std::size_t blocks(std::size_t size, std::size_t) noexcept {
    return (size + sizeof(Block) - 1) / sizeof(Block);
  }

  alignas(std::max_align_t) std::byte buf_[N];
  std::atomic<bool> used_{false};
};

template <class T, std::size_t N>
class OpAllocator {
 public:
  using value_type = T;
  template <class U>
  struct rebind {  // spelled out: std::allocator_traits cannot rebind past the size N
    using other = OpAllocator<U, N>;
  };
  explicit OpAllocator(OpSlot<N>& slot) noexcept : slot_(&slot) {}
  template <class U>
  OpAllocator(const OpAllocator<U, N>& other) noexcept : slot_(other.slot_) {}

  T* allocate(std::size_t n) {
    return static_cast<T*>(slot_->allocate(n * sizeof(T), alignof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { slot_->deallocate(p, n * sizeof(T), alignof(T)); }

  template <class U>
  bool operator==(const OpAllocator<U, N>& other) const noexcept {
    return slot_ == other.slot_;
  }

 private:
  template <class, std::size_t>
  friend class OpAllocator;
  OpSlot<N>* slot_;
};

}  // namespace parley::net
