#include "hemingway/plugin/detail/ring_average.h"

#include <algorithm>
#include <vector>

#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/detail/brief.h"
#include "hemingway/plugin/process_group.h"

namespace hemingway::plugin::detail {
namespace {

using Clock = std::chrono::steady_clock;
using WorkPtr = c10::intrusive_ptr<c10d::Work>;

std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// a += b, or a = (a + b) * scale on the last reduction of a chunk. Built at
// -O3 so that the loop is vectorized; it is bound by memory bandwidth.
template <typename T>
__attribute__((optimize("O3"))) void reduceInto(T* a, const T* b, std::int64_t n, bool last,
                                                T scale) {
  if (last) {
    for (std::int64_t i = 0; i < n; ++i) a[i] = (a[i] + b[i]) * scale;
  } else {
    for (std::int64_t i = 0; i < n; ++i) a[i] += b[i];
  }
}

void reduce(const at::Tensor& into, const at::Tensor& from, bool last, double scale) {
  if (into.scalar_type() == at::kFloat) {
    reduceInto(into.data_ptr<float>(), from.data_ptr<float>(), into.numel(), last,
               static_cast<float>(scale));
  } else {
    reduceInto(into.data_ptr<double>(), from.data_ptr<double>(), into.numel(), last, scale);
  }
}

}  // namespace

void RingJob::wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  HEMINGWAY_CHECK_AS(TimeoutError, cv_.wait_for(lock, timeout, [this] { return done_; }),
                     "ring average of {} elements did not finish within {} ms", tensor_.numel(),
                     timeout.count());
  if (error_) std::rethrow_exception(error_);
}

bool RingJob::finished(std::chrono::milliseconds slice) {
  std::unique_lock<std::mutex> lock(mutex_);
  return cv_.wait_for(lock, slice, [this] { return done_; });
}

void RingAbort::abort() {
  std::lock_guard<std::mutex> lock(mutex_);
  aborted_ = true;
  for (auto& work : live_) work->abort();
}

void RingAbort::track(const WorkPtr& work) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (aborted_) {
    work->abort();
  } else {
    live_.push_back(work);
  }
}

void RingAbort::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  live_.clear();
}

bool RingAverager::supports(const at::Tensor& tensor) {
  return (tensor.scalar_type() == at::kFloat || tensor.scalar_type() == at::kDouble) &&
         tensor.dim() == 1 && tensor.is_contiguous() && tensor.device().is_cpu();
}

// Rank r's ring: right neighbour r+1, left neighbour r-1. The tensor is cut
// into W chunks. Reduce-scatter step s (0 <= s < W-1) receives chunk r-s-1
// from the left and adds it in; the last step's chunk, r+1, is then complete
// and is divided by W. Allgather step a (0 <= a < W-1) receives the finished
// chunk r-a into place. What a step receives is exactly what the next step
// sends, so each segment is forwarded as soon as it is reduced or received.
//
// Gloo moves a message only once the receiver has announced its receive, and
// that announcement travels behind whatever data is already queued in its
// direction. On a network link, receives are therefore all posted at the
// start, before any data: on a 1 Gbit shaped link, posting them later made a
// 25 MiB average 1.45x slower than Gloo's allreduce, posting them first 1.0x.
// On loopback nothing queues, and sending first, then posting each receive
// one step ahead as its segment is forwarded, measured 5-10% faster at 1 MiB.
// Reduce-scatter steps receive into a scratch region each. An allgather
// step overwrites a chunk this rank sent earlier without waiting for that
// send: the finished chunk cannot arrive before the data this rank
// contributed to it has left this rank's memory.
namespace {

// One ring average in flight: the geometry of its chunks and segments, and
// the messages it posted.
class Ring {
 public:
  Ring(ProcessGroup& group, const at::Tensor& tensor, at::Tensor& scratch, int tagBase,
       const RingOptions& options, RingAbort* abort)
      : group_(group),
        backend_(group.backend()),
        tensor_(tensor),
        options_(options),
        abort_(abort),
        world_(group.worldSize()),
        rank_(group.rank()),
        tagBase_(tagBase),
        deadline_(Clock::now() + group.timeout()),
        right_((rank_ + 1) % world_),
        left_((rank_ + world_ - 1) % world_),
        n_(tensor.numel()),
        seg_(std::max<std::int64_t>(1, options.segmentBytes / tensor.element_size())),
        maxChunk_((n_ + world_ - 1) / world_),
        maxSegs_(static_cast<int>((maxChunk_ + seg_ - 1) / seg_)),
        steps_(2 * (world_ - 1)),
        received_(static_cast<std::size_t>(steps_)) {
    const std::int64_t scratchSize = maxChunk_ * (world_ - 1);  // a region per reduce step
    if (scratch.numel() < scratchSize || scratch.scalar_type() != tensor.scalar_type()) {
      scratch = at::empty({scratchSize}, tensor.options());
    }
    scratch_ = scratch;
  }
  // The messages of this average are forgotten however it ends.
  ~Ring() {
    if (abort_ != nullptr) abort_->clear();
  }

  void run() {
    if (options_.receivesFirst) {
      for (int step = 0; step < steps_; ++step) postStep(step, 0);
    }
    for (int k = 0; k < segmentsOf(rank_); ++k) send(0, k);
    if (!options_.receivesFirst) postStep(0, 0);
    const double scale = 1.0 / world_;
    for (int step = 0; step < steps_; ++step) {
      const int chunk = chunkOf(step);
      for (int k = 0; k < segmentsOf(chunk); ++k) {
        waitFor(received_[static_cast<std::size_t>(step)][static_cast<std::size_t>(k)], "receive",
                step);
        if (step < world_ - 1) {
          const auto from = landing(step, k);
          reduce(tensor_.narrow(0, chunkStart(chunk) + k * seg_, from.numel()), from,
                 step == world_ - 2, scale);
        }
        if (step + 1 < steps_) {
          send(step + 1, k);
          if (!options_.receivesFirst && k < segmentsOf(chunkOf(step + 1))) post(step + 1, k);
        }
      }
      if (!options_.receivesFirst && step + 1 < steps_) postStep(step + 1, segmentsOf(chunk));
    }
    for (const auto& [step, work] : sent_) waitFor(work, "send", step);
  }

 private:
  int wrap(int c) const { return ((c % world_) + world_) % world_; }
  std::int64_t chunkStart(int c) const { return n_ * c / world_; }
  std::int64_t chunkEnd(int c) const { return n_ * (c + 1) / world_; }
  int tagOf(int step, int k) const { return tagBase_ + step * maxSegs_ + k; }
  int chunkOf(int step) const {
    return step < world_ - 1 ? wrap(rank_ - step - 1) : wrap(rank_ - (step - (world_ - 1)));
  }
  int segmentsOf(int chunk) const {
    return static_cast<int>((chunkEnd(chunk) - chunkStart(chunk) + seg_ - 1) / seg_);
  }
  WorkPtr track(WorkPtr work) {
    if (abort_ != nullptr) abort_->track(work);
    return work;
  }

  void waitFor(const WorkPtr& work, const char* what, int step) {
    const auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
    bool completed = false;
    try {
      completed = work->wait(std::max(remaining, std::chrono::milliseconds(1)));
    } catch (const std::exception& e) {
      HEMINGWAY_FAIL_AS(PeerLostError,
                        "ring average: {} at step {} of {} failed on rank {} of {} (timeout {} "
                        "ms): {}",
                        what, step, steps_, rank_, world_, group_.timeout().count(),
                        detail::brief(e));
    }
    // Gloo's wait returns false only for an aborted message.
    HEMINGWAY_CHECK_AS(PeerLostError, completed,
                       "ring average: {} at step {} of {} on rank {} of {} was aborted", what, step,
                       steps_, rank_, world_);
  }

  // Where step `step` receives segment k: its scratch region while reducing,
  // the tensor itself in the allgather.
  at::Tensor landing(int step, int k) const {
    const int chunk = chunkOf(step);
    const std::int64_t start = chunkStart(chunk) + k * seg_;
    const std::int64_t len = std::min(seg_, chunkEnd(chunk) - start);
    return step < world_ - 1 ? scratch_.narrow(0, step * maxChunk_ + k * seg_, len)
                             : tensor_.narrow(0, start, len);
  }

  void send(int step, int k) {
    const int chunk = step == 0 ? rank_ : chunkOf(step - 1);  // what the last step received
    const std::int64_t start = chunkStart(chunk) + k * seg_;
    std::vector<at::Tensor> part{tensor_.narrow(0, start, std::min(seg_, chunkEnd(chunk) - start))};
    sent_.emplace_back(step, track(backend_.send(part, right_, tagOf(step, k))));
  }

  void post(int step, int k) {
    std::vector<at::Tensor> part{landing(step, k)};
    received_[static_cast<std::size_t>(step)].push_back(
        track(backend_.recv(part, left_, tagOf(step, k))));
  }

  void postStep(int step, int fromSegment) {
    for (int k = fromSegment; k < segmentsOf(chunkOf(step)); ++k) post(step, k);
  }

  ProcessGroup& group_;
  c10d::ProcessGroup& backend_;
  const at::Tensor& tensor_;
  at::Tensor scratch_;
  const RingOptions& options_;
  RingAbort* abort_;
  const int world_, rank_, tagBase_;
  const Clock::time_point deadline_;
  const int right_, left_;
  const std::int64_t n_, seg_, maxChunk_;
  const int maxSegs_, steps_;
  std::vector<std::pair<int, WorkPtr>> sent_;  // (step, work)
  std::vector<std::vector<WorkPtr>> received_;
};

}  // namespace

void ringAverage(ProcessGroup& group, const at::Tensor& tensor, at::Tensor& scratch, int tagBase,
                 const RingOptions& options, RingAbort* abort) {
  at::NoGradGuard noGrad;
  if (group.worldSize() == 1) return;
  HEMINGWAY_CHECK(RingAverager::supports(tensor),
                  "ring average needs a contiguous 1-d float or double CPU tensor");
  Ring(group, tensor, scratch, tagBase, options, abort).run();
}

RingAverager::RingAverager(ProcessGroup& group, int channel, RingOptions options)
    : group_(group), channel_(channel), options_(options) {
  HEMINGWAY_CHECK(channel >= 0 && channel < 128, "ring channel must be in [0, 128), got {}",
                  channel);
  HEMINGWAY_CHECK(options.segmentBytes > 0, "ring segment must be > 0 bytes");
}

RingAverager::~RingAverager() {
  abort_.abort();  // a job still in flight ends at once: nobody waits for it
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<RingJob> RingAverager::submit(const at::Tensor& tensor) {
  HEMINGWAY_CHECK(supports(tensor), "ring average needs a contiguous 1-d float or double tensor");
  auto job = std::make_shared<RingJob>();
  job->tensor_ = tensor;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(job);
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  cv_.notify_all();
  return job;
}

void RingAverager::run() {
  for (;;) {
    std::shared_ptr<RingJob> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    std::exception_ptr error;
    try {
      HEMINGWAY_CHECK_AS(PeerLostError, !abort_.aborted(),
                         "ring average of {} elements not started: an earlier one failed or "
                         "was aborted",
                         job->tensor_.numel());
      average(job->tensor_);
    } catch (...) {
      error = std::current_exception();
      abort_.abort();  // the ring's message sequence is broken: fail the rest at once
    }
    {
      std::lock_guard<std::mutex> lock(job->mutex_);
      job->done_ = true;
      job->error_ = error;
      job->doneNs_->store(nowNs());
    }
    job->cv_.notify_all();
  }
}

void RingAverager::average(const at::Tensor& tensor) {
  // Tags: 7 bits of channel, 24 bits of sequence, so averagers never share a
  // tag and a job's tags are not reused while it runs.
  const int base = (channel_ << 24) | static_cast<int>(sequence_ & 0xffffff);
  const std::int64_t world = group_.worldSize();
  const std::int64_t seg = std::max<std::int64_t>(1, options_.segmentBytes / tensor.element_size());
  const std::int64_t segs = ((tensor.numel() + world - 1) / world + seg - 1) / seg;
  const std::int64_t used = 2 * (world - 1) * segs + 1;
  HEMINGWAY_CHECK(used < (1 << 24),
                  "ring average of {} elements in segments of {} bytes needs {} "
                  "messages; raise the segment size",
                  tensor.numel(), options_.segmentBytes, used);
  if ((sequence_ & 0xffffff) + used >= (1 << 24)) {
    sequence_ = 0;  // every rank wraps at the same job
    return average(tensor);
  }
  sequence_ += static_cast<std::uint32_t>(used);
  ringAverage(group_, tensor, scratch_, base, options_, &abort_);
}

void RingAverager::abort() { abort_.abort(); }

}  // namespace hemingway::plugin::detail
