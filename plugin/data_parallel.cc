#include "hemingway/plugin/data_parallel.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/nn/module.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include "hemingway/hooks/error.h"
#include "hemingway/hooks/step_recorder.h"
#include "hemingway/plugin/detail/brief.h"
#include "hemingway/plugin/detail/collectives.h"
#include "hemingway/plugin/detail/ring_average.h"
#include "hemingway/plugin/process_group.h"

namespace hemingway::plugin {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Bucket {
  std::vector<std::size_t> params;  // indices into Impl::params
  std::size_t flat = 0;             // index of the flat buffer holding this bucket
  std::int64_t start = 0;           // first element of the bucket in that buffer
  std::int64_t elements = 0;
  at::Tensor buffer;                      // view of [start, start + elements)
  std::size_t pending = 0;                // parameters whose gradient has not arrived this backward
  c10::intrusive_ptr<c10d::Work> work;    // the allreduce in flight, if any
  std::shared_ptr<detail::RingJob> ring;  // or the ring average in flight
  std::int64_t launchNs = 0;
  std::shared_ptr<std::atomic<std::int64_t>> doneNs =
      std::make_shared<std::atomic<std::int64_t>>(0);
};

// Union length of [launch, done] intervals given in launch order.
double unionMs(const std::vector<std::pair<std::int64_t, std::int64_t>>& intervals) {
  std::int64_t total = 0, curStart = 0, curEnd = -1;
  for (const auto& [start, end] : intervals) {
    if (start > curEnd) {
      if (curEnd >= curStart) total += curEnd - curStart;
      curStart = start;
      curEnd = end;
    } else {
      curEnd = std::max(curEnd, end);
    }
  }
  if (curEnd >= curStart) total += curEnd - curStart;
  return total / 1e6;
}

}  // namespace

struct DataParallel::Impl : std::enable_shared_from_this<Impl> {
  ProcessGroup& group;
  std::shared_ptr<torch::nn::Module> module;
  DataParallelOptions options;
  hooks::StepRecorder* recorder;

  std::vector<at::Tensor> params;
  std::vector<std::size_t> bucketOf;
  std::vector<std::int64_t> offsetOf;  // element offset of each parameter in its bucket
  std::vector<at::Tensor> aliases;     // gradient tensors viewing the bucket buffers
  std::vector<at::Tensor> flats;       // one flat buffer per dtype
  std::vector<char> ready;
  std::vector<Bucket> buckets;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;
  std::vector<std::uintptr_t> hookKeys;
  std::unique_ptr<detail::RingAverager> ringAverager;

  int generation = -1;
  bool parkedSeen = false;
  bool syncEnabled = true;
  bool inBackward = false;
  std::size_t nextLaunch = 0;
  std::int64_t hookNs = 0;  // time spent in hooks packing and launching buckets

  Impl(ProcessGroup& g, std::shared_ptr<torch::nn::Module> m, DataParallelOptions o,
       hooks::StepRecorder* r)
      : group(g), module(std::move(m)), options(o), recorder(r) {
    followGroup();
  }

  // Follows a membership change of the group (checked at the start of every
  // sync): a new ring for the new ranks. In an elastic run the ring's waits
  // watch the abort board, and its messages are aborted when a member dies
  // (waitFor).
  void followGroup() {
    if (generation == group.generation() && parkedSeen == group.parked()) return;
    generation = group.generation();
    parkedSeen = group.parked();
    ringAverager.reset();
    if (!group.parked() && group.worldSize() > 1) {
      detail::RingOptions ringOptions;
      ringOptions.segmentBytes = static_cast<std::int64_t>(options.ringSegmentBytes);
      ringOptions.receivesFirst = !group.onLoopback();
      ringAverager = std::make_unique<detail::RingAverager>(group, group.newChannel(), ringOptions);
    }
  }

  bool useRing(const at::Tensor& tensor) const {
    const std::size_t minBytes =
        options.ringMinBytes.value_or(group.worldSize() == 2 ? 0 : std::size_t{4} << 20);
    return ringAverager != nullptr && detail::RingAverager::supports(tensor) &&
           static_cast<std::size_t>(tensor.numel() * tensor.element_size()) >= minBytes;
  }

  void buildBuckets() {
    for (auto& p : module->parameters(/*recurse=*/true)) {
      if (p.requires_grad()) params.push_back(p);
    }
    bucketOf.assign(params.size(), 0);
    offsetOf.assign(params.size(), 0);
    ready.assign(params.size(), 0);
    std::size_t bytes = 0;
    bool closed = true;
    // Reverse registration order: backward produces the last layers' gradients
    // first. As in PyTorch DDP, a bucket closes once it reaches its cap.
    for (std::size_t k = params.size(); k-- > 0;) {
      const auto& p = params[k];
      const bool typeChanged =
          !closed && params[buckets.back().params.front()].scalar_type() != p.scalar_type();
      if (closed || typeChanged) {
        buckets.emplace_back();
        bytes = 0;
      }
      auto& b = buckets.back();
      b.params.push_back(k);
      bucketOf[k] = buckets.size() - 1;
      offsetOf[k] = b.elements;
      bytes += p.numel() * p.element_size();
      b.elements += p.numel();
      const std::size_t cap =
          buckets.size() == 1 ? options.firstBucketCapBytes : options.bucketCapBytes;
      closed = bytes >= cap;
    }
    allocateBuffers();
  }

  // One flat buffer per dtype holds its buckets back to back in launch order,
  // so that buckets still waiting at the end of backward go out as a single
  // allreduce. Each parameter's gradient is made an alias of its slice, so
  // autograd accumulates straight into the memory that is sent.
  void allocateBuffers() {
    at::NoGradGuard noGrad;
    std::vector<at::ScalarType> types;
    std::vector<std::int64_t> sizes;
    for (auto& b : buckets) {
      const auto type = params[b.params.front()].scalar_type();
      auto it = std::find(types.begin(), types.end(), type);
      if (it == types.end()) {
        types.push_back(type);
        sizes.push_back(0);
        it = types.end() - 1;
      }
      b.flat = static_cast<std::size_t>(it - types.begin());
      b.start = sizes[b.flat];
      sizes[b.flat] += b.elements;
    }
    for (std::size_t f = 0; f < types.size(); ++f) {
      flats.push_back(at::zeros({sizes[f]}, at::TensorOptions().dtype(types[f])));
    }
    aliases.resize(params.size());
    for (auto& b : buckets) {
      b.buffer = flats[b.flat].narrow(0, b.start, b.elements);
      b.pending = b.params.size();
      for (std::size_t k : b.params) {
        auto alias = at::empty({0}, b.buffer.options());
        alias.set_(flats[b.flat].storage(), b.start + offsetOf[k], params[k].sizes());
        aliases[k] = alias;
      }
    }
  }

  bool gradIsAlias(std::size_t k) const {
    const auto& g = params[k].grad();
    return g.defined() && g.data_ptr() == aliases[k].data_ptr() &&
           g.sizes() == aliases[k].sizes() && g.is_contiguous();
  }

  // Registers a post-hook on every parameter's gradient accumulator (world > 1).
  void installHooks();

  void onGradReady(std::size_t index) {
    if (!syncEnabled || ready[index] || group.worldSize() <= 1) return;
    const auto t0 = nowNs();
    if (!inBackward) {
      followGroup();
      inBackward = true;
      std::weak_ptr<Impl> weak = weak_from_this();
      torch::autograd::Engine::get_default_engine().queue_callback([weak] {
        if (auto self = weak.lock()) self->finishSync(/*merge=*/false);
      });
    }
    ready[index] = 1;
    auto& b = buckets[bucketOf[index]];
    if (--b.pending == 0) launchReadyBuckets();
    hookNs += nowNs() - t0;
  }

  void launchReadyBuckets() {
    while (nextLaunch < buckets.size() && buckets[nextLaunch].pending == 0) {
      launch(buckets[nextLaunch++]);
    }
  }

  // Copies gradients that are not (or no longer) aliases into the bucket.
  void pack(Bucket& b) {
    at::NoGradGuard noGrad;
    for (std::size_t k : b.params) {
      const auto& grad = params[k].grad();
      if (gradIsAlias(k)) continue;
      if (grad.defined()) {
        aliases[k].copy_(grad);
      } else {
        aliases[k].zero_();
      }
    }
  }

  void launch(Bucket& b) {
    pack(b);
    startAllreduce(b.buffer, &b, &b + 1);
  }

  // Starts averaging `tensor`, which covers buckets [first, last): by the
  // ring, or by an allreduce SUM whose result finishSync() divides.
  void startAllreduce(const at::Tensor& tensor, Bucket* first, Bucket* last) {
    const auto launchNs = nowNs();
    c10::intrusive_ptr<c10d::Work> work;
    std::shared_ptr<detail::RingJob> ring;
    std::shared_ptr<std::atomic<std::int64_t>> done;
    if (useRing(tensor)) {
      ring = ringAverager->submit(tensor);
      done = ring->doneNs();
    } else {
      std::vector<at::Tensor> tensors{tensor};
      done = std::make_shared<std::atomic<std::int64_t>>(0);
      work = group.backend().allreduce(tensors);
      work->getFuture()->addCallback([done](c10::ivalue::Future&) { done->store(nowNs()); });
    }
    for (Bucket* b = first; b != last; ++b) {
      b->work = work;
      b->ring = ring;
      b->launchNs = launchNs;
      b->doneNs = done;
    }
  }

  // Launches the buckets that did not fill during backward, one allreduce
  // each: every rank issues the same collectives whichever buckets its hooks
  // launched. Outside backward (`merge`), no rank has launched any, so runs of
  // buckets adjacent in one flat buffer go out as a single allreduce.
  void launchRemaining(bool merge) {
    if (!merge) {
      while (nextLaunch < buckets.size()) launch(buckets[nextLaunch++]);
      return;
    }
    while (nextLaunch < buckets.size()) {
      std::size_t end = nextLaunch;
      std::int64_t elements = 0;
      while (end < buckets.size() && buckets[end].flat == buckets[nextLaunch].flat) {
        pack(buckets[end]);
        elements += buckets[end].elements;
        ++end;
      }
      auto& first = buckets[nextLaunch];
      startAllreduce(flats[first.flat].narrow(0, first.start, elements), &first,
                     buckets.data() + end);
      nextLaunch = end;
    }
  }

  void waitFor(Bucket& b, std::size_t index) {
    if (!b.ring) {
      group.wait(*b.work, fmt::format("gradient allreduce of bucket {} (a peer died, hung or "
                                      "diverged in its number of backward calls)",
                                      index));
      return;
    }
    if (group.membershipChanges()) {
      // A ring job blocked on a dead member's message never ends by itself
      // before the timeout: watch hemingway-run's abort board beside it.
      group.waitWatchingAbort([&](auto slice) { return b.ring->finished(slice); },
                              fmt::format("gradient allreduce of bucket {}", index));
    }
    try {
      b.ring->wait(group.timeout() + group.timeout());  // its own messages time out first
    } catch (const std::exception& e) {
      HEMINGWAY_FAIL_AS(PeerLostError,
                        "gradient allreduce of bucket {} failed on rank {} of {} (timeout {} ms); "
                        "a peer died, hung or diverged in its number of backward calls: {}",
                        index, group.rank(), group.worldSize(), group.timeout().count(),
                        detail::brief(e));
    }
  }

  // Launches the buckets still waiting (parameters without a gradient count as
  // zeros), waits for all of them and writes the averages into param.grad().
  void finishSync(bool merge) {
    const auto t0 = nowNs();
    struct Reset {
      Impl* impl;
      ~Reset() { impl->resetStep(); }
    } reset{this};
    launchRemaining(merge);
    std::vector<std::pair<std::int64_t, std::int64_t>> intervals;
    at::NoGradGuard noGrad;
    const double scale = 1.0 / group.worldSize();
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      auto& b = buckets[i];
      try {
        waitFor(b, i);
      } catch (...) {
        dropRing();
        throw;
      }
      const auto waited = nowNs();
      const auto done = b.doneNs->load();
      if (intervals.empty() || intervals.back().first != b.launchNs) {
        intervals.emplace_back(b.launchNs, done > 0 ? std::min(done, waited) : waited);
      }
      if (!b.ring) b.buffer.mul_(scale);  // sum -> mean; exact for powers of two
      for (std::size_t k : b.params) {
        if (!gradIsAlias(k)) params[k].mutable_grad() = aliases[k];
      }
      b.work.reset();
      b.ring.reset();
    }
    if (recorder != nullptr) {
      const double exposedMs = (nowNs() - t0 + hookNs) / 1e6;
      recorder->addCommunication(unionMs(intervals), exposedMs);
    }
  }

  // After a failed sync the ring's jobs in flight are aborted and its thread
  // joined before the error leaves: nothing may touch this generation's Gloo
  // group once the caller moves on to the next one. The next sync makes a
  // new ring.
  void dropRing() {
    if (ringAverager == nullptr) return;
    ringAverager->abort();
    ringAverager.reset();
    generation = -1;
  }

  void resetStep() {
    inBackward = false;
    nextLaunch = 0;
    hookNs = 0;
    std::fill(ready.begin(), ready.end(), 0);
    for (auto& b : buckets) {
      b.pending = b.params.size();
      b.work.reset();
      b.ring.reset();
    }
  }
};

void DataParallel::Impl::installHooks() {
  struct GradReadyHook : torch::autograd::FunctionPostHook {
    GradReadyHook(std::weak_ptr<Impl> i, std::size_t k) : impl(std::move(i)), index(k) {}
    torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                              const torch::autograd::variable_list&) override {
      if (auto self = impl.lock()) self->onGradReady(index);
      return outputs;
    }
    std::weak_ptr<Impl> impl;
    std::size_t index;
  };
  for (std::size_t k = 0; k < params.size(); ++k) {
    auto acc = torch::autograd::impl::grad_accumulator(params[k]);
    HEMINGWAY_CHECK(acc != nullptr, "parameter {} has no gradient accumulator", k);
    hookKeys.push_back(acc->add_post_hook(std::make_unique<GradReadyHook>(weak_from_this(), k)));
    accumulators.push_back(std::move(acc));
  }
}

DataParallel::DataParallel(ProcessGroup& group, std::shared_ptr<torch::nn::Module> module,
                           DataParallelOptions options, hooks::StepRecorder* recorder) {
  HEMINGWAY_CHECK_AS(ConfigError, module != nullptr, "DataParallel needs a module, got null");
  HEMINGWAY_CHECK_AS(ConfigError, options.bucketCapBytes > 0 && options.firstBucketCapBytes > 0,
                     "bucket caps must be > 0 bytes");
  HEMINGWAY_CHECK_AS(ConfigError, options.ringSegmentBytes > 0,
                     "ringSegmentBytes must be > 0 bytes");
  impl_ = std::make_shared<Impl>(group, std::move(module), options, recorder);
  impl_->buildBuckets();
  broadcastState();
  // Always: a group that grows later must find the hooks in place.
  impl_->installHooks();
}

DataParallel::~DataParallel() {
  for (std::size_t k = 0; k < impl_->accumulators.size(); ++k) {
    impl_->accumulators[k]->del_post_hook(impl_->hookKeys[k]);
  }
}

torch::nn::Module& DataParallel::module() { return *impl_->module; }
std::shared_ptr<torch::nn::Module> DataParallel::modulePtr() { return impl_->module; }

DataParallel::NoSync::NoSync(DataParallel& owner)
    : owner_(owner), previous_(owner.impl_->syncEnabled) {
  owner_.impl_->syncEnabled = false;
}

DataParallel::NoSync::~NoSync() { owner_.impl_->syncEnabled = previous_; }

void DataParallel::syncGradients() {
  if (impl_->group.worldSize() <= 1) return;
  HEMINGWAY_CHECK(!impl_->inBackward, "syncGradients() called during backward");
  impl_->followGroup();
  impl_->finishSync(/*merge=*/true);
}

void DataParallel::broadcastState() {
  std::vector<at::Tensor> state;
  for (auto& p : impl_->module->parameters(true)) state.push_back(p);
  for (auto& b : impl_->module->buffers(true)) state.push_back(b);
  detail::broadcastFromRank0(impl_->group, state);
}

void DataParallel::syncBuffers() {
  std::vector<at::Tensor> state;
  for (auto& b : impl_->module->buffers(true)) state.push_back(b);
  detail::broadcastFromRank0(impl_->group, state);
}

std::int64_t DataParallel::parameterCount() const {
  std::int64_t n = 0;
  for (auto& p : impl_->params) n += p.numel();
  return n;
}

std::int64_t DataParallel::parameterBytes() const {
  std::int64_t n = 0;
  for (auto& p : impl_->params) n += p.numel() * static_cast<std::int64_t>(p.element_size());
  return n;
}

std::size_t DataParallel::bucketCount() const { return impl_->buckets.size(); }

std::size_t DataParallel::bucketSize(std::size_t bucket) const {
  HEMINGWAY_CHECK(bucket < impl_->buckets.size(), "bucket {} out of range ({} buckets)", bucket,
                  impl_->buckets.size());
  return impl_->buckets[bucket].params.size();
}

hooks::RunInfo describeRun(const ProcessGroup& group,
                           const std::shared_ptr<torch::nn::Module>& module, std::string algorithm,
                           std::int64_t datasetSize) {
  hooks::RunInfo info;
  info.run = group.runId();
  info.rank = group.rank();
  info.worldSize = group.worldSize();
  info.algorithm = std::move(algorithm);
  for (const auto& p : module->parameters(true)) {
    if (!p.requires_grad()) continue;
    info.parameterCount += p.numel();
    info.parameterBytes += p.numel() * static_cast<std::int64_t>(p.element_size());
  }
  info.datasetSize = datasetSize;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) info.host = host;
  return info;
}

}  // namespace hemingway::plugin
