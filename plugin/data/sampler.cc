#include "hemingway/plugin/data/sampler.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "hemingway/hooks/error.h"

namespace hemingway::data {

DistributedSampler::DistributedSampler(std::int64_t size, int rank, int worldSize,
                                       SamplerOptions options)
    : size_(size), rank_(rank), worldSize_(worldSize), options_(options) {
  HEMINGWAY_CHECK_AS(ConfigError, size >= 1, "sampler: the data set is empty (size {})", size);
  HEMINGWAY_CHECK_AS(ConfigError, worldSize >= 1 && rank >= 0 && rank < worldSize,
                     "sampler: rank {} is out of range for world size {}", rank, worldSize);
  HEMINGWAY_CHECK_AS(ConfigError, !options.dropLast || size >= worldSize,
                     "sampler: {} examples cannot give each of {} ranks one with dropLast", size,
                     worldSize);
  setEpoch(0);
}

std::vector<std::int64_t> epochPermutation(std::int64_t size, std::int64_t epoch,
                                           const SamplerOptions& options) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(size));
  std::iota(order.begin(), order.end(), 0);
  if (options.shuffle) {
    std::mt19937_64 rng(options.seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(epoch));
    for (std::size_t i = order.size(); i > 1; --i) {  // Fisher-Yates, the same on every libc++
      std::swap(order[i - 1], order[rng() % i]);
    }
  }
  return order;
}

void DistributedSampler::setEpoch(std::int64_t epoch) {
  epoch_ = epoch;
  position_ = 0;
  const auto order = epochPermutation(size_, epoch, options_);
  const std::int64_t perRank =
      options_.dropLast ? size_ / worldSize_ : (size_ + worldSize_ - 1) / worldSize_;
  indices_.clear();
  indices_.reserve(static_cast<std::size_t>(perRank));
  for (std::int64_t k = 0; k < perRank; ++k) {
    const std::int64_t p = rank_ + k * worldSize_;
    indices_.push_back(order[static_cast<std::size_t>(p % size_)]);
  }
}

std::vector<std::int64_t> DistributedSampler::nextBatch(std::int64_t batch) {
  HEMINGWAY_CHECK_AS(ConfigError, batch >= 1, "sampler: batch size must be >= 1, got {}", batch);
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(batch));
  while (static_cast<std::int64_t>(out.size()) < batch) {
    if (position_ >= static_cast<std::int64_t>(indices_.size())) setEpoch(epoch_ + 1);
    out.push_back(indices_[static_cast<std::size_t>(position_++)]);
  }
  return out;
}

void DistributedSampler::setPosition(std::int64_t position) {
  HEMINGWAY_CHECK_AS(
      ConfigError, position >= 0 && position <= static_cast<std::int64_t>(indices_.size()),
      "sampler: position {} is outside this epoch's {} indices", position, indices_.size());
  position_ = position;
}

}  // namespace hemingway::data
