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

}  // namespace
