// DistributedSampler as a torch::data sampler, for
//   torch::data::make_data_loader(dataset, TorchSampler(size, rank, world), options)
// Each reset() starts the next epoch (a new permutation, the same on every rank).
#pragma once

#include <torch/data/samplers/base.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

#include "hemingway/hooks/error.h"

#include "hemingway/plugin/data/sampler.h"

namespace hemingway::data {

class TorchSampler : public torch::data::samplers::Sampler<std::vector<size_t>> {
 public:
  TorchSampler(std::int64_t size, int rank, int worldSize, SamplerOptions options = {})
      : sampler_(size, rank, worldSize, options) {}

  void reset(torch::optional<size_t> newSize = torch::nullopt) override {
    HEMINGWAY_CHECK_AS(
        ConfigError, !newSize || static_cast<std::int64_t>(*newSize) == sampler_.size(),
        "TorchSampler: the data set changed size ({} -> {})", sampler_.size(), *newSize);
    if (started_) sampler_.setEpoch(sampler_.epoch() + 1);
    started_ = true;
  }

  torch::optional<std::vector<size_t>> next(size_t batchSize) override {
    const auto& all = sampler_.indices();
    const auto left = static_cast<std::int64_t>(all.size()) - sampler_.position();
    if (left <= 0) return torch::nullopt;
    const auto n = std::min<std::int64_t>(left, static_cast<std::int64_t>(batchSize));
    std::vector<size_t> out;
    for (std::int64_t k = 0; k < n; ++k) {
      out.push_back(static_cast<size_t>(all[static_cast<size_t>(sampler_.position() + k)]));
    }
    sampler_.setPosition(sampler_.position() + n);
    return out;
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    archive.write("epoch", torch::tensor(sampler_.epoch()), /*is_buffer=*/true);
    archive.write("position", torch::tensor(sampler_.position()), /*is_buffer=*/true);
  }

  void load(torch::serialize::InputArchive& archive) override {
    torch::Tensor epoch, position;
    archive.read("epoch", epoch, /*is_buffer=*/true);
    archive.read("position", position, /*is_buffer=*/true);
    sampler_.setEpoch(epoch.item<std::int64_t>());
    sampler_.setPosition(position.item<std::int64_t>());
    started_ = true;
  }

  const DistributedSampler& sampler() const { return sampler_; }

 private:
  DistributedSampler sampler_;
  bool started_ = false;
};

}  // namespace hemingway::data
