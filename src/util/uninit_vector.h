// std::vector whose resize() leaves new elements uninitialized: for buffers
// of megabytes that the next step overwrites completely. A plain vector
// zero-fills them first, on the calling thread: ~90 MB per encoder pass.
// Large ones are drawn from the session's scratch pool (util/scratch.h), small
// ones from the heap; both are cache-line aligned.
#pragma once

#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "util/cache_line_allocator.h"
#include "util/scratch.h"

namespace amanuensis {

template <typename T>
struct DefaultInitAllocator : CacheLineAllocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <typename U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;  // default-, not value-initialized
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  // Large buffers come from the session's scratch pool while one is in scope
  // (util/scratch.h).
  T* allocate(size_t n) {
    if (n * sizeof(T) >= kScratchMinBytes) return static_cast<T*>(scratch_allocate(n * sizeof(T)));
    return CacheLineAllocator<T>::allocate(n);
  }
  void deallocate(T* p, size_t n) noexcept {
    if (n * sizeof(T) >= kScratchMinBytes) return scratch_deallocate(p);
    CacheLineAllocator<T>::deallocate(p, n);
  }
};

template <typename T>
using UninitVector = std::vector<T, DefaultInitAllocator<T>>;

}  // namespace amanuensis
