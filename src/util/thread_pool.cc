#include "util/thread_pool.h"

#include <chrono>
#include <stdexcept>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace amanuensis {
namespace {

// How long a thread polls before it blocks: longer than the gaps between the
// parallel loops of one encoder pass, short enough not to burn a core when
// the engine is idle.
constexpr auto kSpinTime = std::chrono::microseconds(500);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Polls `ready` for up to kSpinTime; true once it holds. Every 64 polls it
// offers the core to the scheduler, so that with more threads than cores the
// thread being waited for can run.
template <typename Ready>
bool spin_until(Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() > deadline) return ready();
    std::this_thread::yield();
  }
}

constexpr int kIndexBits = 24;
constexpr uint64_t kIndexMask = (uint64_t(1) << kIndexBits) - 1;
constexpr int kMaxItems = int(kIndexMask);

uint64_t generation_of(uint64_t work) { return work >> (2 * kIndexBits); }
uint64_t pack(uint64_t generation, uint64_t items) {
  return (generation << (2 * kIndexBits)) | (items << kIndexBits);
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads < 1) throw std::invalid_argument("thread count must be at least 1");
  for (int t = 1; t < threads; ++t) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    work_.store(pack(generation_of(work_.load()) + 1, 0), std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run_items() {
  for (;;) {
    uint64_t work = work_.load(std::memory_order_acquire);
    uint64_t index;
    do {
      index = work & kIndexMask;
      if (index >= ((work >> kIndexBits) & kIndexMask)) return;  // none left
    } while (!work_.compare_exchange_weak(work, work + 1, std::memory_order_acq_rel,
                                          std::memory_order_acquire));
    try {
      (*job_)(int(index));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // Under the lock, so a caller between its check and its wait cannot miss it.
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_all();
    }
  }
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    auto new_job = [&] {  // stop_ too: the 16-bit generation may wrap onto `seen`
      return generation_of(work_.load(std::memory_order_acquire)) != seen || stop_.load();
    };
    if (!spin_until(new_job)) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, new_job);
    }
    if (stop_) return;
    seen = generation_of(work_.load(std::memory_order_acquire));
    run_items();
  }
}

void ThreadPool::parallel_for(int n, const std::function<void(int)>& fn) {
  if (n <= 1 || workers_.empty()) {  // nothing to share: no wake-up, no lock
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  if (n > kMaxItems) throw std::invalid_argument("parallel_for: too many items");
  job_ = &fn;
  remaining_.store(n, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);  // so a worker between check and wait cannot miss it
    work_.store(pack(generation_of(work_.load()) + 1, uint64_t(n)), std::memory_order_release);
  }
  wake_.notify_all();
  run_items();
  auto all_done = [&] { return remaining_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(all_done)) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, all_done);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace amanuensis
