// A fixed pool of workers for parallel loops. Work items are taken
// dynamically; callers must make results independent of which thread runs
// which item.
//
// An encoder pass calls parallel_for about a hundred times, often for jobs of
// a millisecond or less. Waking a sleeping thread costs tens to hundreds of
// microseconds under a hypervisor, so idle workers (and the caller waiting for
// them) spin for a short while before they block. The caller waits for the
// job's items, not for the workers: on a busy machine a worker the scheduler
// has not run yet holds nothing up, the running threads take its share.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace amanuensis {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // threads >= 1; the caller is one of them
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return int(workers_.size()) + 1; }
  // Runs fn(i) for i in [0, n) and returns when all are done. If items throw,
  // the first exception is rethrown here (the other items still run).
  void parallel_for(int n, const std::function<void(int)>& fn);

 private:
  void worker_loop();
  void run_items();

  std::vector<std::thread> workers_;
  std::mutex mutex_;  // guards the sleeping side: condition waits and error_
  std::condition_variable wake_, done_;
  // The job: written by the caller before work_ publishes it (release), read
  // by a thread after it claims one of its items (acquire). An unfinished
  // item keeps the job, and so these, in place.
  const std::function<void(int)>* job_ = nullptr;
  // generation (16 bits) | items (24) | next item to claim (24), claimed by
  // compare-and-swap: a thread claims an item of the job it sees, and a
  // worker that wakes late finds none left instead of being waited for.
  std::atomic<uint64_t> work_{0};
  std::atomic<int> remaining_{0};  // items of the current job not yet finished
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;
};

}  // namespace amanuensis
