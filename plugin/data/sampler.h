// Which examples each rank trains on, as PyTorch's DistributedSampler does:
// every epoch a permutation of [0, size) drawn from (seed, epoch), the same on
// every rank; rank r takes positions r, r + world, r + 2·world, ... So the
// ranks see different examples, and together every example once per epoch.
// Each rank gets ceil(size / world) indices (the shortest ranks repeat the
// first examples of the permutation, as DistributedSampler pads), or
// floor(size / world) with dropLast. No torch: use the indices with plain
// tensors (index_select), or with torch::data through TorchSampler
// (plugin/data/torch_sampler.h).
#pragma once

#include <cstdint>
#include <vector>

namespace hemingway::data {

struct SamplerOptions {
  std::uint64_t seed = 0;
  bool shuffle = true;    // false: positions 0, 1, 2, ... of the identity
  bool dropLast = false;  // true: equal shards without repeats, the rest unused
};

// The permutation of [0, size) of `epoch`: the same on every rank, seeded by
// (options.seed, epoch) only; the identity without options.shuffle.
std::vector<std::int64_t> epochPermutation(std::int64_t size, std::int64_t epoch,
                                           const SamplerOptions& options);

// Strong scaling: rank `rank`'s share of a step of `globalBatch` examples
// over `worldSize` ranks (globalBatch / worldSize, one more for the first
// globalBatch % worldSize ranks) and where it starts among the step's positions.
struct BatchShare {
  std::int64_t offset = 0, count = 0;
};
inline BatchShare globalBatchShare(std::int64_t globalBatch, std::int64_t rank,
                                   std::int64_t worldSize) {
  const std::int64_t base = globalBatch / worldSize, extra = globalBatch % worldSize;
  return {rank * base + (rank < extra ? rank : extra), base + (rank < extra ? 1 : 0)};
}

class DistributedSampler {
 public:
  // Throws ConfigError for size < 1 or a rank outside [0, worldSize).
  DistributedSampler(std::int64_t size, int rank, int worldSize, SamplerOptions options = {});

  // Starts `epoch` (its permutation) from its first index.
  void setEpoch(std::int64_t epoch);
  std::int64_t epoch() const { return epoch_; }
  // This rank's indices of the current epoch, in order.
  const std::vector<std::int64_t>& indices() const { return indices_; }
  // The next `batch` indices of this rank; the next epoch starts when the
  // current one is used up, so a batch may span two epochs.
  std::vector<std::int64_t> nextBatch(std::int64_t batch);
  // Position of the next index within this epoch's indices().
  std::int64_t position() const { return position_; }
  void setPosition(std::int64_t position);
  std::int64_t size() const { return size_; }

 private:
  std::int64_t size_;
  int rank_;
  int worldSize_;
  SamplerOptions options_;
  std::int64_t epoch_ = 0;
  std::int64_t position_ = 0;
  std::vector<std::int64_t> indices_;
};

}  // namespace hemingway::data
