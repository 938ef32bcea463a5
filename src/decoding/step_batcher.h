// Continuous batching across threads: the decoder steps of searches that run
// on several threads at once (a server's concurrent requests, each on its own
// Session) are run as one Decoder::step, so the weights are read once a step
// for all of them instead of once per request.
//
// A thread is a Member while it runs searches (run_searches). A step runs
// when every member has handed in its rows (the last to hand in runs
// everyone's on the shared pool, the others sleep until their logits are
// there), or when rows have waited max_wait (kMaxWait) for the rest, counted
// again from the end of any step that ran meanwhile: with more threads than
// cores, a member the OS has not scheduled would otherwise stall every other
// (3 live sessions on 2 cores: mean latency 3 s -> 10 s). So a request's rows
// join at its next step and leave when its searches end, and a member busy
// elsewhere (encoding its next window) holds nobody up, as it is not a member
// then. A row's logits are the same bytes in any batch (Decoder::step), so
// each request's transcript is the bytes it gets alone.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <vector>

#include "model/decoder.h"
#include "util/thread_pool.h"

namespace amanuensis::decoding {

class StepBatcher {
 public:
  // How long handed-in rows wait for the members that have not handed in:
  // a few times the gap between one member's steps (its logit rules and top-k).
  static constexpr std::chrono::microseconds kMaxWait{2000};

  // shared: the threads of steps that hold several members' rows (a
  // member's own pool has room for its own work only: with one thread each,
  // a shared step on it would leave the waiting members' cores idle).
  // max_wait: kMaxWait but in tests that need every step shared whatever
  // the scheduler does.
  StepBatcher(const Decoder& decoder, ThreadPool& shared,
              std::chrono::microseconds max_wait = kMaxWait)
      : decoder_(decoder), shared_(shared), max_wait_(max_wait) {}
  StepBatcher(const StepBatcher&) = delete;
  StepBatcher& operator=(const StepBatcher&) = delete;

  // A thread's membership, for as long as it runs searches.
  class Member {
   public:
    explicit Member(StepBatcher& batcher);
    ~Member();
    Member(const Member&) = delete;
    Member& operator=(const Member&) = delete;

   private:
    StepBatcher& batcher_;
  };

  // From a member: runs `batch` (Decoder::step's arguments) together with
  // what the other members hand in (on the shared pool; alone, on `pool`);
  // returns when its logits are written.
  void step(const std::vector<DecoderStep>& batch, float* logits, ThreadPool& pool);

  struct Load {
    int members = 0;      // threads running searches now
    int last_rows = 0;    // rows in the latest step
    uint64_t steps = 0;   // steps run
    uint64_t rows = 0;    // rows over all steps
    uint64_t shared = 0;  // steps that held more than one member's rows
  };
  Load load() const;

 private:
  struct Handed {
    const std::vector<DecoderStep>* batch;
    float* logits;
    bool done = false;
    std::exception_ptr error;
  };
  // Under mu_ (released while the step runs): runs every handed-in batch.
  void run(std::unique_lock<std::mutex>& lock, ThreadPool& pool);
  // After a batched step failed, which changed no state (Decoder::step checks
  // every part first): each member's part alone, so that a bad part fails
  // only its own search.
  void run_alone(const std::vector<Handed*>& group);
  bool ready() const {
    return !running_ && !handed_.empty() && int(handed_.size()) >= load_.members;
  }

  const Decoder& decoder_;
  ThreadPool& shared_;
  const std::chrono::microseconds max_wait_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<Handed*> handed_;
  bool running_ = false;
  Load load_;
  std::vector<DecoderStep> all_;  // the running step's parts, and its logits
  std::vector<float> logits_;
};

}  // namespace amanuensis::decoding
