// The elastic sampler: every example once per epoch whatever the world size.
#include "hemingway/plugin/elastic/sampler.h"

#include <gtest/gtest.h>

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
