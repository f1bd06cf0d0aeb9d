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

#include <ATen/ATen.h>

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
class RingAverager {
 public:
  RingAverager(ProcessGroup& group, int channel, RingOptions options = {});
  ~RingAverager();
  RingAverager(const RingAverager&) = delete;
  RingAverager& operator=(const RingAverager&) = delete;

  // Float or double, contiguous, one dimension. The tensor must stay
  // untouched until the job is done.
  std::shared_ptr<RingJob> submit(const at::Tensor& tensor);

  static bool supports(const at::Tensor& tensor);

 private:
  void run();
  void average(const at::Tensor& tensor);

  ProcessGroup& group_;
  int channel_;
  RingOptions options_;
  std::uint32_t sequence_ = 0;  // only touched by the thread
  at::Tensor scratch_;          // only touched by the thread
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<RingJob>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

// Averages `tensor` in place over the group on the calling thread.
void ringAverage(ProcessGroup& group, const at::Tensor& tensor, at::Tensor& scratch, int tagBase,
                 const RingOptions& options = {});

}  // namespace hemingway::plugin::detail
