// Large scratch buffers kept for the next call instead of handed back to
// malloc. A 30 s window allocates ~90 MB of activations, quantized copies and
// cross-attention K/V, and frees them; given back, glibc returns much of it to
// the kernel and the next window pays a page fault and a zeroing per 4 KiB
// (a 6-15 % slower encoder, and 5x the page faults). A Session owns a
// ScratchPool; while a ScratchScope is open on a thread, that thread's
// UninitVectors of 128 KiB and more draw their memory from the pool, and give
// it back there, whichever thread frees them. Nothing of the host process's
// allocator is changed.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>

namespace amanuensis {

class ScratchPool {
 public:
  ScratchPool() = default;
  ~ScratchPool();  // frees every block it holds; none of its blocks may be in use
  ScratchPool(const ScratchPool&) = delete;
  ScratchPool& operator=(const ScratchPool&) = delete;

  // A held block of at least `bytes` (and at most twice that), else a new one.
  void* take(size_t bytes, size_t& got);
  void give(void* block, size_t bytes);
  size_t bytes_held() const;

 private:
  mutable std::mutex mutex_;
  std::multimap<size_t, void*> free_;  // size -> block
};

// Routes this thread's large UninitVector allocations to `pool` while it lives.
class ScratchScope {
 public:
  explicit ScratchScope(ScratchPool& pool);
  ~ScratchScope();
  ScratchScope(const ScratchScope&) = delete;
  ScratchScope& operator=(const ScratchScope&) = delete;

 private:
  ScratchPool* previous_;
};

// The allocation functions of UninitVector (util/uninit_vector.h) for blocks
// of kScratchMinBytes or more.
inline constexpr size_t kScratchMinBytes = size_t(128) << 10;
void* scratch_allocate(size_t bytes);
void scratch_deallocate(void* p);

}  // namespace amanuensis
