// N Sessions over one Model (in one SessionGroup, their decoder steps
// batched together, when given one), handed out in arrival order; at most
// queue_size requests wait for one. A Ticket is an admitted
// request: first queued, then holding a Session until it is destroyed.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "amanuensis/amanuensis.h"

namespace amanuensis::server {

class SessionPool {
 public:
  SessionPool(std::shared_ptr<const Model> model, std::shared_ptr<SessionGroup> group, int workers,
              int threads_per_worker, int queue_size);

  class Ticket {
   public:
    explicit Ticket(SessionPool& pool) : pool_(pool) {}
    ~Ticket();  // gives the Session back, or leaves the queue
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    // Blocks until this request's turn; nullptr once `give_up` says so.
    Session* wait(const std::function<bool()>& give_up);

   private:
    friend class SessionPool;
    SessionPool& pool_;
    Session* session_ = nullptr;
  };

  // nullptr when every Session is busy and the queue is full.
  std::shared_ptr<Ticket> admit();

  struct Load {
    int busy = 0, queued = 0;
  };
  Load load() const;
  bool full() const;  // admit() would refuse now

 private:
  void dispatch();  // under mu_: free Sessions to the queue's front

  const size_t queue_size_;
  std::vector<std::unique_ptr<Session>> sessions_;
  mutable std::mutex mu_;
  std::condition_variable turn_;
  std::vector<Session*> free_;
  std::deque<Ticket*> queue_;
};

}  // namespace amanuensis::server
