#include "util/scratch.h"

#include <cstdlib>
#include <new>

namespace amanuensis {
namespace {

thread_local ScratchPool* current = nullptr;

// Every scratch block starts with this header, so that it goes back where it
// came from: its pool, or malloc when it was allocated outside any scope.
struct alignas(64) Header {
  ScratchPool* owner;
  size_t bytes;  // of the whole block, header included
};

void* new_block(size_t bytes) {
  void* p = std::aligned_alloc(alignof(Header), (bytes + 63) / 64 * 64);
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace

ScratchPool::~ScratchPool() {
  for (auto& [bytes, block] : free_) std::free(block);
}

void* ScratchPool::take(size_t bytes, size_t& got) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.lower_bound(bytes);
    if (it != free_.end() && it->first <= 2 * bytes) {
      got = it->first;
      void* block = it->second;
      free_.erase(it);
      return block;
    }
  }
  got = (bytes + 63) / 64 * 64;
  return new_block(got);
}

void ScratchPool::give(void* block, size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  free_.emplace(bytes, block);
}

size_t ScratchPool::bytes_held() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t total = 0;
  for (const auto& [bytes, block] : free_) total += bytes;
  return total;
}

ScratchScope::ScratchScope(ScratchPool& pool) : previous_(current) { current = &pool; }
ScratchScope::~ScratchScope() { current = previous_; }

void* scratch_allocate(size_t bytes) {
  const size_t want = bytes + sizeof(Header);
  size_t got = (want + 63) / 64 * 64;
  void* block = current ? current->take(want, got) : new_block(want);
  auto* h = static_cast<Header*>(block);
  h->owner = current;
  h->bytes = got;
  return h + 1;
}

void scratch_deallocate(void* p) {
  Header* h = static_cast<Header*>(p) - 1;
  if (h->owner)
    h->owner->give(h, h->bytes);
  else
    std::free(h);
}

}  // namespace amanuensis
