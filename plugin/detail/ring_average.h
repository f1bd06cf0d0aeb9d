// Ring allreduce that averages: a reduce-scatter and an allgather over Gloo
// point-to-point messages, streamed in segments, with the division by the
// world size fused into the last reduction. Each rank then scales only the
// 1/world of the data it owns, where "allreduce SUM, then divide" passes over
// all of it. Internal to DataParallel: the public headers stay free of ATen.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <ATen/ATen.h>

namespace c10d {
class Work;
}

namespace hemingway::plugin {
class ProcessGroup;
}

namespace hemingway::plugin::detail {

// One average in flight on a RingAverager's thread.
class RingJob {
 public:
  // Blocks until the average is in the tensor; rethrows the thread's error
  // (PeerLostError) or throws TimeoutError after `timeout`.
  void wait(std::chrono::milliseconds timeout);
  // Waits at most `slice` for the job to end (done or failed); never throws.
  bool finished(std::chrono::milliseconds slice);
  // Monotonic-clock nanoseconds at completion, 0 while running.
  const std::shared_ptr<std::atomic<std::int64_t>>& doneNs() const { return doneNs_; }

 private:
  friend class RingAverager;
  at::Tensor tensor_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::exception_ptr error_;
  std::shared_ptr<std::atomic<std::int64_t>> doneNs_ =
      std::make_shared<std::atomic<std::int64_t>>(0);
};

// The point-to-point messages of the average in flight, so that another
// thread can abort them: Gloo's own wait on a message cannot be cut into
// short slices (a timed-out wait poisons the whole group), but a pending send
// or receive can be aborted, and its wait then returns at once.
class RingAbort {
 public:
  // Aborts every message in flight and every later one: waits return false.
  void abort();
  bool aborted() const { return aborted_.load(); }
  // Registers a message of the average in flight (aborted at once after abort()).
  void track(const c10::intrusive_ptr<c10d::Work>& work);
  // The average in flight ended: forget its messages.
  void clear();

 private:
  std::mutex mutex_;
  std::atomic<bool> aborted_{false};
  std::vector<c10::intrusive_ptr<c10d::Work>> live_;
};

struct RingOptions {
  // Messages are cut into segments of this many bytes so that the reduction
  // of one overlaps the transfer of the next.
  std::int64_t segmentBytes = 4 << 20;
  // Post every receive before the first send (for a network link); false:
  // send first and post each receive one step ahead (for loopback).
  bool receivesFirst = true;
};

// Runs averages in submission order on one thread of its own, as
// ProcessGroupGloo runs its collectives on worker threads. Every rank must
// submit the same sequence of tensor sizes. `channel` separates the message
// tags of several averagers on one group (ProcessGroup::newChannel()).
// After one average fails, or after abort(), every later one fails at once
// with PeerLostError: the ring's message sequence on that group is broken.
class RingAverager {
 public:
  RingAverager(ProcessGroup& group, int channel, RingOptions options = {});
  // Aborts what is in flight, then joins the thread.
  ~RingAverager();
  RingAverager(const RingAverager&) = delete;
  RingAverager& operator=(const RingAverager&) = delete;

  // Float or double, contiguous, one dimension. The tensor must stay
  // untouched until the job is done.
  std::shared_ptr<RingJob> submit(const at::Tensor& tensor);

  static bool supports(const at::Tensor& tensor);

  // Thread-safe: the average in flight fails within moments, and every later
  // one at once (an elastic run's member died: hemingway-run aborted the
  // generation). The averager must then be replaced.
  void abort();

 private:
  void run();
  void average(const at::Tensor& tensor);

  ProcessGroup& group_;
  int channel_;
  RingOptions options_;
  std::uint32_t sequence_ = 0;  // only touched by the thread
  at::Tensor scratch_;          // only touched by the thread
  RingAbort abort_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<RingJob>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

// Averages `tensor` in place over the group on the calling thread. With
// `abort`, its messages can be aborted from another thread (PeerLostError).
void ringAverage(ProcessGroup& group, const at::Tensor& tensor, at::Tensor& scratch, int tagBase,
                 const RingOptions& options = {}, RingAbort* abort = nullptr);

}  // namespace hemingway::plugin::detail
