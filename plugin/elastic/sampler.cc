#include "hemingway/plugin/elastic/sampler.h"

#include "hemingway/hooks/error.h"

namespace hemingway::elastic {

ElasticSampler::ElasticSampler(std::int64_t size, std::int64_t batchPerRank, SamplerOptions options)
    : size_(size), batch_(batchPerRank), options_(options) {
  HEMINGWAY_CHECK_AS(ConfigError, size >= 1, "sampler: the data set is empty (size {})", size);
  HEMINGWAY_CHECK_AS(ConfigError, batchPerRank >= 1, "sampler: batch size must be >= 1, got {}",
                     batchPerRank);
}

ElasticSampler ElasticSampler::globalBatch(std::int64_t size, std::int64_t globalBatch,
                                           SamplerOptions options) {
  ElasticSampler out(size, globalBatch, options);
  out.global_ = true;
  return out;
}

std::int64_t ElasticSampler::share(int rank, int worldSize) const {
  return global_ ? data::globalBatchShare(batch_, rank, worldSize).count : batch_;
}

std::int64_t ElasticSampler::offset(int rank, int worldSize) const {
  return global_ ? data::globalBatchShare(batch_, rank, worldSize).offset : rank * batch_;
}

const std::vector<std::int64_t>& ElasticSampler::permutation(std::int64_t epoch) {
  for (const auto& [e, order] : cache_) {
    if (e == epoch) return order;
  }
  auto order = data::epochPermutation(size_, epoch, options_);
  if (cache_.size() >= 3) cache_.erase(cache_.begin());
  cache_.emplace_back(epoch, std::move(order));
  return cache_.back().second;
}

std::vector<std::int64_t> ElasticSampler::batch(int rank, int worldSize) {
  HEMINGWAY_CHECK_AS(ConfigError, worldSize >= 1 && rank >= 0 && rank < worldSize,
                     "sampler: rank {} is out of range for world size {}", rank, worldSize);
  const std::int64_t n = share(rank, worldSize), from = offset(rank, worldSize);
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t k = 0; k < n; ++k) {
    const std::int64_t pos = cursor_ + from + k;
    out.push_back(permutation(epoch_ + pos / size_)[static_cast<std::size_t>(pos % size_)]);
  }
  return out;
}

void ElasticSampler::advance(int worldSize) {
  HEMINGWAY_CHECK_AS(ConfigError, worldSize >= 1, "sampler: world size must be >= 1, got {}",
                     worldSize);
  cursor_ += stepBatch(worldSize);
  epoch_ += cursor_ / size_;
  cursor_ %= size_;
}

void ElasticSampler::setPosition(std::int64_t epoch, std::int64_t cursor) {
  HEMINGWAY_CHECK_AS(ConfigError, epoch >= 0 && cursor >= 0 && cursor < size_,
                     "sampler: position (epoch {}, cursor {}) is outside a data set of {}", epoch,
                     cursor, size_);
  epoch_ = epoch;
  cursor_ = cursor;
}

}  // namespace hemingway::elastic
