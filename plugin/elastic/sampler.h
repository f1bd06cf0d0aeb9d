// The sampler of an elastic run (see below), in plugin/elastic/ because its
// position is part of the training state that moves to joiners.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "hemingway/plugin/data/sampler.h"

namespace hemingway::elastic {

using data::SamplerOptions;

// The sampler of an elastic run. The epochs' permutations of [0, size)
// (drawn from (seed, epoch), the same on every rank) laid end to end form one
// stream; a global cursor walks it, and each step hands out the next
// world x batch positions, batch to each rank in rank order (a step may span
// two epochs). Which examples a rank gets depends only on (epoch, cursor,
// rank, world size), so when the world size changes between steps nothing is
// dropped or repeated: every example is seen exactly once per epoch, and
// every rank always gets a full batch.
//
// With a global batch (strong scaling: globalBatch()), each step hands out
// the next G positions whatever the world size, G / world to each rank and
// one more to the first G % world ranks: the same examples make a step on
// any number of workers.
class ElasticSampler {
 public:
  // Throws ConfigError for size < 1 or batch < 1.
  ElasticSampler(std::int64_t size, std::int64_t batchPerRank, SamplerOptions options = {});
  static ElasticSampler globalBatch(std::int64_t size, std::int64_t globalBatch,
                                    SamplerOptions options = {});

  // Examples per step over all ranks at `worldSize`.
  std::int64_t stepBatch(int worldSize) const { return global_ ? batch_ : batch_ * worldSize; }
  // Rank `rank`'s share of a step and where it starts among the step's positions.
  std::int64_t share(int rank, int worldSize) const;
  std::int64_t offset(int rank, int worldSize) const;

  // The examples rank `rank` of `worldSize` trains on at the cursor.
  std::vector<std::int64_t> batch(int rank, int worldSize);
  // Moves the cursor past the step that the `worldSize` ranks just took.
  void advance(int worldSize);

  // The epoch and the position in its permutation of the next example.
  std::int64_t epoch() const { return epoch_; }
  std::int64_t cursor() const { return cursor_; }
  // Restores a position (from another rank's training state).
  void setPosition(std::int64_t epoch, std::int64_t cursor);
  std::int64_t size() const { return size_; }
  std::int64_t batchPerRank() const { return batch_; }  // the global batch with globalBatch()

 private:
  const std::vector<std::int64_t>& permutation(std::int64_t epoch);

  std::int64_t size_;
  std::int64_t batch_;
  bool global_ = false;
  SamplerOptions options_;
  std::int64_t epoch_ = 0;
  std::int64_t cursor_ = 0;
  std::vector<std::pair<std::int64_t, std::vector<std::int64_t>>> cache_;  // a few epochs
};

}  // namespace hemingway::elastic
