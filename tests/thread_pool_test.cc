// The pool runs every item exactly once, hands back the first exception, stays
// usable after one, and survives many tiny jobs back to back and teardown
// right after a job (the spin-then-sleep handshake's edge cases).
#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

namespace amanuensis {
namespace {

TEST(ThreadPool, RunsEachItemOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int n : {0, 1, 2, threads - 1, threads, 1000}) {
      std::vector<std::atomic<int>> hits(std::max(n, 1));
      pool.parallel_for(n, [&](int i) { hits[i]++; });
      for (int i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << threads << " " << n << " " << i;
    }
  }
}

TEST(ThreadPool, RethrowsTheFirstErrorAndStaysUsable) {
  ThreadPool pool(3);
  std::atomic<int> ran{0};
  EXPECT_THROW(pool.parallel_for(100,
                                 [&](int i) {
                                   ran++;
                                   if (i % 7 == 3) throw std::runtime_error("item failed");
                                 }),
               std::runtime_error);
  EXPECT_EQ(ran.load(), 100);  // the other items still ran
  std::atomic<int> sum{0};
  pool.parallel_for(10, [&](int i) { sum += i; });
  EXPECT_EQ(sum.load(), 45);
}

TEST(ThreadPool, ManyTinyJobsAndTeardownRightAfter) {
  for (int round = 0; round < 20; ++round) {
    ThreadPool pool(3);
    std::atomic<long> total{0};
    for (int job = 0; job < 5000; ++job) pool.parallel_for(3, [&](int i) { total += i + 1; });
    EXPECT_EQ(total.load(), 5000L * 6);
  }  // each pool is destroyed right after its last job
}

TEST(ThreadPool, RejectsZeroThreads) { EXPECT_THROW(ThreadPool(0), std::invalid_argument); }

}  // namespace
}  // namespace amanuensis
