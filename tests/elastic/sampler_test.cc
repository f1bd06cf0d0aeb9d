// The elastic sampler: every example once per epoch whatever the world size.
#include "hemingway/plugin/elastic/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "hemingway/hooks/error.h"

namespace {

using hemingway::data::SamplerOptions;
using hemingway::elastic::ElasticSampler;

TEST(ElasticSamplerTest, EveryExampleOncePerEpochWhileTheWorldSizeChanges) {
  for (std::int64_t size : {7, 12, 97, 240}) {
    ElasticSampler s(size, 4, SamplerOptions{5});
    const int worlds[] = {2, 3, 1, 4, 3, 2};
    std::map<std::int64_t, std::multiset<std::int64_t>> seen;
    for (int step = 0; step < 200; ++step) {
      const int world = worlds[(step / 3) % 6];
      // The stream position of each example tells its epoch.
      const std::int64_t epoch = s.epoch(), cursor = s.cursor();
      for (int r = 0; r < world; ++r) {
        const auto batch = s.batch(r, world);
        ASSERT_EQ(batch.size(), 4u) << "every rank a full batch";
        for (std::int64_t k = 0; k < 4; ++k) {
          seen[epoch + (cursor + r * 4 + k) / size].insert(batch[static_cast<std::size_t>(k)]);
        }
      }
      s.advance(world);
    }
    ASSERT_GE(seen.size(), 2u);
    for (const auto& [epoch, indices] : seen) {
      for (auto i : indices) EXPECT_EQ(indices.count(i), 1u) << "epoch " << epoch << " index " << i;
      if (epoch < s.epoch()) EXPECT_EQ(static_cast<std::int64_t>(indices.size()), size);
    }
  }
}

// Strong scaling: a step is the same G examples on any number of ranks,
// shares differ by at most one, and every example comes once per epoch.
TEST(ElasticSamplerTest, AGlobalBatchIsTheSameExamplesOnAnyWorldSize) {
  const std::int64_t size = 97, global = 10;
  std::vector<ElasticSampler> samplers;
  for (int world : {1, 2, 3, 4}) {
    (void)world;
    samplers.push_back(ElasticSampler::globalBatch(size, global, SamplerOptions{3}));
  }
  std::multiset<std::int64_t> epochZero;
  for (int step = 0; step < 30; ++step) {
    std::multiset<std::int64_t> first;
    for (int world = 1; world <= 4; ++world) {
      auto& s = samplers[static_cast<std::size_t>(world - 1)];
      EXPECT_EQ(s.stepBatch(world), global);
      std::multiset<std::int64_t> all;
      std::int64_t smallest = global, largest = 0;
      for (int r = 0; r < world; ++r) {
        const auto b = s.batch(r, world);
        EXPECT_EQ(static_cast<std::int64_t>(b.size()), s.share(r, world));
        smallest = std::min<std::int64_t>(smallest, b.size());
        largest = std::max<std::int64_t>(largest, b.size());
        all.insert(b.begin(), b.end());
      }
      EXPECT_EQ(static_cast<std::int64_t>(all.size()), global);
      EXPECT_LE(largest - smallest, 1);
      if (world == 1) {
        first = all;
        if (s.epoch() == 0 && s.cursor() + global <= size) epochZero.insert(all.begin(), all.end());
      }
      EXPECT_EQ(all, first) << "step " << step << " on " << world << " ranks";
      s.advance(world);
    }
  }
  for (auto i : epochZero) EXPECT_EQ(epochZero.count(i), 1u) << i;
}

TEST(ElasticSamplerTest, PositionRestoresTheSameBatches) {
  ElasticSampler a(50, 3, SamplerOptions{9}), b(50, 3, SamplerOptions{9});
  for (int k = 0; k < 20; ++k) a.advance(2);
  b.setPosition(a.epoch(), a.cursor());
  EXPECT_EQ(a.batch(1, 3), b.batch(1, 3));
  EXPECT_THROW(b.setPosition(0, 50), hemingway::ConfigError);
  EXPECT_THROW(ElasticSampler(0, 3), hemingway::ConfigError);
  EXPECT_THROW(a.batch(3, 3), hemingway::ConfigError);
}

}  // namespace
