#include "server/session_pool.h"

#include <algorithm>
#include <chrono>

namespace amanuensis::server {

// How often a queued request re-checks whether it should give up (client gone, deadline).
constexpr auto kGiveUpPoll = std::chrono::milliseconds(50);

SessionPool::SessionPool(std::shared_ptr<const Model> model, std::shared_ptr<SessionGroup> group,
                         int workers, int threads_per_worker, int queue_size)
    : queue_size_(size_t(queue_size)) {
  for (int i = 0; i < workers; ++i) {
    sessions_.push_back(group ? std::make_unique<Session>(group, threads_per_worker)
                              : std::make_unique<Session>(model, threads_per_worker));
    free_.push_back(sessions_.back().get());
  }
}

std::shared_ptr<SessionPool::Ticket> SessionPool::admit() {
  std::lock_guard lock(mu_);
  if (free_.empty() && queue_.size() >= queue_size_) return nullptr;
  auto ticket = std::make_shared<Ticket>(*this);
  queue_.push_back(ticket.get());
  dispatch();
  return ticket;
}

void SessionPool::dispatch() {
  bool handed = false;
  while (!free_.empty() && !queue_.empty()) {
    queue_.front()->session_ = free_.back();
    queue_.pop_front();
    free_.pop_back();
    handed = true;
  }
  if (handed) turn_.notify_all();
}

SessionPool::Load SessionPool::load() const {
  std::lock_guard lock(mu_);
  return {int(sessions_.size() - free_.size()), int(queue_.size())};
}

bool SessionPool::full() const {
  std::lock_guard lock(mu_);
  return free_.empty() && queue_.size() >= queue_size_;
}

Session* SessionPool::Ticket::wait(const std::function<bool()>& give_up) {
  std::unique_lock lock(pool_.mu_);
  while (!session_) {
    if (give_up()) return nullptr;
    pool_.turn_.wait_for(lock, kGiveUpPoll);
  }
  return session_;
}

SessionPool::Ticket::~Ticket() {
  std::lock_guard lock(pool_.mu_);
  if (session_)
    pool_.free_.push_back(session_);
  else
    pool_.queue_.erase(std::find(pool_.queue_.begin(), pool_.queue_.end(), this));
  pool_.dispatch();
}

}  // namespace amanuensis::server
