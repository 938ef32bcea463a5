#include "decoding/step_batcher.h"

#include <algorithm>
#include <chrono>
#include <exception>

namespace amanuensis::decoding {

StepBatcher::Member::Member(StepBatcher& batcher) : batcher_(batcher) {
  const std::lock_guard lock(batcher_.mu_);
  ++batcher_.load_.members;
}

StepBatcher::Member::~Member() {
  const std::lock_guard lock(batcher_.mu_);
  --batcher_.load_.members;
  // The members left may all have handed in: one of them runs the step.
  if (batcher_.ready()) batcher_.changed_.notify_all();
}

void StepBatcher::step(const std::vector<DecoderStep>& batch, float* logits, ThreadPool& pool) {
  Handed mine{&batch, logits, false, nullptr};
  std::unique_lock lock(mu_);
  handed_.push_back(&mine);
  auto deadline = std::chrono::steady_clock::now() + max_wait_;
  while (!mine.done) {
    if (ready() || (!running_ && std::chrono::steady_clock::now() >= deadline)) {
      run(lock, pool);
    } else if (running_) {
      changed_.wait(lock);
      // The members of the step that just ended get max_wait to hand in
      // again: a step longer than max_wait would otherwise leave the rows
      // that waited for it past their deadline, and two members could take
      // turns stepping alone for ever.
      if (!running_) deadline = std::max(deadline, std::chrono::steady_clock::now() + max_wait_);
    } else {
      changed_.wait_until(lock, deadline);
    }
  }
  if (mine.error) std::rethrow_exception(mine.error);
}

void StepBatcher::run(std::unique_lock<std::mutex>& lock, ThreadPool& pool) {
  std::vector<Handed*> group;
  group.swap(handed_);
  running_ = true;
  lock.unlock();
  int rows = 0;
  for (const Handed* h : group)
    for (const DecoderStep& s : *h->batch) rows += logit_rows(s);
  try {
    if (group.size() == 1) {  // alone: straight into the member's logits
      decoder_.step(*group[0]->batch, group[0]->logits, pool);
    } else {
      all_.clear();
      for (const Handed* h : group) all_.insert(all_.end(), h->batch->begin(), h->batch->end());
      const size_t v = size_t(decoder_.n_vocab());
      logits_.resize(size_t(rows) * v);
      decoder_.step(all_, logits_.data(), shared_);
      const float* from = logits_.data();
      for (const Handed* h : group) {
        size_t n = 0;
        for (const DecoderStep& s : *h->batch) n += size_t(logit_rows(s)) * v;
        std::copy(from, from + n, h->logits);
        from += n;
      }
    }
  } catch (...) {
    if (group.size() == 1)
      group[0]->error = std::current_exception();
    else
      run_alone(group);
  }
  lock.lock();
  for (Handed* h : group) h->done = true;
  running_ = false;
  load_.last_rows = rows;
  ++load_.steps;
  load_.rows += uint64_t(rows);
  if (group.size() > 1) ++load_.shared;
  changed_.notify_all();
}

void StepBatcher::run_alone(const std::vector<Handed*>& group) {
  for (Handed* h : group) {
    try {
      decoder_.step(*h->batch, h->logits, shared_);
    } catch (...) {
      h->error = std::current_exception();
    }
  }
}

StepBatcher::Load StepBatcher::load() const {
  const std::lock_guard lock(mu_);
  return load_;
}

}  // namespace amanuensis::decoding
