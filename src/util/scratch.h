// Large scratch buffers kept for the next call instead of handed back to
// malloc. A 30 s window allocates ~90 MB of activations, quantized copies and
// cross-attention K/V, and frees them; given back, glibc returns much of it to
// the kernel and the next window pays a page fault and a zeroing per 4 KiB.
// A Session owns a ScratchPool; while a ScratchScope is open on a thread,
// that thread's UninitVectors of 128 KiB and more are carved from the pool's
// chunks and go back to it, whichever thread frees them. Freed regions merge
// with their free neighbours, so the memory the encoder frees serves the
// decoder's differently sized buffers, as one heap would. Nothing of the
// host process's allocator is changed.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

namespace amanuensis {

class ScratchPool {
 public:
  ScratchPool() = default;
  ~ScratchPool();  // frees every chunk; none of its blocks may be in use
  ScratchPool(const ScratchPool&) = delete;
  ScratchPool& operator=(const ScratchPool&) = delete;

  // The smallest free region of at least `bytes` (its rest stays free when
  // that is 128 KiB or more), else a new chunk from malloc. `got`: the size.
  void* take(size_t bytes, size_t& got);
  // Frees a block, merged with its free neighbours in the same chunk.
  void give(void* block, size_t bytes);
  size_t bytes_held() const;      // free, waiting for the next request
  size_t bytes_reserved() const;  // taken from malloc in all

 private:
  struct Chunk {
    char* base;
    size_t bytes;
  };
  void list(char* region, size_t bytes, size_t chunk);
  void unlist(char* region, size_t bytes);
  size_t chunk_containing(const char* p) const;

  mutable std::mutex mutex_;
  std::vector<Chunk> chunks_;                 // what malloc gave, freed with the pool
  std::map<char*, size_t> by_address_;        // free regions
  std::multimap<size_t, char*> by_size_;      // the same, by size
  std::map<char*, size_t> chunk_of_;          // each free region's chunk
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
