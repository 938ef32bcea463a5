#include "util/scratch.h"

#include <cstdlib>
#include <new>
#include <stdexcept>

#include "util/cache_line_allocator.h"
#include "util/round.h"

namespace amanuensis {
namespace {

thread_local ScratchPool* current = nullptr;

constexpr size_t kAlign = kCacheLine;  // as every other buffer the kernels read
size_t aligned(size_t n) { return round_up(n, kAlign); }

// Every scratch block starts with this header, so that it goes back where it
// came from: its pool, or malloc when it was allocated outside any scope.
struct alignas(kAlign) Header {
  ScratchPool* owner;
  size_t bytes;  // of the whole block, header included
};

}  // namespace

ScratchPool::~ScratchPool() {
  for (const Chunk& c : chunks_) std::free(c.base);
}

void* ScratchPool::take(size_t bytes, size_t& got) {
  bytes = aligned(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  auto fit = by_size_.lower_bound(bytes);
  if (fit == by_size_.end()) {  // nothing free is large enough: a new chunk
    void* base = std::aligned_alloc(kAlign, bytes);
    if (!base) throw std::bad_alloc();
    chunks_.push_back({static_cast<char*>(base), bytes});
    got = bytes;
    return base;
  }
  char* region = fit->second;
  const size_t size = fit->first;
  unlist(region, size);
  got = size;
  if (size - bytes >= kScratchMinBytes) {  // keep the rest for the next request
    list(region + bytes, size - bytes, chunk_of_.at(region));
    got = bytes;
  }
  chunk_of_.erase(region);
  return region;
}

void ScratchPool::give(void* block, size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  char* region = static_cast<char*>(block);
  const size_t chunk = chunk_containing(region);
  // Merge with the free neighbours of the same chunk, so that memory freed in
  // pieces serves a later large request again.
  auto next = by_address_.find(region + bytes);
  if (next != by_address_.end() && chunk_of_.at(next->first) == chunk) {
    const size_t next_size = next->second;
    unlist(next->first, next_size);
    chunk_of_.erase(region + bytes);
    bytes += next_size;
  }
  auto prev = by_address_.lower_bound(region);
  if (prev != by_address_.begin()) {
    --prev;
    if (prev->first + prev->second == region && chunk_of_.at(prev->first) == chunk) {
      char* start = prev->first;
      const size_t prev_size = prev->second;
      unlist(start, prev_size);
      region = start;
      bytes += prev_size;
      chunk_of_.erase(start);
    }
  }
  list(region, bytes, chunk);
}

void ScratchPool::list(char* region, size_t bytes, size_t chunk) {
  by_address_.emplace(region, bytes);
  by_size_.emplace(bytes, region);
  chunk_of_[region] = chunk;
}

void ScratchPool::unlist(char* region, size_t bytes) {
  by_address_.erase(region);
  for (auto it = by_size_.lower_bound(bytes); it != by_size_.end() && it->first == bytes; ++it)
    if (it->second == region) {
      by_size_.erase(it);
      break;
    }
}

size_t ScratchPool::chunk_containing(const char* p) const {
  for (size_t i = 0; i < chunks_.size(); ++i)
    if (p >= chunks_[i].base && p < chunks_[i].base + chunks_[i].bytes) return i;
  throw std::logic_error("scratch: a block that is not the pool's came back to it");
}

size_t ScratchPool::bytes_held() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t total = 0;
  for (const auto& [region, bytes] : by_address_) total += bytes;
  return total;
}

size_t ScratchPool::bytes_reserved() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t total = 0;
  for (const Chunk& c : chunks_) total += c.bytes;
  return total;
}

ScratchScope::ScratchScope(ScratchPool& pool) : previous_(current) { current = &pool; }
ScratchScope::~ScratchScope() { current = previous_; }

void* scratch_allocate(size_t bytes) {
  const size_t want = aligned(bytes + sizeof(Header));
  size_t got = want;
  void* block = current ? current->take(want, got) : std::aligned_alloc(kAlign, want);
  if (!block) throw std::bad_alloc();
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
