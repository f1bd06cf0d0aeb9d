#include "hemingway/plugin/data/sampler.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "hemingway/hooks/error.h"

namespace {

using hemingway::data::DistributedSampler;
using hemingway::data::SamplerOptions;

TEST(DistributedSamplerTest, RanksTogetherSeeEveryExampleOncePerEpoch) {
  for (int world : {1, 2, 3, 4}) {
    for (std::int64_t size : {1, 7, 12, 100}) {
      if (size < world) continue;
      std::multiset<std::int64_t> seen;
      std::size_t perRank = 0;
      for (int r = 0; r < world; ++r) {
        DistributedSampler s(size, r, world, SamplerOptions{3});
        if (r == 0) perRank = s.indices().size();
        EXPECT_EQ(s.indices().size(), perRank) << "every rank takes as many steps";
        seen.insert(s.indices().begin(), s.indices().end());
      }
      EXPECT_EQ(perRank, static_cast<std::size_t>((size + world - 1) / world));
      for (std::int64_t i = 0; i < size; ++i) EXPECT_GE(seen.count(i), 1u) << i;
      // Padding repeats at most world - 1 examples, as DistributedSampler does.
      EXPECT_EQ(seen.size(), perRank * world);
      EXPECT_LT(seen.size() - static_cast<std::size_t>(size), static_cast<std::size_t>(world));
    }
  }
}

TEST(DistributedSamplerTest, DropLastGivesDisjointEqualShards) {
  std::set<std::int64_t> seen;
  for (int r = 0; r < 3; ++r) {
    DistributedSampler s(10, r, 3, SamplerOptions{1, true, true});
    EXPECT_EQ(s.indices().size(), 3u);
    for (auto i : s.indices()) EXPECT_TRUE(seen.insert(i).second) << "index " << i << " twice";
  }
}

TEST(DistributedSamplerTest, EpochsReshuffleTheSameWayOnEveryRank) {
  DistributedSampler a(1000, 0, 2, SamplerOptions{5}), b(1000, 0, 2, SamplerOptions{5});
  const auto first = a.indices();
  a.setEpoch(1);
  b.setEpoch(1);
  EXPECT_NE(a.indices(), first) << "a new epoch is a new permutation";
  EXPECT_EQ(a.indices(), b.indices()) << "the permutation depends only on (seed, epoch)";
  DistributedSampler other(1000, 0, 2, SamplerOptions{6});
  EXPECT_NE(other.indices(), first) << "the seed changes the permutation";
  DistributedSampler plain(6, 1, 2, SamplerOptions{0, false});
  EXPECT_EQ(plain.indices(), (std::vector<std::int64_t>{1, 3, 5}));
}

TEST(DistributedSamplerTest, BatchesRunOnIntoTheNextEpoch) {
  DistributedSampler s(10, 1, 2);  // 5 indices per epoch
  const auto epoch0 = s.indices();
  auto b1 = s.nextBatch(3);
  EXPECT_EQ(b1, std::vector<std::int64_t>(epoch0.begin(), epoch0.begin() + 3));
  auto b2 = s.nextBatch(3);
  EXPECT_EQ(s.epoch(), 1);
  EXPECT_EQ(b2[0], epoch0[3]);
  EXPECT_EQ(b2[1], epoch0[4]);
  EXPECT_EQ(b2[2], s.indices()[0]);
}

TEST(DistributedSamplerTest, BadArgumentsAreConfigErrors) {
  EXPECT_THROW(DistributedSampler(0, 0, 1), hemingway::ConfigError);
  EXPECT_THROW(DistributedSampler(10, 2, 2), hemingway::ConfigError);
  EXPECT_THROW(DistributedSampler(2, 0, 3, SamplerOptions{0, true, true}), hemingway::ConfigError);
  DistributedSampler s(10, 0, 1);
  EXPECT_THROW(s.nextBatch(0), hemingway::ConfigError);
  EXPECT_THROW(s.setPosition(11), hemingway::ConfigError);
}

TEST(ElasticSamplerTest, EveryExampleOncePerEpochWhileTheWorldSizeChanges) {
  using hemingway::data::ElasticSampler;
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
  using hemingway::data::ElasticSampler;
  ElasticSampler a(50, 3, SamplerOptions{9}), b(50, 3, SamplerOptions{9});
  for (int k = 0; k < 20; ++k) a.advance(2);
  b.setPosition(a.epoch(), a.cursor());
  EXPECT_EQ(a.batch(1, 3), b.batch(1, 3));
  EXPECT_THROW(b.setPosition(0, 50), hemingway::ConfigError);
  EXPECT_THROW(ElasticSampler(0, 3), hemingway::ConfigError);
  EXPECT_THROW(a.batch(3, 3), hemingway::ConfigError);
}

}  // namespace
