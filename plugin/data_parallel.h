// Data-parallel training for any torch::nn::Module over a Hemingway
// ProcessGroup: LibTorch C++ has no DistributedDataParallel, and Debian's
// libtorch cannot build c10d::Reducer, so Hemingway brings its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "hemingway/hooks/step_record.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace hemingway::hooks {
class StepRecorder;
}  // namespace hemingway::hooks

namespace hemingway::plugin {

class ProcessGroup;

struct DataParallelOptions {
  // Gradients are packed into buckets of at most this many bytes (PyTorch
  // DDP's bucket_cap_mb default). A parameter larger than the cap gets a
  // bucket of its own.
  std::size_t bucketCapBytes = 25u << 20;
  // The first bucket (last layers, whose gradients arrive first) is smaller,
  // as in PyTorch DDP, so that communication starts early in backward.
  std::size_t firstBucketCapBytes = 1u << 20;
  // Float and double gradients sent in one message of at least this many
  // bytes are averaged by Hemingway's ring (a reduce-scatter and an allgather
  // over Gloo point-to-point messages, the division by the world size fused
  // into the last reduction) rather than by Gloo's allreduce SUM followed by
  // a division pass over the whole message. 0: always the ring; SIZE_MAX:
  // never; unset: 0 at world size 2 and 4 MiB above (on 2 cores with 4
  // workers, Gloo's allreduce was the faster for small messages).
  std::optional<std::size_t> ringMinBytes;
  // The ring streams its messages in segments of this many bytes.
  std::size_t ringSegmentBytes = 4u << 20;
};

// Wraps a module for synchronous data-parallel training:
// - at construction, parameters and buffers are broadcast from rank 0;
// - during backward, gradients are averaged across ranks by a bucketed
//   allreduce launched asynchronously from autograd hooks as buckets fill, so
//   communication overlaps the rest of backward;
// - at the end of backward the averaged gradients are in param.grad(), ready
//   for any optimizer.
// A parameter that gets no gradient on a rank in a step contributes zeros; its
// gradient after the sync is the mean over ranks. At world size 1 nothing is
// communicated. Every rank must call backward the same number of times.
class DataParallel {
 public:
  DataParallel(ProcessGroup& group, std::shared_ptr<torch::nn::Module> module,
               DataParallelOptions options = {}, hooks::StepRecorder* recorder = nullptr);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  torch::nn::Module& module();
  std::shared_ptr<torch::nn::Module> modulePtr();

  // While a NoSync is alive, backward only accumulates gradients locally
  // (gradient accumulation); the first backward after it syncs the sum.
  class NoSync {
   public:
    explicit NoSync(DataParallel& owner);
    ~NoSync();
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DataParallel& owner_;
    bool previous_;
  };
  NoSync noSync() { return NoSync(*this); }

  // Averages the current param.grad() across ranks through the buckets, outside
  // of backward (for gradients computed by other means).
  void syncGradients();
  // Broadcasts parameters and buffers from rank 0 (done at construction).
  void broadcastState();
  // Broadcasts buffers only (e.g. BatchNorm statistics) from rank 0.
  void syncBuffers();

  std::int64_t parameterCount() const;
  std::int64_t parameterBytes() const;
  std::size_t bucketCount() const;
  // Number of parameters in `bucket` (buckets are numbered in launch order).
  std::size_t bucketSize(std::size_t bucket) const;

 private:
  friend class NoSync;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The run_start record of a data-parallel run: membership and run id from the
// group, trainable parameter count and bytes of `module`, this host's name.
hooks::RunInfo describeRun(const ProcessGroup& group,
                           const std::shared_ptr<torch::nn::Module>& module, std::string algorithm,
                           std::int64_t datasetSize);

}  // namespace hemingway::plugin
