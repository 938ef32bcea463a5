// A fixed pool of workers for parallel loops. Work items are taken
// dynamically; callers must make results independent of which thread runs
// which item.
//
// An encoder pass calls parallel_for about a hundred times, often for jobs of
// a millisecond or less. Waking a sleeping thread costs tens to hundreds of
// microseconds under a hypervisor, so idle workers (and the caller waiting for
// them) spin for a short while before they block.
#pragma once

#include <atomic>
#include <condition_variable>
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
  // The job: written by the caller before generation_ is bumped (release),
  // read by workers after they see the new generation (acquire).
  const std::function<void(int)>* job_ = nullptr;
  int job_size_ = 0;
  std::atomic<int> next_{0};
  std::atomic<int> busy_{0};  // workers still inside the current job
  std::atomic<long> generation_{0};
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;
};

}  // namespace amanuensis
