// hemingway-run's membership state machine, driven over an in-memory store
// with the workers' side of the run channel.
#include "hemingway/plugin/elastic/coordinator.h"

#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include "hemingway/plugin/elastic/detail/board.h"

namespace hemingway::elastic {
namespace {

struct ElasticRun {
  c10::intrusive_ptr<c10d::HashStore> store = c10::make_intrusive<c10d::HashStore>();
  RunChannel workers{store};  // what the workers and hemingway-ctl see
  detail::Board board = detail::Board::create();
  std::vector<std::string> notes;
  std::unique_ptr<Coordinator> coordinator;

  explicit ElasticRun(int initial, int max, int min = 1,
                      FailurePolicy policy = FailurePolicy::kUnset) {
    CoordinatorOptions o;
    o.initialWorkers = initial;
    o.maxWorkers = max;
    o.minWorkers = min;
    o.onFailure = policy;
    o.board = &board;
    coordinator = std::make_unique<Coordinator>(
        RunChannel(store), o, [this](const std::string& n) { notes.push_back(n); });
    coordinator->publishInitial();
  }
  // The newest generation's rank 0 says it trains.
  void formed() { workers.markFormed(workers.latest()); }
  std::vector<int> members() { return workers.members(workers.latest()); }
};

TEST(CoordinatorTest, GenerationZeroHoldsTheFirstWorkersAndParksTheRest) {
  ElasticRun run(2, 4);
  EXPECT_EQ(run.workers.latest(), 0);
  EXPECT_EQ(run.members(), (std::vector<int>{0, 1}));
  EXPECT_EQ(run.workers.cause(0), Cause::kStart);
  EXPECT_EQ(run.board.published(), 0);
  EXPECT_EQ(run.board.aborted(), -1);
  EXPECT_NE(run.workers.status()->find("\"parked\":[2,3]"), std::string::npos)
      << *run.workers.status();
}

TEST(CoordinatorTest, AScaleOutAdmitsParkedWorkersOnceTheNewestGenerationTrains) {
  ElasticRun run(1, 3);
  run.workers.requestScale({2, Cause::kRequest});
  run.coordinator->tick();
  EXPECT_EQ(run.workers.latest(), 1) << "generation 0 counts as training from the start";
  EXPECT_EQ(run.members(), (std::vector<int>{0, 1}));
  run.workers.requestScale({3, Cause::kRequest});
  run.coordinator->tick();
  EXPECT_EQ(run.workers.latest(), 1) << "generation 1 has not formed yet";
  run.formed();
  run.coordinator->tick();
  EXPECT_EQ(run.workers.latest(), 2);
  EXPECT_EQ(run.members(), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(run.workers.cause(2), Cause::kRequest);
  EXPECT_EQ(run.board.published(), 2);
}

TEST(CoordinatorTest, AScaleInKeepsTheLowestRanksAndParksTheOthers) {
  ElasticRun run(3, 3);
  run.formed();
  run.workers.requestScale({1, Cause::kController});
  run.coordinator->tick();
  EXPECT_EQ(run.members(), (std::vector<int>{0}));
  EXPECT_EQ(run.workers.cause(1), Cause::kController);
  EXPECT_NE(run.workers.status()->find("\"parked\":[1,2]"), std::string::npos);
}

TEST(CoordinatorTest, RequestsAreClampedToTheBoundsAndToTheParkedWorkers) {
  ElasticRun run(2, 3, /*min=*/2);
  run.formed();
  run.workers.requestScale({1, Cause::kRequest});
  run.coordinator->tick();
  EXPECT_EQ(run.workers.latest(), 0) << "1 is below --min-workers 2: no change";
  ASSERT_FALSE(run.notes.empty());
  EXPECT_NE(run.notes.back().find("using 2"), std::string::npos) << run.notes.back();
  run.workers.requestScale({9, Cause::kRequest});
  run.coordinator->tick();
  EXPECT_EQ(run.members(), (std::vector<int>{0, 1, 2}));
}

TEST(CoordinatorTest, RequestsWhileAChangeFormsMergeIntoTheNewest) {
  ElasticRun run(1, 4);
  run.formed();
  run.workers.requestScale({2, Cause::kRequest});
  run.coordinator->tick();
  EXPECT_EQ(run.workers.latest(), 1);
  run.workers.requestScale({4, Cause::kRequest});
  run.coordinator->tick();
  run.workers.requestScale({3, Cause::kRequest});
  run.coordinator->tick();
  EXPECT_EQ(run.workers.latest(), 1) << "one change at a time";
  run.formed();
  run.coordinator->tick();
  EXPECT_EQ(run.workers.latest(), 2);
  EXPECT_EQ(run.members().size(), 3u) << "the newest request wins";
}

TEST(CoordinatorTest, AMalformedRequestIsIgnoredWithANote) {
  ElasticRun run(1, 2);
  run.formed();
  const std::string junk = "two please";
  run.store->set("hemingway/elastic/request", std::vector<uint8_t>(junk.begin(), junk.end()));
  run.store->add("hemingway/elastic/request_seq", 1);
  run.coordinator->tick();
  EXPECT_EQ(run.workers.latest(), 0);
  ASSERT_FALSE(run.notes.empty());
  EXPECT_NE(run.notes.back().find("malformed"), std::string::npos);
}

TEST(CoordinatorTest, AMemberFailureAbortsTheGenerationAndShrinksForTheElasticApi) {
  ElasticRun run(3, 3);
  run.workers.announceElasticApi();
  run.formed();
  EXPECT_EQ(run.coordinator->policy(), FailurePolicy::kShrink);
  EXPECT_TRUE(run.coordinator->onExit(1, false).empty());
  EXPECT_TRUE(run.workers.aborted(0));
  EXPECT_EQ(run.board.aborted(), 0);
  EXPECT_EQ(run.members(), (std::vector<int>{0, 2}));
  EXPECT_EQ(run.workers.cause(1), Cause::kFailure);
  EXPECT_FALSE(run.coordinator->failed());
}

TEST(CoordinatorTest, WithoutTheElasticApiAFailureStopsTheRun) {
  ElasticRun run(2, 2);
  EXPECT_EQ(run.coordinator->policy(), FailurePolicy::kStop);
}

TEST(CoordinatorTest, ReplaceAdmitsAParkedWorkerAndStartsANewOne) {
  ElasticRun run(2, 3, 1, FailurePolicy::kReplace);
  run.formed();
  const auto spawn = run.coordinator->onExit(0, false);
  EXPECT_EQ(spawn, std::vector<int>{3}) << "a fresh worker id for the one that died";
  EXPECT_EQ(run.members(), (std::vector<int>{1, 2}));
  EXPECT_NE(run.workers.status()->find("\"parked\":[3]"), std::string::npos)
      << *run.workers.status();
}

TEST(CoordinatorTest, FewerSurvivorsThanTheMinimumFailTheRun) {
  ElasticRun run(2, 2, /*min=*/2, FailurePolicy::kShrink);
  run.formed();
  run.coordinator->onExit(1, false);
  ASSERT_TRUE(run.coordinator->failed());
  EXPECT_NE(run.coordinator->failure().find("--min-workers 2"), std::string::npos);
  EXPECT_EQ(run.workers.latest(), 0) << "no generation for a run that cannot go on";
}

TEST(CoordinatorTest, AParkedWorkerThatDiesChangesNoGeneration) {
  ElasticRun run(1, 3, 1, FailurePolicy::kShrink);
  run.formed();
  EXPECT_TRUE(run.coordinator->onExit(2, false).empty());
  EXPECT_EQ(run.workers.latest(), 0);
  EXPECT_FALSE(run.workers.aborted(0));
}

TEST(CoordinatorTest, AMemberThatExitsZeroFinishesTheRun) {
  ElasticRun run(2, 3);
  EXPECT_FALSE(run.coordinator->finished());
  run.coordinator->onExit(2, true);
  EXPECT_FALSE(run.coordinator->finished()) << "a parked worker leaving is not the end";
  run.coordinator->onExit(0, true);
  EXPECT_TRUE(run.coordinator->finished());
}

}  // namespace
}  // namespace hemingway::elastic
